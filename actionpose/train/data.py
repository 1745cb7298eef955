"""Where training data comes from: a prepared cache folder, or the bundled Bandai-Namco subset."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..data.motion import Motion


def load_data(path: str | Path | None) -> tuple[list[Motion], dict]:
    """Load a prepared data dir (`actionpose prepare ...`); empty/None = the bundled subset."""
    from ..data.cache import load_motions
    from ..data.prepare import bundled_data_dir
    src = Path(path) if path else bundled_data_dir()
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such prepared data dir (create one with `actionpose prepare`)")
    if src.is_dir() and not (src / "meta.json").exists():
        if any(p.suffix in (".json", ".npz") for p in src.iterdir()):
            raise ValueError(f"{src}: holds 2D keypoint files but no prepared 3D ground truth (meta.json); "
                             "only inference is possible here (`actionpose infer --input FILE`)")
        raise ValueError(f"{src}: not a prepared data dir (no meta.json; create one with `actionpose prepare`)")
    motions, info = load_motions(src)
    info = dict(info)
    info.setdefault("path", str(src))
    return motions, info


def data_fingerprint(motions: list[Motion]) -> str:
    """A cheap content hash: names, frame counts, splits and a strided sample of coordinates."""
    h = hashlib.sha256()
    for m in motions:
        h.update(f"{m.name}|{m.num_frames}|{m.meta.get('split')}|{m.fps}|{','.join(m.labels)}".encode())
        h.update(np.ascontiguousarray(m.joints3d_world_mm[:: max(1, m.num_frames // 8)]).tobytes())
    return h.hexdigest()[:16]
