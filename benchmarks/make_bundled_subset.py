"""Regenerate the bundled Bandai-Namco subset `actionpose/assets/bandai_subset/` from the
upstream archives (`--source DIR`, or $ACTIONPOSE_BANDAI_DIR).

    .venv/bin/python benchmarks/make_bundled_subset.py --source DIR [--out DIR]

Selection (deterministic; the split of every take is the one of the full datasets, so the subset's
val clips are exactly held-out takes):
- dataset 2 (10 contents x 7 styles, many takes per pair): for every content x style group, its first
  `--train-per-group` train takes and first `--val-per-group` val takes (by take id);
- dataset 1 (15 styles crossed sparsely with 16 contents): for content id c, the pairs whose style id s
  has (s - c) mod 5 == 0, plus every pair of a content recorded in one style only (call, dance-short,
  kick, punch, respond, slash) and, for any style still uncovered, its first pair; from each chosen
  pair all its takes (train and val);
- every clip cropped to its central `--max-frames` frames (4 s at 30 fps), which keeps whole the short
  gesture clips and trims the long walks and the 63 s dance; the crop is recorded in meta["crop"].
Joints stay float32 millimetres at the native 30 fps.
"""
from __future__ import annotations

import argparse
import os
import tarfile
import warnings
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The upstream archives: --source, or the folder named by $ACTIONPOSE_BANDAI_DIR.
DEFAULT_SOURCE = Path(os.environ["ACTIONPOSE_BANDAI_DIR"]) if os.environ.get("ACTIONPOSE_BANDAI_DIR") else None
DEFAULT_OUT = ROOT / "actionpose" / "assets" / "bandai_subset"

README = """# Bundled Bandai-Namco subset

A small prepared subset of the Bandai-Namco Research Motion datasets 1 and 2, stored as an actionpose
prepared-data folder (`motions.npz` + `meta.json`, read with `actionpose.data.cache.load_motions`;
`actionpose.data.prepare.bundled_data_dir()` returns this folder). It is the default training data of
the tiny presets, the tests and the demo, so that everything runs without downloading anything.

- Source: Bandai Namco Research Inc., "Bandai-Namco-Research-Motiondataset" (datasets 1 and 2),
  https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset
- Licence: CC BY-NC 4.0 (see LICENSE, copied from the release). Non-commercial use only; the code of
  actionpose is licensed separately.
- Changes made: converted from BVH (cm, y up) to Human3.6M-17 joint positions (mm, z up, float32) by
  forward kinematics; head top estimated (not in the source); takes selected and cropped as below.
- Contents: {clips} clips, {frames} frames at 30 fps ({train} train / {val} val clips); every content
  and every style of both datasets; val clips are held-out takes of the full-data split.
- Selection rule: see `benchmarks/make_bundled_subset.py` (regenerates this folder from the archives)
  and `data_cards/bandai-namco.md` (units, axes, joint mapping, split rule, statistics).
"""


def select(motions, train_per_group: int, val_per_group: int) -> list:
    groups = defaultdict(list)
    for m in motions:
        groups[(m.meta["dataset"], m.meta["content"], m.meta["style"])].append(m)
    chosen = []
    # Dataset 2: a fixed number of train and val takes from every content x style group.
    for key in sorted(k for k in groups if k[0] == 2):
        takes = sorted(groups[key], key=lambda m: m.meta["take"])
        chosen += [m for m in takes if m.meta["split"] == "train"][:train_per_group]
        chosen += [m for m in takes if m.meta["split"] == "val"][:val_per_group]
    # Dataset 1: a diagonal through the sparse content x style table, covering every content and style.
    d1 = [k for k in groups if k[0] == 1]
    content_id = {c: groups[(1, c, s)][0].meta["content_id"] for _, c, s in d1}
    style_id = {s: groups[(1, c, s)][0].meta["style_id"] for _, c, s in d1}
    styles = sorted(style_id, key=style_id.get)
    styles_of = defaultdict(set)
    for _, c, s in d1:
        styles_of[c].add(s)
    pairs = {(c, s) for _, c, s in d1 if (style_id[s] - content_id[c]) % 5 == 0 or len(styles_of[c]) == 1}
    for s in styles:
        if not any(p[1] == s for p in pairs):
            pairs.add(min(((c, s2) for _, c, s2 in d1 if s2 == s), key=lambda p: content_id[p[0]]))
    for c, s in sorted(pairs, key=lambda p: (content_id[p[0]], style_id[p[1]])):
        chosen += sorted(groups[(1, c, s)], key=lambda m: m.meta["take"])
    return chosen


def crop(m, max_frames: int):
    T = m.num_frames
    if T <= max_frames:
        return replace(m, meta={**m.meta, "crop": [0, T], "source_frames": T})
    start = (T - max_frames) // 2
    return replace(m, joints3d_world_mm=m.joints3d_world_mm[start:start + max_frames].copy(),
                   label_per_frame=m.label_per_frame[start:start + max_frames].copy(),
                   meta={**m.meta, "crop": [start, start + max_frames], "source_frames": T})


def read_license(archive: Path) -> bytes:
    root = archive.name[: -len(".tar.xz")]
    with tarfile.open(archive, "r:xz") as tar:
        fh = tar.extractfile(f"{root}/LICENSE")
        return fh.read()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, required=DEFAULT_SOURCE is None,
                    help="folder of Bandai-Namco-Research-Motiondataset-{1,2}.tar.xz (default: $ACTIONPOSE_BANDAI_DIR)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--max-frames", type=int, default=120)
    ap.add_argument("--train-per-group", type=int, default=3)
    ap.add_argument("--val-per-group", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    from actionpose.data.bandai import load_bandai
    from actionpose.data.cache import save_motions
    from actionpose.data.prepare import summarize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the known missing dataset-1 clip is listed in `issues`
        issues: list[str] = []
        motions = load_bandai(args.source, workers=args.workers, progress=True, issues=issues)
    subset = [crop(m, args.max_frames) for m in select(motions, args.train_per_group, args.val_per_group)]
    subset.sort(key=lambda m: m.name)
    info = save_motions(subset, args.out, {
        "source": "bandai", "source_path": "Bandai-Namco-Research-Motiondataset-{1,2}.tar.xz",
        "subset": {"max_frames": args.max_frames, "train_per_group": args.train_per_group,
                   "val_per_group": args.val_per_group, "rule": "benchmarks/make_bundled_subset.py"},
        "licence": "CC BY-NC 4.0, Bandai Namco Research Inc.",
    })
    archive = args.source / "Bandai-Namco-Research-Motiondataset-1.tar.xz"
    (args.out / "LICENSE").write_bytes(read_license(archive))
    s = summarize(subset)
    (args.out / "README.md").write_text(README.format(
        clips=s["clips"], frames=s["frames"], train=s["splits"].get("train", {}).get("clips", 0),
        val=s["splits"].get("val", {}).get("clips", 0)))
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"wrote {args.out}: {s['clips']} clips, {s['frames']} frames, {size / 1e6:.2f} MB, "
          f"splits {s['splits']}, hash {info['data_hash'][:16]}")


if __name__ == "__main__":
    main()
