"""Bandai-Namco Research Motion datasets 1 and 2 -> `Motion` records (L1).

Layout (inside `Bandai-Namco-Research-Motiondataset-<N>.tar.xz`, or the folder it extracts to):
`Bandai-Namco-Research-Motiondataset-<N>/data/dataset-<N>_<content>_<style>_<take>.bvh`, a JSON with
the same stem holding `{"content": int, "style": int}` (0-based lines of `cfg/content_label.txt` /
`cfg/style_label.txt`, each line `dataset-<N>_<name>`), plus README/LICENSE.

Every clip becomes one Motion: `joints3d_world_mm [T, 17, 3]` (z up, mm; see `data.bvh`), one label
`"<content>|<style>"` on every frame, `subject = "bandai-<N>"`, and `meta` with dataset, content,
style, take, split. The split is deterministic (`split_counts`): within each dataset x content x style
group, sorted by take id, the last `ceil(0.15 * n)` takes are "val" when the group has n >= 2 takes;
a single-take group is all "train".
"""
from __future__ import annotations

import json
import lzma
import math
import re
import tarfile
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .bvh import load_bvh_h36m17, resolve_mapping
from .motion import Motion

SOURCE = "bandai-namco"
DATASET_DIR = "Bandai-Namco-Research-Motiondataset-{n}"
VAL_FRACTION = 0.15
UNIT_TO_MM = 10.0  # the files are in centimetres
UP_AXIS = "y"
_STEM_RE = re.compile(r"^dataset-(\d+)_([^_]+)_([^_]+)_(\d+)$")


# ------------------------------------------------------------------------------------ locating

def locate_datasets(source: str | Path, datasets: tuple[int, ...] = (1, 2)) -> dict[int, Path]:
    """Find each requested dataset under `source`: an extracted folder or a `.tar.xz` archive.

    `source` is either one dataset (its archive, or its extracted `Bandai-Namco-Research-Motiondataset-<N>`
    folder), which is then the only one loaded, or a folder holding them (an extracted folder wins
    over an archive beside it); there every requested dataset must be present.
    """
    source = Path(source)
    for n in datasets:
        if n not in (1, 2):
            raise ValueError(f"datasets: {n!r} is not a Bandai-Namco dataset number; expected 1 and/or 2")
    if not source.exists():
        raise ValueError(f"{source}: no such file or folder (expected the Bandai-Namco archives or their folders)")
    for n in (1, 2):
        name = DATASET_DIR.format(n=n)
        if source.name in (name, name + ".tar.xz"):
            if n not in datasets:
                raise ValueError(f"{source}: is dataset {n}, but datasets = {tuple(datasets)}")
            if source.is_dir() and not (source / "data").is_dir():
                raise ValueError(f"{source}: no data/ folder inside (expected data/*.bvh and *.json)")
            return {n: source}
    if not source.is_dir():
        raise ValueError(f"{source}: not a Bandai-Namco archive (expected {DATASET_DIR.format(n='<N>')}.tar.xz)")
    found: dict[int, Path] = {}
    for n in datasets:
        name = DATASET_DIR.format(n=n)
        if (source / name / "data").is_dir():
            found[n] = source / name
        elif (source / (name + ".tar.xz")).is_file():
            found[n] = source / (name + ".tar.xz")
        else:
            raise ValueError(f"{source}: dataset {n} not found (expected {name}/data/ or {name}.tar.xz)")
    return found


def iter_files(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (path relative to the dataset root, content) for data/*.bvh|json, cfg/*.txt and LICENSE.

    From an archive the members stream in archive order (a single decompression pass); a truncated or
    corrupt archive raises a one-line ValueError naming it.
    """
    wanted = re.compile(r"^(data/[^/]+\.(bvh|json)|cfg/[^/]+\.txt|LICENSE)$")
    if path.is_dir():
        for f in sorted(path.rglob("*")):
            rel = f.relative_to(path).as_posix()
            if f.is_file() and wanted.match(rel):
                yield rel, f.read_bytes()
        return
    try:
        with tarfile.open(path, mode="r|xz") as tar:
            for member in tar:
                rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
                if member.isfile() and wanted.match(rel):
                    fh = tar.extractfile(member)
                    yield rel, fh.read() if fh is not None else b""
    except (tarfile.TarError, EOFError, lzma.LZMAError, OSError) as e:
        raise ValueError(f"{path}: truncated or corrupt .tar.xz archive ({type(e).__name__}: {e})") from None


# ------------------------------------------------------------------------------------ labels

def parse_label_file(text: bytes, dataset: int, where: str) -> list[str]:
    """`cfg/*_label.txt` -> names by 0-based id, with the `dataset-<N>_` prefix stripped."""
    prefix = f"dataset-{dataset}_"
    out = []
    for lineno, line in enumerate(text.decode("utf-8", errors="replace").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith(prefix) or len(line) == len(prefix):
            raise ValueError(f"{where}: line {lineno}: expected '{prefix}<name>', got {line!r}")
        out.append(line[len(prefix):])
    return out


def parse_annotation(text: bytes, where: str) -> tuple[int, int]:
    """A clip's JSON `{"content": int, "style": int}` -> (content id, style id)."""
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected an object {{\"content\": int, \"style\": int}}")
    ids = []
    for key in ("content", "style"):
        val = d.get(key)
        if isinstance(val, bool) or not isinstance(val, int) or val < 0:
            raise ValueError(f"{where}: field {key} = {val!r}, expected a non-negative integer")
        ids.append(val)
    return ids[0], ids[1]


def parse_stem(stem: str, where: str) -> tuple[int, str, str, int]:
    """`dataset-1_walk-back_happy_002` -> (1, 'walk-back', 'happy', 2)."""
    m = _STEM_RE.match(stem)
    if m is None:
        raise ValueError(f"{where}: file name {stem!r} does not look like dataset-<N>_<content>_<style>_<take>")
    return int(m.group(1)), m.group(2), m.group(3), int(m.group(4))


# ------------------------------------------------------------------------------------ split

def split_counts(n_takes: int, val_fraction: float = VAL_FRACTION) -> int:
    """How many of a group's `n_takes` (sorted by take id) are held out as "val": the last ones.

    `ceil(val_fraction * n)` for n >= 2, so every group that can spare a take contributes at least one;
    0 for a single-take group (it stays in train, otherwise its content/style would be unseen in
    training). The 1e-9 guards against float round-up (0.15 * 20 = 3.0000000000000004).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction = {val_fraction}, expected a number in [0, 1)")
    if n_takes < 2:
        return 0
    return min(n_takes - 1, math.ceil(val_fraction * n_takes - 1e-9))


def assign_splits(motions: list[Motion], val_fraction: float = VAL_FRACTION) -> None:
    """Set `meta["split"]` of Bandai motions in place (see `split_counts`); order-independent."""
    groups: dict[tuple, list[Motion]] = {}
    for m in motions:
        key = (m.meta["dataset"], m.meta["content"], m.meta["style"])
        groups.setdefault(key, []).append(m)
    for members in groups.values():
        members.sort(key=lambda m: m.meta["take"])
        n_val = split_counts(len(members), val_fraction)
        for i, m in enumerate(members):
            m.meta["split"] = "val" if i >= len(members) - n_val else "train"


# ------------------------------------------------------------------------------------ loading

def _convert(data: bytes, where: str, mapping, fps: float | None):
    """Worker: BVH bytes -> (joints [T, 17, 3] float32 mm, joint_valid [17], fps)."""
    return load_bvh_h36m17(data, where=where, mapping=mapping, unit_to_mm=UNIT_TO_MM, up_axis=UP_AXIS, fps=fps)


class _Inline:
    """Executor stand-in that runs each task at submission (workers <= 1: no process start-up)."""

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as e:  # handed back through .result(), like a real executor
            fut.set_exception(e)
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def load_bandai(source: str | Path, datasets: tuple[int, ...] = (1, 2), fps: float | None = None,
                val_fraction: float = VAL_FRACTION, workers: int = 2, progress: bool = False,
                mapping: str | dict = "bandai", issues: list[str] | None = None) -> list[Motion]:
    """Load Bandai-Namco clips as Motions, sorted by name (see the module docstring).

    source:   archive(s) or extracted folder(s) (`locate_datasets`).
    fps:      resample every clip to this rate (linear interpolation); None keeps 30 fps.
    workers:  processes converting BVH while the archive is being decompressed; <= 1 runs inline.
    issues:   if given, gets one line per known defect found (an annotation without its BVH, as in
              dataset-1's missing `dance-long_normal_001`); each is also emitted as a warning.
    """
    located = locate_datasets(source, tuple(datasets))
    resolved = resolve_mapping(mapping)  # a plain dict travels to worker processes (a MappingProxy does not)
    estimated = [k for k, v in resolved.items() if isinstance(v, tuple)]
    found_issues: list[str] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(desc="bandai", unit="clip", mininterval=0.5)
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else _Inline()
    motions: list[Motion] = []
    try:
        for n, path in located.items():
            futures: dict[str, Future] = {}
            annotations: dict[str, bytes] = {}
            cfg: dict[str, bytes] = {}
            for rel, data in iter_files(path):
                stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                if rel.endswith(".bvh"):
                    fut = pool.submit(_convert, data, f"{path}:{rel}", resolved, fps)
                    if bar is not None:
                        bar.total = (bar.total or 0) + 1
                        fut.add_done_callback(lambda _f: bar.update())
                    futures[stem] = fut
                elif rel.endswith(".json"):
                    annotations[stem] = data
                elif rel.startswith("cfg/"):
                    cfg[rel] = data
            if not futures:
                raise ValueError(f"{path}: no data/*.bvh clips found")
            labels = {}
            for key in ("content", "style"):
                rel = f"cfg/{key}_label.txt"
                if rel not in cfg:
                    raise ValueError(f"{path}: {rel} missing (needed to name the {key} ids)")
                labels[key] = parse_label_file(cfg[rel], n, f"{path}:{rel}")
            for stem in sorted(set(annotations) - set(futures)):
                found_issues.append(f"{path}: data/{stem}.json has no BVH clip (absent from the release); skipped")
            for stem in sorted(futures):
                where = f"{path}:data/{stem}"
                ds, content, style, take = parse_stem(stem, f"{where}.bvh")
                if ds != n:
                    raise ValueError(f"{where}.bvh: file name says dataset {ds}, but it is in dataset {n}")
                if stem not in annotations:
                    raise ValueError(f"{where}.json: missing (every clip needs its content/style annotation)")
                ids = parse_annotation(annotations[stem], f"{where}.json")
                for key, idx, from_name in zip(("content", "style"), ids, (content, style)):
                    names = labels[key]
                    if idx >= len(names):
                        raise ValueError(f"{where}.json: field {key} = {idx}, expected < {len(names)} "
                                         f"(cfg/{key}_label.txt lines)")
                    if names[idx] != from_name:
                        raise ValueError(f"{where}.json: field {key} = {idx} ({names[idx]!r}) disagrees with "
                                         f"the file name's {key} {from_name!r}")
                joints, valid, clip_fps = futures[stem].result()
                motions.append(Motion(
                    joints3d_world_mm=joints, fps=clip_fps, subject=f"bandai-{n}", name=stem, source=SOURCE,
                    labels=(f"{content}|{style}",), label_per_frame=np.zeros(joints.shape[0], dtype=np.int16),
                    joint_valid=valid,
                    meta={"dataset": n, "content": content, "style": style, "take": take, "split": "",
                          "content_id": ids[0], "style_id": ids[1],
                          "file": f"data/{stem}.bvh", "estimated_joints": estimated},
                ).validate(f"{where}.bvh"))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    pool.shutdown()
    assign_splits(motions, val_fraction)
    motions.sort(key=lambda m: m.name)
    for line in found_issues:
        warnings.warn(line, stacklevel=2)
    if issues is not None:
        issues.extend(found_issues)
    return motions

