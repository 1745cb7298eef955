"""actionpose: action-aware 2D-to-3D human pose lifting (ActionPose / LangPose method).

The public API (what notebooks and the app use) is importable from the package root; names are
resolved lazily so `import actionpose` stays fast and does not import torch until needed.
"""
from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

_EXPORTS = {
    # configuration
    "make_config": "actionpose.config", "RunConfig": "actionpose.config", "load_yaml": "actionpose.config",
    "VARIANTS": "actionpose.config", "MODEL_PRESETS": "actionpose.config",
    # data
    "Motion": "actionpose.data.motion", "load_data": "actionpose.train.data",
    "prepare": "actionpose.data.prepare", "bundled_data_dir": "actionpose.data.prepare",
    "load_keypoints": "actionpose.data.keypoints", "LiftingWindows": "actionpose.data.dataset",
    "split_motions": "actionpose.data.dataset", "make_sample": "actionpose.data.dataset",
    "sequence_views": "actionpose.data.dataset", "mask_batch": "actionpose.masking", "describe_mask": "actionpose.masking",
    # training
    "pretrain": "actionpose.api", "finetune": "actionpose.api", "pretrain_config": "actionpose.api",
    "finetune_config": "actionpose.api", "import_motionbert": "actionpose.api",
    "read_metrics": "actionpose.train.runs", "resolve_run": "actionpose.train.runs",
    "load_run_config": "actionpose.train.runs", "demo_run_dir": "actionpose.train.runs",
    "FINETUNE_LOG": "actionpose.train.runs",
    "load_bundle": "actionpose.train.model_io",
    # the ablation (actionpose ablate): running it, and reading its committed summary
    "AblationSpec": "actionpose.ablation", "run_ablation": "actionpose.ablation",
    "load_ablation_summary": "actionpose.ablation", "ablation_figure": "actionpose.ablation",
    "pretraining_curve": "actionpose.ablation",
    # the powered ablation (issue 23): its declared design and, once run, its summary and verdicts
    "load_design": "actionpose.ablation.design", "load_powered_summary": "actionpose.ablation.powered_report",
    "powered_verdicts": "actionpose.ablation.powered_report", "verdict_prose_problems": "actionpose.ablation.powered_report",
    # evaluation / inference / embeddings
    "evaluate": "actionpose.evaluate", "format_report": "actionpose.evaluate",
    # the floors every 3D table shows beside a model (`ap.baselines`: flat lift, flat + mean depth, MLP floor)
    "evaluate_floors": "actionpose.evaluate", "train_mlp_floor": "actionpose.baselines",
    "load_mlp_floor": "actionpose.baselines", "flat_lift": "actionpose.baselines",
    "eval_is_stale": "actionpose.evaluate", "eval_path": "actionpose.evaluate", "load_eval": "actionpose.evaluate",
    "Predictor": "actionpose.inference", "InferenceResult": "actionpose.inference",
    "mm_per_unit_from_height": "actionpose.inference", "skeleton_height_units": "actionpose.inference",
    # upload checks (several people, missing frames, 3D given as 2D, 0-1 coordinates with an image size)
    "scan_keypoint_file": "actionpose.keypoint_checks", "read_checked_keypoints": "actionpose.keypoint_checks",
    "fill_short_gaps": "actionpose.keypoint_checks", "check_body_size": "actionpose.keypoint_checks",
    "extract_embeddings": "actionpose.embeddings", "project_2d": "actionpose.embeddings",
    "EmbeddingSet": "actionpose.embeddings", "recognition_from_embeddings": "actionpose.embeddings",
    "embed_texts": "actionpose.text.cache",
    "project_embeddings": "actionpose.embeddings", "Projection": "actionpose.embeddings",
    "rank_windows": "actionpose.embeddings", "window_top1": "actionpose.embeddings",
    "confusion_from_embeddings": "actionpose.embeddings", "fill_window_frames": "actionpose.embeddings",
    "checkpoint_provenance": "actionpose.embeddings", "describe_provenance": "actionpose.embeddings",
    "place_near_motions": "actionpose.embeddings",
    # inspecting one clip (the explorer app)
    "lift_clip": "actionpose.clips", "ClipView": "actionpose.clips", "stratified_subset": "actionpose.clips",
    "view_offscreen_table": "actionpose.clips", "offscreen_mask": "actionpose.clips",
    "label_to_sentence": "actionpose.text.templates",
    # skeleton and geometry (used by the notebooks to explain the data)
    "H36M17_NAMES": "actionpose.skeleton", "BODY_PARTS": "actionpose.skeleton",
    "project_camera": "actionpose.geometry", "normalize_screen": "actionpose.geometry",
    "denormalize_screen": "actionpose.geometry",
    # metrics and teaching helpers (the notebooks compute each metric by hand and check it here)
    "mpjpe": "actionpose.metrics", "p_mpjpe": "actionpose.metrics", "n_mpjpe": "actionpose.metrics",
    "mpjve": "actionpose.metrics", "pck": "actionpose.metrics", "auc": "actionpose.metrics",
    "topk_accuracy": "actionpose.metrics", "procrustes_align": "actionpose.geometry",
    "skeleton_figure": "actionpose.teaching", "camera_table": "actionpose.teaching",
    "attention_maps": "actionpose.teaching", "fusion_weights": "actionpose.teaching",
    "new_bundle": "actionpose.teaching", "loss_terms": "actionpose.teaching",
    "coco17_from_h36m17": "actionpose.teaching", "interact": "actionpose.teaching",
    "record_facts": "actionpose.teaching", "joint_side": "actionpose.teaching", "paper_beside": "actionpose.teaching",
    "H36M17_PARENTS": "actionpose.skeleton", "COCO17_NAMES": "actionpose.skeleton", "random_view": "actionpose.teaching",
    "fixed_views": "actionpose.teaching", "synthesize": "actionpose.teaching",
    "add_noise": "actionpose.teaching", "flip_sample": "actionpose.teaching",
}
_ALIASES = {"describe_mask": "describe"}
# Submodules that are themselves public API (`ap.baselines.flat_lift`), imported on first use.
_SUBMODULES = ("baselines",)

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # the import binds it on the package
    if name in _EXPORTS:
        mod = importlib.import_module(_EXPORTS[name])
        value = getattr(mod, _ALIASES.get(name, name))
        globals()[name] = value  # resolved once
        return value
    raise AttributeError(f"module 'actionpose' has no attribute {name!r}")


class _Package(types.ModuleType):
    """Keeps public names that equal a submodule's name (`evaluate`) bound to the API object: the
    import system binds every submodule on its package when first imported, which would otherwise
    turn `actionpose.evaluate` into the module as soon as anything imports `actionpose.evaluate`
    (e.g. `actionpose.format_report`). The submodule stays importable (`from actionpose.evaluate
    import ...` reads sys.modules)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__():
    return __all__
