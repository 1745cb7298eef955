"""actionpose: action-aware 2D-to-3D human pose lifting (ActionPose / LangPose method)."""
__version__ = "0.1.0"
