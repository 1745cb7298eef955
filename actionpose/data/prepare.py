"""`actionpose prepare`: turn a raw dataset into a prepared cache folder, and describe what it holds (L1).

A prepared folder is what `data.cache.save_motions` writes; training, evaluation and the app read
only such folders. `bundled_data_dir()` is the small Bandai-Namco subset shipped with the package.
"""
from __future__ import annotations

import math
import tarfile
import time
import warnings
import zipfile
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..skeleton import H36M17_NAMES, H36M17_PARENTS
from .bvh import resample_positions
from .cache import save_motions
from .keypoints import resample_keypoints
from .motion import Motion

KINDS = ("bandai", "bvh", "h36m", "3dhp", "amass")  # amass streams: data.amass.prepare_amass


def bundled_data_dir() -> Path:
    """The prepared Bandai-Namco subset shipped in the package (CC BY-NC 4.0, see its LICENSE)."""
    return Path(__file__).resolve().parent.parent / "assets" / "bandai_subset"


# ------------------------------------------------------------------------------------ resampling

def resample_motion(m: Motion, fps: float) -> Motion:
    """A copy of `m` at `fps`: positions linearly interpolated, 2D interpolated only between valid
    samples (a masked joint stays masked, never blended), per-frame labels nearest-frame."""
    if float(fps) == float(m.fps):
        return m
    joints = resample_positions(m.joints3d_world_mm, m.fps, fps)
    kp2d = {cam: resample_keypoints(kp, m.fps, fps) for cam, kp in m.kp2d_px.items()}
    lpf = None
    if m.label_per_frame is not None:
        idx = np.minimum(np.round(np.arange(joints.shape[0]) * (m.fps / fps)).astype(np.int64), m.num_frames - 1)
        lpf = m.label_per_frame[idx]
    meta = {**m.meta, "source_fps": float(m.fps)}
    meta.update(_kp2d_counts(kp2d, m.meta))
    if m.meta.get("valid_frames") is not None:  # per-frame flags (MPI-INF-3DHP test) follow the nearest frame
        idx = np.minimum(np.round(np.arange(joints.shape[0]) * (m.fps / fps)).astype(np.int64), m.num_frames - 1)
        flags = np.asarray(m.meta["valid_frames"], dtype=bool)[idx]
        meta.update(valid_frames=flags.tolist(), num_valid_frames=int(flags.sum()))
    return replace(m, joints3d_world_mm=joints, fps=float(fps), kp2d_px=kp2d, label_per_frame=lpf, meta=meta)


def _kp2d_counts(kp2d: dict[str, np.ndarray], meta: dict) -> dict:
    """The per-camera 2D counts of `meta` recomputed on resampled keypoints `kp2d`: missing joints
    (score 0) and, of those, the missed detections (every missing joint but the ones the 2D layout
    lacks, `meta["kp2d_absent_joints"]`). Counts absent from `meta` stay absent."""
    out: dict = {}
    absent = [H36M17_NAMES.index(n) for n in meta.get("kp2d_absent_joints", ()) if n in H36M17_NAMES]
    has = [j for j in range(len(H36M17_NAMES)) if j not in absent]
    if "kp2d_missing_joints" in meta:
        out["kp2d_missing_joints"] = {cam: int((kp[..., 2] <= 0).sum()) for cam, kp in kp2d.items()}
    if "kp2d_nan_joints" in meta:
        out["kp2d_nan_joints"] = {cam: n for cam, kp in kp2d.items() if (n := int((kp[:, has, 2] <= 0).sum()))}
    return out


# ------------------------------------------------------------------------------------ loading

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".zip")


def iter_bvh_files(source: Path):
    """Yield (path relative to `source`, bytes) of every `*.bvh` in a folder, one file, or an archive
    (.tar[.gz|.xz|.bz2], .tgz, .zip), sorted by path."""
    name = source.name.lower()
    if source.is_dir():
        for f in sorted(source.rglob("*.bvh")):
            yield f.relative_to(source).as_posix(), f.read_bytes()
    elif source.is_file() and name.endswith(".bvh"):
        yield source.name, source.read_bytes()
    elif source.is_file() and name.endswith(".zip"):
        try:
            with zipfile.ZipFile(source) as zf:
                for member in sorted(n for n in zf.namelist() if n.lower().endswith(".bvh")):
                    yield member.removeprefix("./"), zf.read(member)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ValueError(f"{source}: truncated or corrupt zip archive ({type(e).__name__}: {e})") from None
    elif source.is_file() and name.endswith(ARCHIVE_SUFFIXES):
        try:
            with tarfile.open(source, mode="r:*") as tar:
                members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.lower().endswith(".bvh")),
                                 key=lambda m: m.name)
                for m in members:
                    fh = tar.extractfile(m)
                    yield m.name.removeprefix("./"), fh.read() if fh is not None else b""
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ValueError(f"{source}: truncated or corrupt archive ({type(e).__name__}: {e})") from None
    elif not source.exists():
        raise ValueError(f"{source}: not found")
    else:
        raise ValueError(f"{source}: expected a folder, a .bvh file or an archive ({', '.join(ARCHIVE_SUFFIXES)})")


def _label_key(stem: str, table: dict) -> str | None:
    """The labels-CSV key of a file: its path relative to the source, else the longest key that ends
    its path at a folder boundary (an archive may add a top folder), else None."""
    if stem in table:
        return stem
    hits = [k for k in table if stem.endswith("/" + k)]
    return max(hits, key=len) if hits else None


def _load_bvh_folder(source: Path, fps: float | None, mapping="bandai", unit_to_mm: float | None = None,
                     up_axis: str | None = None, subject: str = "bvh", progress: bool = False,
                     joint_map: str | Path | None = None, labels: str | Path | None = None,
                     issues: list[str] | None = None) -> list[Motion]:
    """Every `*.bvh` in `source` (folder, one file or archive) -> Motions mapped to H36M-17.

    joint_map: a joint-map file (`bvh.load_joint_map`: BVH joint per Human3.6M joint, optional
               unit_to_mm / up_axis); default the `mapping` preset ("bandai", centimetres, y up).
    labels:    a CSV `file,label[,split]` (`bvh.load_label_csv`): each listed file gets that action
               text on every frame and that split; unlisted files stay unlabelled, split "train".
    """
    from .bvh import bvh_to_h36m17, load_joint_map, load_label_csv, parse_bvh
    settings: dict = {}
    if joint_map is not None:
        mapping, settings = load_joint_map(joint_map)
    unit = float(unit_to_mm if unit_to_mm is not None else settings.get("unit_to_mm", 10.0))
    up = up_axis if up_axis is not None else settings.get("up_axis", "y")
    table = load_label_csv(labels) if labels is not None else {}
    files = iter_bvh_files(source)
    if progress:
        from tqdm.auto import tqdm
        files = tqdm(files, desc="bvh", unit="clip")
    out, used = [], set()
    for rel, data in files:
        where = f"{source}/{rel}" if not source.is_file() or source.name != rel else str(source)
        joints, valid, clip_fps = bvh_to_h36m17(parse_bvh(data, where), mapping=mapping, unit_to_mm=unit,
                                                up_axis=up, fps=fps)
        stem = rel[:-4]
        key = _label_key(stem, table)
        row = table.get(key) if key else None
        meta = {"file": rel, "split": "train", "joint_map": str(joint_map) if joint_map else str(mapping)}
        lab, lpf = (), None
        if row is not None:
            used.add(key)
            lab = (row["label"],)
            lpf = np.zeros(joints.shape[0], dtype=np.int16)
            meta.update(content=row["label"], split=row["split"] or "train")
        out.append(Motion(joints3d_world_mm=joints, fps=clip_fps, subject=subject, name=stem, source="bvh",
                          labels=lab, label_per_frame=lpf, joint_valid=valid, meta=meta).validate(where))
    if not out:
        raise ValueError(f"{source}: no .bvh files found")
    unmatched = sorted(set(table) - used)
    if unmatched and issues is not None:
        issues.append(f"{labels}: {len(unmatched)} labelled file(s) not found in {source}: "
                      + ", ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else ""))
    if table and issues is not None:
        unlabelled = sum(1 for m in out if not m.labels)
        if unlabelled:
            issues.append(f"{labels}: {unlabelled} of {len(out)} BVH files have no row (left unlabelled)")
    return out


def load_source(kind: str, source: str | Path, fps: float | None = None, progress: bool = True,
                issues: list[str] | None = None, **kw) -> list[Motion]:
    """Load a raw dataset of `kind` (see KINDS) as Motions, resampled to `fps` when given."""
    source = Path(source)
    if kind == "bandai":
        from .bandai import load_bandai
        return load_bandai(source, fps=fps, progress=progress, issues=issues, **kw)
    if kind == "bvh":
        return _load_bvh_folder(source, fps, progress=progress, issues=issues, **kw)
    if kind == "amass":
        raise ValueError("prepare amass writes its folder while converting (bounded memory): call "
                         "prepare(\"amass\", ...) or data.amass.prepare_amass, not load_source")
    if kind == "h36m":
        from .h36m import load_h36m  # written separately; imported only when asked for
        motions = load_h36m(source, **kw)
    elif kind == "3dhp":
        from .mpi_inf_3dhp import load_3dhp
        motions = load_3dhp(source, **{"split": "all", **kw})
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
    if kind == "amass":  # streamed to disk file by file (tens of thousands of takes)
        from .amass import prepare_amass
        return prepare_amass(source, out, fps=fps if fps is not None else 50.0, progress=progress, **kw)
    t0 = time.perf_counter()
    issues: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        # Every loader warning is kept: printed in the summary and recorded in meta.json (info.issues).
        warnings.simplefilter("always")
        motions = load_source(kind, source, fps=fps, progress=progress, issues=issues, **kw)
    for w in caught:
        msg = str(w.message)
        if msg not in issues:
            issues.append(msg)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)  # still visible to the caller
    if not motions:
        raise ValueError(f"{source}: no motions loaded for kind {kind!r}")
    t_load = time.perf_counter() - t0
    loader_args = {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v) for k, v in kw.items()
                   if isinstance(v, (str, int, float, bool, tuple, list, Path)) or v is None}
    summary = summarize(motions)
    info = save_motions(motions, out, {"source": kind, "source_path": str(source), "requested_fps": fps,
                                       "loader_args": loader_args, "issues": issues,
                                       "kp2d_sources": summary["kp2d_sources"],
                                       "cameras_without_2d": summary["cameras_without_2d"]})
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
    kp2d_sources = Counter(_describe_2d(m) for m in motions if m.kp2d_px)
    no_2d = [f"{m.name}: {', '.join(m.meta['kp2d_missing_cameras'])}" for m in motions
             if m.meta.get("kp2d_missing_cameras")]
    nan_joints = sum(sum(m.meta.get("kp2d_nan_joints", {}).values()) for m in motions)
    masked_joints = sum(sum(m.meta.get("kp2d_missing_joints", {}).values()) for m in motions)
    masked_frames = sum(int((kp[..., 2] <= 0).all(axis=1).sum()) for m in motions for kp in m.kp2d_px.values())
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
        "kp2d_sources": dict(kp2d_sources),
        "cameras_without_2d": no_2d,
        "kp2d_nan_joints": int(nan_joints),
        "kp2d_masked_joints": int(masked_joints),
        "kp2d_masked_frames": int(masked_frames),
        "split_rules": sorted({str(m.meta["split_rule"]) for m in motions if m.meta.get("split_rule")}),
    }


def _describe_2d(m: Motion) -> str:
    """'sh (data_2d_h36m_sh_ft_h36m.npz)' / 'gt': what a motion's 2D keypoints are and where from."""
    f = m.meta.get("kp2d_file")
    return f"{m.kp2d_source} ({f})" if f else (m.kp2d_source or "unnamed")


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
    for rule in summary.get("split_rules", []):
        lines.append(f"  split val = {rule} (fine-tuning validates on it; prepare with --val-subjects none "
                     f"to train on them too)")
    lines.append(f"labels {summary['labels']} distinct   unlabelled clips {summary['unlabelled_clips']}")
    miss = ", ".join(f"{k} ({v} clips)" for k, v in summary["joints_missing"].items()) or "none"
    est = ", ".join(f"{k} ({v} clips)" for k, v in summary["joints_estimated"].items()) or "none"
    lines.append(f"joints missing: {miss}")
    lines.append(f"joints estimated: {est}")
    if summary.get("with_cameras") or summary.get("with_kp2d"):
        lines.append(f"clips with cameras {summary['with_cameras']}   with 2D keypoints {summary['with_kp2d']}")
    if summary.get("with_kp2d"):
        srcs = ", ".join(f"{k} ({v} clips)" for k, v in summary.get("kp2d_sources", {}).items())
        lines.append(f"2D source: {srcs}")
        lines.append(f"2D joints missing (score 0, masked in the model): {summary.get('kp2d_masked_joints', 0)} "
                     f"({summary.get('kp2d_nan_joints', 0)} NaN detections), "
                     f"frames with no joint: {summary.get('kp2d_masked_frames', 0)}")
        no_2d = summary.get("cameras_without_2d", [])
        if no_2d:
            lines.append(f"WARNING cameras without 2D detections ({len(no_2d)} clips; these views are skipped "
                         f"in evaluation, never filled with projected ground truth): " + "; ".join(no_2d[:5])
                         + (" ..." if len(no_2d) > 5 else ""))
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
