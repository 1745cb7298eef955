"""`actionpose prepare`: turn a raw dataset into a prepared cache folder, and describe what it holds (L1).

A prepared folder is what `data.cache.save_motions` writes; training, evaluation and the app read
only such folders. `bundled_data_dir()` is the small Bandai-Namco subset shipped with the package.
"""
from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..skeleton import H36M17_NAMES, H36M17_PARENTS
from .bvh import resample_positions
from .cache import save_motions
from .motion import Motion

KINDS = ("bandai", "bvh", "h36m", "3dhp")


def bundled_data_dir() -> Path:
    """The prepared Bandai-Namco subset shipped in the package (CC BY-NC 4.0, see its LICENSE)."""
    return Path(__file__).resolve().parent.parent / "assets" / "bandai_subset"


# ------------------------------------------------------------------------------------ resampling

def resample_motion(m: Motion, fps: float) -> Motion:
    """A copy of `m` at `fps`: positions and 2D linearly interpolated, per-frame labels nearest-frame."""
    if float(fps) == float(m.fps):
        return m
    joints = resample_positions(m.joints3d_world_mm, m.fps, fps)
    kp2d = {cam: resample_positions(kp, m.fps, fps) for cam, kp in m.kp2d_px.items()}
    lpf = None
    if m.label_per_frame is not None:
        idx = np.minimum(np.round(np.arange(joints.shape[0]) * (m.fps / fps)).astype(np.int64), m.num_frames - 1)
        lpf = m.label_per_frame[idx]
    return replace(m, joints3d_world_mm=joints, fps=float(fps), kp2d_px=kp2d, label_per_frame=lpf,
                   meta={**m.meta, "source_fps": float(m.fps)})


# ------------------------------------------------------------------------------------ loading

def _load_bvh_folder(source: Path, fps: float | None, mapping="bandai", unit_to_mm: float = 10.0,
                     up_axis: str = "y", subject: str = "bvh", progress: bool = False) -> list[Motion]:
    """Every `*.bvh` under `source` (or the one file) -> Motions without labels."""
    from .bvh import bvh_to_h36m17, read_bvh
    files = [source] if source.is_file() else sorted(source.rglob("*.bvh"))
    if not files:
        raise ValueError(f"{source}: no .bvh files found")
    if progress:
        from tqdm.auto import tqdm
        files = tqdm(files, desc="bvh", unit="clip")
    out = []
    for f in files:
        joints, valid, clip_fps = bvh_to_h36m17(read_bvh(f), mapping=mapping, unit_to_mm=unit_to_mm,
                                                up_axis=up_axis, fps=fps)
        rel = f.name if source.is_file() else f.relative_to(source).as_posix()
        out.append(Motion(joints3d_world_mm=joints, fps=clip_fps, subject=subject, name=rel[:-4], source="bvh",
                          joint_valid=valid, meta={"file": rel, "split": "train"}).validate(str(f)))
    return out


def load_source(kind: str, source: str | Path, fps: float | None = None, progress: bool = True,
                issues: list[str] | None = None, **kw) -> list[Motion]:
    """Load a raw dataset of `kind` (see KINDS) as Motions, resampled to `fps` when given."""
    source = Path(source)
    if kind == "bandai":
        from .bandai import load_bandai
        return load_bandai(source, fps=fps, progress=progress, issues=issues, **kw)
    if kind == "bvh":
        return _load_bvh_folder(source, fps, progress=progress, **kw)
    if kind == "h36m":
        from .h36m import load_h36m  # written separately; imported only when asked for
        motions = load_h36m(source, **kw)
    elif kind == "3dhp":
        from .mpi_inf_3dhp import load_3dhp
        motions = load_3dhp(source, **kw)
    else:
        raise ValueError(f"prepare: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return [resample_motion(m, fps) for m in motions] if fps is not None else list(motions)


def prepare(kind: str, source: str | Path, out: str | Path, fps: float | None = None, progress: bool = True,
            **kw) -> dict:
    """Load `source` as `kind`, write the prepared cache to `out`, return its summary (`summarize`).

    Extra keyword arguments go to the loader (Bandai: datasets, val_fraction, workers, mapping).
    """
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"prepare: fps = {fps!r}, expected a positive number or None")
    t0 = time.perf_counter()
    issues: list[str] = []
    motions = load_source(kind, source, fps=fps, progress=progress, issues=issues, **kw)
    if not motions:
        raise ValueError(f"{source}: no motions loaded for kind {kind!r}")
    t_load = time.perf_counter() - t0
    loader_args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()
                   if isinstance(v, (str, int, float, bool, tuple, list)) or v is None}
    info = save_motions(motions, out, {"source": kind, "source_path": str(source), "requested_fps": fps,
                                       "loader_args": loader_args, "issues": issues})
    summary = summarize(motions)
    summary.update(kind=kind, source=str(source), out=str(out), issues=issues, data_hash=info["data_hash"],
                   seconds_load=round(t_load, 2), seconds_total=round(time.perf_counter() - t0, 2))
    return summary


# ------------------------------------------------------------------------------------ describing

def summarize(motions: list[Motion]) -> dict:
    """Counts a user checks after preparing: clips, frames, splits, labels, missing joints."""
    fps = sorted({float(m.fps) for m in motions})
    splits: dict[str, dict[str, int]] = {}
    for m in motions:
        s = splits.setdefault(str(m.meta.get("split", "")) or "(none)", {"clips": 0, "frames": 0})
        s["clips"] += 1
        s["frames"] += m.num_frames
    missing = Counter(H36M17_NAMES[j] for m in motions for j in np.flatnonzero(~m.joint_valid))
    estimated = Counter(j for m in motions for j in m.meta.get("estimated_joints", ()))
    frames = sum(m.num_frames for m in motions)
    seconds = sum(m.num_frames / m.fps for m in motions)
    return {
        "clips": len(motions),
        "frames": frames,
        "hours": round(seconds / 3600, 3),
        "fps": fps,
        "subjects": len({m.subject for m in motions}),
        "splits": dict(sorted(splits.items())),
        "labels": len({lab for m in motions for lab in m.labels}),
        "unlabelled_clips": sum(1 for m in motions if not m.labels),
        "joints_missing": dict(missing),
        "joints_estimated": dict(estimated),
        "with_cameras": sum(1 for m in motions if m.cameras),
        "with_kp2d": sum(1 for m in motions if m.kp2d_px),
    }


def format_summary(summary: dict) -> str:
    """One screen of plain text for the CLI."""
    lines = []
    if "kind" in summary:
        lines.append(f"prepared {summary['kind']} from {summary['source']}")
        lines.append(f"  -> {summary['out']}  ({summary.get('seconds_total', '?')} s)")
    fps = ", ".join(f"{f:g}" for f in summary["fps"]) or "-"
    lines.append(f"clips {summary['clips']}   frames {summary['frames']}   hours {summary['hours']:.2f}   "
                 f"fps {fps}   subjects {summary['subjects']}")
    for name, s in summary["splits"].items():
        lines.append(f"  split {name:<6} clips {s['clips']:>6}   frames {s['frames']:>8}")
    lines.append(f"labels {summary['labels']} distinct   unlabelled clips {summary['unlabelled_clips']}")
    miss = ", ".join(f"{k} ({v} clips)" for k, v in summary["joints_missing"].items()) or "none"
    est = ", ".join(f"{k} ({v} clips)" for k, v in summary["joints_estimated"].items()) or "none"
    lines.append(f"joints missing: {miss}")
    lines.append(f"joints estimated: {est}")
    if summary.get("with_cameras") or summary.get("with_kp2d"):
        lines.append(f"clips with cameras {summary['with_cameras']}   with 2D keypoints {summary['with_kp2d']}")
    for issue in summary.get("issues", []):
        lines.append(f"note: {issue}")
    if "data_hash" in summary:
        lines.append(f"data hash {summary['data_hash'][:16]}")
    return "\n".join(lines)


def bone_length_stats(motions: list[Motion]) -> dict[str, dict[str, float]]:
    """Per H36M-17 bone (`parent-child`): mean, std, min, max length in mm over all frames."""
    sums: dict[str, list[np.ndarray]] = defaultdict(list)
    for m in motions:
        j = m.joints3d_world_mm.astype(np.float64)
        for c, p in enumerate(H36M17_PARENTS):
            if p >= 0 and m.joint_valid[c] and m.joint_valid[p]:
                sums[f"{H36M17_NAMES[p]}-{H36M17_NAMES[c]}"].append(np.linalg.norm(j[:, c] - j[:, p], axis=-1))
    out = {}
    for bone, parts in sums.items():
        x = np.concatenate(parts)
        out[bone] = {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}
    return out


def card_statistics(motions: list[Motion], group_keys: tuple[str, ...] = ("dataset", "content", "style")) -> dict:
    """Statistics for a data card, computed from the motions (counts per meta key, lengths, bones)."""
    lengths = np.array([m.num_frames for m in motions])
    per_key: dict[str, dict[str, dict]] = {}
    for key in group_keys:
        table: dict[str, dict] = {}
        for m in motions:
            if key not in m.meta:
                continue
            name = f"{m.meta['dataset']}:{m.meta[key]}" if key != "dataset" and "dataset" in m.meta else str(m.meta[key])
            row = table.setdefault(name, {"clips": 0, "frames": 0, "train": 0, "val": 0})
            row["clips"] += 1
            row["frames"] += m.num_frames
            split = m.meta.get("split")
            if split in ("train", "val"):
                row[split] += 1
        per_key[key] = dict(sorted(table.items(), key=lambda kv: (kv[0].split(":")[0], kv[0])))
    root_z = np.concatenate([m.joints3d_world_mm[:, 0, 2] for m in motions]) if motions else np.zeros(1)
    foot_z = (np.concatenate([m.joints3d_world_mm[:, [3, 6], 2].min(axis=1) for m in motions])
              if motions else np.zeros(1))
    return {
        "summary": summarize(motions),
        "clip_frames": {"min": int(lengths.min()), "median": float(np.median(lengths)), "max": int(lengths.max()),
                        "mean": float(lengths.mean())} if motions else {},
        "per_key": per_key,
        "pairs": len({(m.meta.get("dataset"), m.meta.get("content"), m.meta.get("style")) for m in motions}),
        "bones_mm": bone_length_stats(motions),
        "pelvis_height_mm": {"median": float(np.median(root_z)), "p5": float(np.percentile(root_z, 5)),
                             "p95": float(np.percentile(root_z, 95))},
        "lowest_ankle_height_mm": {"median": float(np.median(foot_z)), "p1": float(np.percentile(foot_z, 1))},
    }


def format_card_statistics(stats: dict) -> str:
    """Markdown tables of `card_statistics` output, to paste into a data card."""
    s = stats["summary"]
    fps = ", ".join(f"{f:g}" for f in s["fps"])
    out = [f"- clips: {s['clips']}, frames: {s['frames']} ({s['hours']:.2f} h at {fps} fps), "
           + f"distinct labels: {s['labels']}, dataset x content x style groups: {stats['pairs']}"]
    for name, sp in s["splits"].items():
        out.append(f"- split {name}: {sp['clips']} clips, {sp['frames']} frames")
    cf = stats["clip_frames"]
    out.append(f"- clip length (frames): min {cf['min']}, median {cf['median']:g}, mean {cf['mean']:.1f}, max {cf['max']}")
    ph, fz = stats["pelvis_height_mm"], stats["lowest_ankle_height_mm"]
    out.append(f"- pelvis height (mm): median {ph['median']:.0f} (5-95 %: {ph['p5']:.0f}-{ph['p95']:.0f}); "
               f"lower ankle height: median {fz['median']:.0f}, 1st percentile {fz['p1']:.0f}")
    for key, table in stats["per_key"].items():
        out += ["", f"| {key} | clips | frames | train | val |", "|---|---:|---:|---:|---:|"]
        out += [f"| {name} | {r['clips']} | {r['frames']} | {r['train']} | {r['val']} |" for name, r in table.items()]
    out += ["", "| bone | mean mm | std mm | min mm | max mm |", "|---|---:|---:|---:|---:|"]
    out += [f"| {b} | {v['mean']:.1f} | {v['std']:.2f} | {v['min']:.1f} | {v['max']:.1f} |"
            for b, v in stats["bones_mm"].items()]
    return "\n".join(out)
