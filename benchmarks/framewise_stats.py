"""Statistics of the Human3.6M framewise action labels (for data_cards/h36m-framewise-actions.md).

Usage: python benchmarks/framewise_stats.py [path/to/labels_int8.npz]
Prints, per scheme: sequence count, frames, per-class frame counts and shares, per-subject sequence
counts, sequence length range, and the keys whose sequence name matches no 3D sequence.
"""
from __future__ import annotations

import sys
from collections import Counter

import numpy as np

from actionpose.data.framewise import FRAMEWISE_FPS, SCHEMES, default_framewise_path, load_framewise_labels


def scheme_stats(path, scheme: str) -> list[str]:
    table = load_framewise_labels(path, scheme)
    classes = SCHEMES[scheme]
    counts = np.zeros(len(classes), dtype=np.int64)
    unlabeled = 0
    lengths = []
    for _, per_frame in table.values():
        lengths.append(per_frame.shape[0])
        counts += np.bincount(per_frame[per_frame >= 0], minlength=len(classes))
        unlabeled += int((per_frame < 0).sum())
    total = int(sum(lengths))
    header = (f"## {scheme}: {len(table)} sequences, {total} frames ({total / FRAMEWISE_FPS / 60:.1f} min at "
              f"{FRAMEWISE_FPS:.0f} Hz), sequence length {min(lengths)}..{max(lengths)} frames, "
              f"{unlabeled} frames without a label")
    lines = [header,
             "| class | frames | share | sequences containing it |", "|---|---:|---:|---:|"]
    for i, name in enumerate(classes):
        n_seq = sum(1 for _, pf in table.values() if np.any(pf == i))
        lines.append(f"| {name} | {counts[i]} | {counts[i] / total:.1%} | {n_seq} |")
    subjects = Counter(k.split("/")[0] for k in table)
    order = sorted(subjects, key=lambda s: int(s[1:]))
    lines.append("sequences per subject: " + ", ".join(f"{s} {subjects[s]}" for s in order))
    unmatched = sorted(k for k in table if "#" in k)
    lines.append(f"keys that match no 3D sequence name ({len(unmatched)}): {', '.join(unmatched)}")
    return lines


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else default_framewise_path()
    if path is None:
        print("framewise labels not found: pass the path to labels_int8.npz", file=sys.stderr)
        return 2
    print(f"# {path}")
    for scheme in SCHEMES:
        print("\n".join(scheme_stats(path, scheme)))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
