"""On-disk cache of prepared Motion records: one uncompressed `.npz` + one `meta.json` (L1). No pickle.

`motions.npz` (arrays of all motions concatenated along time, cut back by offsets):
    joints3d_world_mm  `[N, 17, 3]` float32     N = total frames
    frame_offsets      `[M + 1]` int64          motion i = rows frame_offsets[i]:frame_offsets[i+1]
    label_per_frame    `[N]` int16              -1 where a frame has no label
    joint_valid        `[M, 17]` bool
    kp2d_px            `[K, 17, 3]` float32     2D of every (motion, camera) pair in meta.json order
    kp2d_offsets       `[P + 1]` int64          P = number of (motion, camera) pairs
`meta.json`: `{"info": {...}, "motions": [{name, subject, source, fps, labels, label_per_frame (bool:
stored or None), meta, cameras (Camera.to_dict), kp2d_cameras, kp2d_source}, ...]}`.
`info` always holds format, version, skeleton ("h36m17"), num_motions, num_frames, fps (shared rate or
None), data_hash (sha256 of the arrays and per-motion records); the caller adds the rest (source kind...).
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..geometry import Camera
from ..skeleton import NUM_JOINTS
from .motion import Motion

FORMAT = "actionpose.motions"
VERSION = 1
SKELETON = "h36m17"
NPZ_NAME = "motions.npz"
META_NAME = "meta.json"
_ARRAY_KEYS = ("joints3d_world_mm", "frame_offsets", "label_per_frame", "joint_valid", "kp2d_px", "kp2d_offsets")


def _record(m: Motion) -> dict:
    """The JSON part of one motion (everything but its arrays)."""
    return {
        "name": m.name,
        "subject": m.subject,
        "source": m.source,
        "fps": float(m.fps),
        "labels": list(m.labels),
        "label_per_frame": m.label_per_frame is not None,
        "meta": m.meta,
        "cameras": [c.to_dict() for c in m.cameras],
        "kp2d_cameras": list(m.kp2d_px),
        "kp2d_source": m.kp2d_source,
    }


def _data_hash(arrays: dict[str, np.ndarray], records: list[dict]) -> str:
    h = hashlib.sha256()
    for key in _ARRAY_KEYS:
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.reshape(-1).view(np.uint8) if a.size else b"")
    h.update(json.dumps(records, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def _pack(motions: list[Motion]) -> dict[str, np.ndarray]:
    lengths = [m.num_frames for m in motions]
    kp = [kp for m in motions for kp in m.kp2d_px.values()]
    return {
        "joints3d_world_mm": (np.concatenate([m.joints3d_world_mm for m in motions]).astype(np.float32, copy=False)
                              if motions else np.zeros((0, NUM_JOINTS, 3), np.float32)),
        "frame_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "label_per_frame": (np.concatenate([
            (m.label_per_frame if m.label_per_frame is not None else np.full(m.num_frames, -1)).astype(np.int16)
            for m in motions]) if motions else np.zeros(0, np.int16)),
        "joint_valid": np.stack([m.joint_valid for m in motions]) if motions else np.zeros((0, NUM_JOINTS), bool),
        "kp2d_px": (np.concatenate(kp).astype(np.float32, copy=False) if kp
                    else np.zeros((0, NUM_JOINTS, 3), np.float32)),
        "kp2d_offsets": np.concatenate([[0], np.cumsum([k.shape[0] for k in kp], dtype=np.int64)]).astype(np.int64),
    }


def _json_safe(obj, where: str):
    try:
        return json.loads(json.dumps(obj, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: not JSON-serialisable ({e})") from None


def save_motions(motions: list[Motion], out_dir: str | Path, info: dict | None = None) -> dict:
    """Write `motions` to `out_dir/{motions.npz, meta.json}` and return the full info written.

    Every motion is validated first; `meta` and `info` must be JSON-safe. Files are written under a
    temporary name and renamed, so an interrupted save never leaves a half-written cache.
    """
    out_dir = Path(out_dir)
    seen: set[tuple[str, str]] = set()
    for m in motions:
        m.validate()
        if (m.subject, m.name) in seen:
            raise ValueError(f"save_motions: two motions share subject {m.subject!r} and name {m.name!r}")
        seen.add((m.subject, m.name))
    records = [_json_safe(_record(m), f"motion {m.name!r} field meta") for m in motions]
    arrays = _pack(motions)
    fps_values = sorted({float(m.fps) for m in motions})
    full_info = dict(_json_safe(info or {}, "save_motions: info"))
    full_info.update({
        "format": FORMAT, "version": VERSION, "skeleton": SKELETON,
        "num_motions": len(motions), "num_frames": int(arrays["frame_offsets"][-1]),
        "fps": fps_values[0] if len(fps_values) == 1 else None,
        "data_hash": _data_hash(arrays, records),
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_npz = out_dir / (NPZ_NAME + ".tmp.npz")
    tmp_meta = out_dir / (META_NAME + ".tmp")
    np.savez(tmp_npz, **arrays)
    # One motion record per line: readable and diff-friendly without the size of indent=2.
    body = ",\n".join(json.dumps(r, sort_keys=True) for r in records)
    tmp_meta.write_text('{"info": ' + json.dumps(full_info, sort_keys=True, indent=1)
                        + ',\n"motions": [\n' + body + "\n]}\n")
    os.replace(tmp_npz, out_dir / NPZ_NAME)
    os.replace(tmp_meta, out_dir / META_NAME)
    return full_info


def read_info(path: str | Path) -> dict:
    """The `info` block of a prepared folder's meta.json (cheap: no arrays are read)."""
    meta_path = Path(path) / META_NAME
    return _read_meta(meta_path)["info"]


def _read_meta(meta_path: Path) -> dict:
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{meta_path}: missing (not a prepared data folder; create one with `actionpose prepare`)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{meta_path}: not valid JSON, truncated or corrupt ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("info"), dict) or not isinstance(meta.get("motions"), list):
        raise ValueError(f"{meta_path}: expected an object with fields info (object) and motions (list)")
    info = meta["info"]
    if info.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: field info.format = {info.get('format')!r}, expected {FORMAT!r}")
    if info.get("version") != VERSION:
        raise ValueError(f"{meta_path}: field info.version = {info.get('version')!r}, expected {VERSION}")
    return meta


def _read_arrays(npz_path: Path) -> dict[str, np.ndarray]:
    if not npz_path.is_file():
        raise ValueError(f"{npz_path}: missing (the prepared folder is incomplete)")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            missing = [k for k in _ARRAY_KEYS if k not in z.files]
            if missing:
                raise ValueError(f"{npz_path}: missing array(s) {', '.join(missing)}")
            return {k: z[k] for k in _ARRAY_KEYS}
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zipfile.LargeZipFile) as e:
        raise ValueError(f"{npz_path}: truncated or corrupt npz ({type(e).__name__}: {e})") from None
    except ValueError as e:
        if str(e).startswith(str(npz_path)):
            raise
        raise ValueError(f"{npz_path}: truncated or corrupt npz ({e})") from None


def _check_arrays(a: dict[str, np.ndarray], records: list[dict], npz_path: Path) -> None:
    def fail(key: str, msg: str):
        raise ValueError(f"{npz_path}: field {key} {msg}")

    expect = {"joints3d_world_mm": (np.float32, 3), "frame_offsets": (np.int64, 1), "label_per_frame": (np.int16, 1),
              "joint_valid": (np.bool_, 2), "kp2d_px": (np.float32, 3), "kp2d_offsets": (np.int64, 1)}
    for key, (dtype, ndim) in expect.items():
        if a[key].dtype != dtype or a[key].ndim != ndim:
            fail(key, f"has dtype {a[key].dtype} and {a[key].ndim} dims, expected {np.dtype(dtype)} with {ndim}")
    if a["joints3d_world_mm"].shape[1:] != (NUM_JOINTS, 3):
        fail("joints3d_world_mm", f"has shape {a['joints3d_world_mm'].shape}, expected [N, {NUM_JOINTS}, 3] "
                                  "(prepared for another skeleton?)")
    off = a["frame_offsets"]
    n_frames = a["joints3d_world_mm"].shape[0]
    if off.shape[0] != len(records) + 1 or off[0] != 0 or off[-1] != n_frames or np.any(np.diff(off) < 0):
        fail("frame_offsets", f"does not cut {n_frames} frames into the {len(records)} motions of meta.json")
    if a["label_per_frame"].shape[0] != n_frames:
        fail("label_per_frame", f"has {a['label_per_frame'].shape[0]} frames, expected {n_frames}")
    if a["joint_valid"].shape != (len(records), NUM_JOINTS):
        fail("joint_valid", f"has shape {a['joint_valid'].shape}, expected [{len(records)}, {NUM_JOINTS}]")
    n_pairs = sum(len(r.get("kp2d_cameras", [])) for r in records)
    koff = a["kp2d_offsets"]
    if (koff.shape[0] != n_pairs + 1 or koff[0] != 0 or koff[-1] != a["kp2d_px"].shape[0]
            or np.any(np.diff(koff) < 0)):
        fail("kp2d_offsets", f"does not match the {n_pairs} (motion, camera) 2D tracks of meta.json")


def load_motions(path: str | Path, skeleton: str = SKELETON, verify: bool = True) -> tuple[list[Motion], dict]:
    """Read a folder written by `save_motions` -> (motions, info).

    The motions' arrays are views into one array per field (no per-motion copies). `verify` recomputes
    the data hash, so a cache modified or damaged after writing is reported instead of used.
    Any problem raises a one-line ValueError naming the file and field.
    """
    path = Path(path)
    meta_path, npz_path = path / META_NAME, path / NPZ_NAME
    if not path.is_dir():
        raise ValueError(f"{path}: no such prepared data folder")
    meta = _read_meta(meta_path)
    info, records = meta["info"], meta["motions"]
    if info.get("skeleton") != skeleton:
        raise ValueError(f"{meta_path}: field info.skeleton = {info.get('skeleton')!r}, expected {skeleton!r} "
                         "(this folder was prepared for another joint layout)")
    for i, r in enumerate(records):
        missing = [k for k in ("name", "subject", "source", "fps", "labels", "meta") if k not in r]
        if missing:
            raise ValueError(f"{meta_path}: motions[{i}] lacks field(s) {', '.join(missing)}")
    a = _read_arrays(npz_path)
    _check_arrays(a, records, npz_path)
    if verify and info.get("data_hash") != _data_hash(a, records):
        raise ValueError(f"{meta_path}: field info.data_hash does not match {NPZ_NAME} + meta.json content "
                         "(modified or corrupted after it was written; prepare it again)")
    joints, off, lpf, valid = a["joints3d_world_mm"], a["frame_offsets"], a["label_per_frame"], a["joint_valid"]
    kp, koff = a["kp2d_px"], a["kp2d_offsets"]
    motions = []
    pair = 0
    for i, r in enumerate(records):
        s, e = int(off[i]), int(off[i + 1])
        where = f"{path} motion {r['name']!r}"
        kp2d = {}
        for cam in r.get("kp2d_cameras", []):
            kp2d[cam] = kp[koff[pair]:koff[pair + 1]]
            pair += 1
        m = Motion(
            joints3d_world_mm=joints[s:e], fps=float(r["fps"]), subject=r["subject"], name=r["name"],
            source=r["source"], labels=tuple(r["labels"]),
            label_per_frame=lpf[s:e] if r.get("label_per_frame", True) else None,
            joint_valid=valid[i].copy(),
            cameras=[Camera.from_dict(c, where=f"{where} camera") for c in r.get("cameras", [])],
            kp2d_px=kp2d, kp2d_source=r.get("kp2d_source", ""), meta=r["meta"],
        )
        motions.append(m.validate(where))
    return motions, info


class MotionStreamWriter:
    """Write a prepared folder motion by motion, in bounded memory (datasets of tens of thousands of
    clips, e.g. AMASS): the same `motions.npz` + `meta.json` as `save_motions`, the same data hash.

    Motions are validated and buffered; every `shard_frames` frames the buffer goes to raw shard
    files in `out_dir/.shards.tmp/` (one per array field, appended). `close(info)` streams the shards
    into `motions.npz` (uncompressed zip of `.npy` members, as `np.savez` writes) while hashing them
    in `_data_hash` order, writes `meta.json`, and removes the shards; until then nothing is visible
    under the final names. Memory: one shard of arrays + the per-motion JSON records.
    """

    _PER_FRAME = ("joints3d_world_mm", "label_per_frame", "joint_valid", "kp2d_px")

    def __init__(self, out_dir: str | Path, shard_frames: int = 1_000_000):
        self.out_dir = Path(out_dir)
        self.shard_dir = self.out_dir / ".shards.tmp"
        self.shard_frames = int(shard_frames)
        self.records: list[dict] = []
        self._lengths: list[int] = []
        self._kp_lengths: list[int] = []
        self._seen: set[tuple[str, str]] = set()
        self._fps: set[float] = set()
        self._buffer: list[Motion] = []
        self._buffered = 0
        self._rows = dict.fromkeys(self._PER_FRAME, 0)  # rows written per field
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.shard_dir.exists():
            for f in self.shard_dir.iterdir():
                f.unlink()
        self.shard_dir.mkdir(exist_ok=True)

    def add(self, m: Motion) -> None:
        m.validate()
        if (m.subject, m.name) in self._seen:
            raise ValueError(f"save_motions: two motions share subject {m.subject!r} and name {m.name!r}")
        self._seen.add((m.subject, m.name))
        self.records.append(_json_safe(_record(m), f"motion {m.name!r} field meta"))
        self._lengths.append(m.num_frames)
        self._kp_lengths += [kp.shape[0] for kp in m.kp2d_px.values()]
        self._fps.add(float(m.fps))
        self._buffer.append(m)
        self._buffered += m.num_frames
        if self._buffered >= self.shard_frames:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        packed = _pack(self._buffer)
        for key in self._PER_FRAME:
            a = np.ascontiguousarray(packed[key])
            with open(self.shard_dir / f"{key}.bin", "ab") as f:
                f.write(a.reshape(-1).view(np.uint8).tobytes() if a.size else b"")
            self._rows[key] += a.shape[0]
        self._buffer, self._buffered = [], 0

    def _arrays(self):
        """(key, dtype, shape, iterator of byte chunks) of every array, in `_ARRAY_KEYS` order."""
        offsets = np.concatenate([[0], np.cumsum(self._lengths, dtype=np.int64)]).astype(np.int64)
        kp_offsets = np.concatenate([[0], np.cumsum(self._kp_lengths, dtype=np.int64)]).astype(np.int64)
        small = {"frame_offsets": offsets, "kp2d_offsets": kp_offsets}
        tail = {"joints3d_world_mm": (np.float32, (NUM_JOINTS, 3)), "label_per_frame": (np.int16, ()),
                "joint_valid": (np.bool_, (NUM_JOINTS,)), "kp2d_px": (np.float32, (NUM_JOINTS, 3))}
        for key in _ARRAY_KEYS:
            if key in small:
                a = small[key]
                yield key, a.dtype, a.shape, iter([a.view(np.uint8).tobytes()])
                continue
            dtype, rest = tail[key]
            path = self.shard_dir / f"{key}.bin"

            def chunks(path=path):
                if not path.exists():
                    return
                with open(path, "rb") as f:
                    while block := f.read(1 << 24):
                        yield block
            yield key, np.dtype(dtype), (self._rows[key], *rest), chunks()

    def close(self, info: dict | None = None) -> dict:
        """Finish the folder; returns the full info written (as `save_motions` does)."""
        self._flush()
        h = hashlib.sha256()
        tmp_npz = self.out_dir / (NPZ_NAME + ".tmp.npz")
        with zipfile.ZipFile(tmp_npz, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key, dtype, shape, chunks in self._arrays():
                h.update(f"{key}|{dtype.str}|{shape}|".encode())
                with zf.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(
                        member, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                                 "shape": shape})
                    for block in chunks:
                        h.update(block)
                        member.write(block)
        h.update(json.dumps(self.records, sort_keys=True, separators=(",", ":")).encode())
        fps_values = sorted(self._fps)
        full_info = dict(_json_safe(info or {}, "save_motions: info"))
        full_info.update({
            "format": FORMAT, "version": VERSION, "skeleton": SKELETON,
            "num_motions": len(self.records), "num_frames": int(sum(self._lengths)),
            "fps": fps_values[0] if len(fps_values) == 1 else None,
            "data_hash": h.hexdigest(),
        })
        tmp_meta = self.out_dir / (META_NAME + ".tmp")
        body = ",\n".join(json.dumps(r, sort_keys=True) for r in self.records)
        tmp_meta.write_text('{"info": ' + json.dumps(full_info, sort_keys=True, indent=1)
                            + ',\n"motions": [\n' + body + "\n]}\n")
        os.replace(tmp_npz, self.out_dir / NPZ_NAME)
        os.replace(tmp_meta, self.out_dir / META_NAME)
        self.abort()
        return full_info

    def abort(self) -> None:
        """Remove the shard files (after `close`, or when preparing failed)."""
        if self.shard_dir.exists():
            for f in self.shard_dir.iterdir():
                f.unlink()
            self.shard_dir.rmdir()
