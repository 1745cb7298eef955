"""In-the-wild inference (L4): 2D keypoints of any length -> 3D per frame + action text per window.

`Predictor.from_run(run)` wraps a trained run. Input keypoints are converted to H36M-17, masked
where a detection is missing (score 0 or all-zero frames stay in the sequence as masked input, so
the output has exactly one pose per input frame), screen-normalised by the image size, resampled
to the model's frame rate, lifted with overlapping blended windows (memory bounded by the output),
and resampled back to the input frame times.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import config_hash
from .data.keypoints import check_plausible, interpolate_keypoints, to_h36m17
from .geometry import normalize_screen
from .keypoint_checks import check_body_size, fill_short_gaps, read_checked_keypoints
from .model.sequence import predict_sequence
from .train.checkpoint import atomic_savez, atomic_write_text
from .train.model_io import ModelBundle, load_bundle
from .train.runs import resolve_run


PIXEL_THRESHOLD = 20.0  # |coordinate| above this without an image size = pixels (an error)


@dataclass
class InferenceResult:
    """y3d: `[N, 17, 3]` root-relative, the model's normalised units (one row per input frame).
    y3d_mm: the same in millimetres when a scale was given (`scale_mm_per_unit`), else None.
    windows: `[W, 2]` (start, end) in input frames; actions: per window a list of (text, score)."""

    y3d: np.ndarray
    y3d_mm: np.ndarray | None
    x2d: np.ndarray
    windows: np.ndarray
    actions: list[list[tuple[str, float]]]
    motion_emb: np.ndarray | None
    config_hash: str
    run: str
    masked_frames: int = 0
    info: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """`.npz` (arrays + JSON of actions) or `.json` (lists)."""
        path = Path(path)
        if path.suffix == ".npz":
            arrays = {"y3d": self.y3d, "x2d": self.x2d, "windows": self.windows,
                      "actions_json": np.array(json.dumps(self.actions)),
                      "config_hash": np.array(self.config_hash), "run": np.array(self.run)}
            if self.y3d_mm is not None:
                arrays["y3d_mm"] = self.y3d_mm
            if self.motion_emb is not None:
                arrays["motion_emb"] = self.motion_emb
            atomic_savez(path, **arrays)
        elif path.suffix == ".json":
            obj = {"run": self.run, "config_hash": self.config_hash, "frames": int(len(self.y3d)),
                   "units": "normalised (root-relative; multiply by mm_per_unit for mm)",
                   "y3d": np.round(self.y3d, 5).tolist(), "windows": self.windows.tolist(),
                   "actions": [[{"text": t, "score": round(s, 4)} for t, s in w] for w in self.actions],
                   "masked_frames": self.masked_frames, "info": self.info}
            if self.y3d_mm is not None:
                obj["y3d_mm"] = np.round(self.y3d_mm, 2).tolist()
            atomic_write_text(path, json.dumps(obj))
        else:
            raise ValueError(f"{path}: output must end in .npz or .json")
        return path


def resample_time(x: np.ndarray, n_out: int) -> np.ndarray:
    """Linear resampling of `[N, ...]` to `n_out` frames spanning the same duration."""
    n = x.shape[0]
    if n == n_out:
        return x
    pos = np.linspace(0, n - 1, n_out)
    lo = np.floor(pos).astype(int).clip(0, max(n - 2, 0))
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo).reshape(-1, *([1] * (x.ndim - 1)))
    return (x[lo] * (1 - frac) + x[hi] * frac).astype(x.dtype)


class Predictor:
    """A trained run ready for inference: `Predictor.from_run("demo").predict(kp_px, image_size=(W, H))`."""

    def __init__(self, bundle: ModelBundle, cfg, meta: dict, run: str, device: str = "cpu", batch_size: int = 8):
        self.bundle = bundle
        self.cfg = cfg
        self.meta = meta
        self.run = run
        self.device = device
        self.batch_size = int(batch_size)  # windows per forward pass
        self.fps = float((meta.get("data") or {}).get("fps") or 30.0)
        self.config_hash = meta.get("config_hash") or config_hash(cfg)

    @classmethod
    def from_run(cls, run: str | Path, device: str = "cpu", batch_size: int = 8) -> "Predictor":
        """`device`: "cpu", "cuda", "cuda:1", "mps"; `batch_size`: windows per forward pass."""
        run_dir = resolve_run(run)
        bundle, cfg, meta = load_bundle(run_dir, torch.device(device))
        return cls(bundle, cfg, meta, str(run_dir), device, batch_size)

    @property
    def labels(self) -> list[str]:
        return list(self.bundle.sentences)

    def prepare_input(self, kp: np.ndarray, layout: str = "h36m17", image_size: tuple[int, int] | None = None,
                      where: str = "keypoints") -> tuple[np.ndarray, int]:
        """`[N, J, 3]` px (or already normalised) -> screen-normalised H36M-17 `[N, 17, 3]`, masked count.

        With an image size, keypoints far outside the image are masked (a few, warned) or refused
        (`data.keypoints.check_plausible`)."""
        kp = np.asarray(kp, dtype=np.float32)
        if image_size is not None:
            kp = check_plausible(kp, image_size, where)
            check_body_size(kp, image_size, where)  # 0-1 or metric coordinates given with an image size
        kp = to_h36m17(kp, layout)
        missing = kp[..., 2] <= 0
        coords = kp[..., :2][~missing]
        if image_size is None:
            # Normalised coordinates stay within a few units even for joints off screen; pixel
            # coordinates of any real image exceed this by far.
            if coords.size and np.abs(coords).max() > PIXEL_THRESHOLD:
                raise ValueError(f"{where}: coordinates look like pixels (max |x| = {np.abs(coords).max():.0f}) "
                                 "but no image size was given; pass --image-size W H")
            x = kp.copy()
        else:
            w, h = image_size
            if not (w > 0 and h > 0):
                raise ValueError(f"{where}: image size must be positive, got {image_size}")
            x = kp.copy()
            x[..., :2] = normalize_screen(kp[..., :2], w, h)
        x[missing] = 0.0  # the masked-joint encoding the lifter was trained with
        masked_frames = int(missing.all(axis=1).sum())
        return x.astype(np.float32), masked_frames

    @torch.no_grad()
    def predict(self, kp: np.ndarray, *, layout: str = "h36m17", image_size: tuple[int, int] | None = None,
                fps: float | None = None, scale_mm_per_unit: float | None = None, top_k: int = 5,
                flip: bool = False, where: str = "keypoints", fill_gaps: int = 0) -> InferenceResult:
        """Keypoints `[N, J, 3]` (x, y, score) -> `InferenceResult` with one 3D pose per input frame.
        `fill_gaps`: interpolate joints missing for at most this many frames (`keypoint_checks.fill_short_gaps`)."""
        kp, filled = fill_short_gaps(np.asarray(kp, dtype=np.float32), int(fill_gaps))
        x2d, masked = self.prepare_input(kp, layout, image_size, where)
        n_in = x2d.shape[0]
        if n_in == 0:
            raise ValueError(f"{where}: no frames")
        fps_in = float(fps) if fps else self.fps
        n_model = max(1, int(round(n_in * self.fps / fps_in))) if fps_in != self.fps else n_in
        # Only valid samples are interpolated: a masked joint (0, 0, conf 0) never blends into a
        # neighbour; an output joint between a valid and a masked sample is masked.
        x_model = interpolate_keypoints(x2d, np.linspace(0, n_in - 1, n_model)) if n_model != n_in else x2d
        pred = predict_sequence(self.bundle.net, x_model, self.cfg.model.maxlen, flip=flip, device=self.device,
                                windows_per_batch=self.batch_size)
        y3d = resample_time(pred.y3d, n_in) if n_model != n_in else pred.y3d
        windows = pred.windows
        if n_model != n_in:
            windows = np.round(windows * (n_in / n_model)).astype(np.int64)
        actions = self._topk(pred, top_k)
        y_mm = y3d * float(scale_mm_per_unit) if scale_mm_per_unit else None
        info = {"fps_in": fps_in, "fps_model": self.fps, "frames_model": n_model, "layout": layout,
                "image_size": list(image_size) if image_size else None, "flip_tta": flip,
                "fill_gaps": int(fill_gaps), "filled_keypoints": filled}
        return InferenceResult(y3d.astype(np.float32), None if y_mm is None else y_mm.astype(np.float32), x2d,
                               windows, actions, pred.motion_emb, self.config_hash, self.run, masked, info)

    def _topk(self, pred, k: int) -> list[list[tuple[str, float]]]:
        aligner = self.bundle.aligner
        if aligner is None or pred.motion_emb is None:
            return [[] for _ in range(len(pred.windows))]
        idx, scores = aligner.recognize(torch.as_tensor(pred.motion_emb), k=k, as_prob=True)
        names = self.labels
        return [[(names[i], float(s)) for i, s in zip(ii.tolist(), ss.tolist())] for ii, ss in zip(idx, scores)]

    @torch.no_grad()
    def score_texts(self, motion_emb: np.ndarray, texts: list[str]) -> np.ndarray:
        """Zero-shot: cosine similarity `[W, N]` of window embeddings to any action texts."""
        if self.bundle.aligner is None:
            raise ValueError(f"{self.run}: this run has no motion-text embedding (trained without alignment)")
        from .text.cache import embed_texts
        emb = embed_texts(list(texts), self.cfg.text)
        return self.bundle.aligner.score_texts(torch.as_tensor(motion_emb), torch.as_tensor(emb)).numpy()

    def predict_file(self, path: str | Path, layout: str = "auto", person: int | None = None, fill_gaps: int = 0,
                     **kw) -> InferenceResult:
        """A keypoint file (`data.keypoints` formats) -> `InferenceResult`, after the upload checks of
        `keypoint_checks` (several people: pick `person`; missing frames: allowed and interpolated up to
        `fill_gaps` frames; 3D given as 2D; 0-1 coordinates with an image size)."""
        kp, found = read_checked_keypoints(path, layout, person=person, fill_gaps=fill_gaps)
        res = self.predict(kp, layout=found, where=str(path), fill_gaps=fill_gaps, **kw)
        if person is not None:
            res.info["person"] = int(person)
        return res


# H36M-17 bone path from the head to each ankle (head, neck/nose, thorax, spine, pelvis, hip, knee, ankle).
_HEAD_TO_ANKLE = ((10, 9, 8, 7, 0, 1, 2, 3), (10, 9, 8, 7, 0, 4, 5, 6))


def skeleton_height_units(y3d: np.ndarray) -> float:
    """The length of the head-to-ankle bone path of `y3d [N, 17, 3]` (mean of the two legs, median
    over frames): a posture-independent body size, in the units of `y3d`."""
    y = np.asarray(y3d, dtype=np.float64)
    legs = [np.linalg.norm(np.diff(y[:, list(path)], axis=1), axis=-1).sum(axis=1) for path in _HEAD_TO_ANKLE]
    return float(np.median((legs[0] + legs[1]) / 2))


def mm_per_unit_from_height(y3d: np.ndarray, height_mm: float) -> float:
    """The scale that gives the lifted skeleton `y3d [N, 17, 3]` (normalised units) a head-to-ankle
    bone path of `height_mm` (`skeleton_height_units`): the model's output has no metric scale of its own."""
    if not height_mm > 0:
        raise ValueError(f"height_mm = {height_mm}: expected a positive length in millimetres")
    units = skeleton_height_units(y3d)
    if not units > 0:
        raise ValueError("mm_per_unit_from_height: the skeleton has zero size (every joint masked?)")
    return float(height_mm) / units


def run_infer_cli(args) -> int:
    """`actionpose infer`: file in, file out (+ optional HTML animation)."""
    pred = Predictor.from_run(args.run, device=getattr(args, "device", "cpu"), batch_size=getattr(args, "batch_size", 8))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        res = pred.predict_file(args.input, layout=args.format, image_size=tuple(args.image_size) if args.image_size else None,
                                fps=args.fps, scale_mm_per_unit=args.scale_mm, top_k=args.top_k,
                                flip=getattr(args, "flip", False), person=getattr(args, "person", None),
                                fill_gaps=getattr(args, "fill_gaps", 0) or 0)
    out = res.save(args.output)
    print(f"{args.input}: {len(res.y3d)} frames -> {out} ({len(res.windows)} windows, "
          f"{res.masked_frames} fully masked frames, run config {res.config_hash})")
    for (s, e), acts in list(zip(res.windows.tolist(), res.actions))[:10]:
        if acts:
            print(f"  frames {s:>6}-{e:<6} {acts[0][0]!r} ({acts[0][1]:.2f})")
    if len(res.windows) > 10:
        print(f"  ... {len(res.windows) - 10} more windows in {out}")
    if args.html:
        from .viz import animation_figure
        fig = animation_figure(res.x2d, res.y3d, title=f"{Path(args.input).name} — {Path(res.run).name}")
        fig.write_html(args.html, include_plotlyjs=True, full_html=True)
        print(f"  animation -> {args.html}")
    return 0
