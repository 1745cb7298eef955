"""Copy an ablation (or sweep) folder's results into `benchmarks/results/<dest>/` for committing.

    .venv/bin/python benchmarks/collect_ablation.py OUT [--dest ablation]   # OUT: the --out of `actionpose ablate`

A sweep folder (`ablate --sweep`) gives `sweep.*` instead of `summary.*`; use another --dest for it
(e.g. `--dest sweep`).

Copies the summary (`summary.json/.md/.csv`, `summary_paired.csv`, `summary_per_action.csv`),
`ablation_spec.json`, and under `cells/` each finished stage's `ablation_cell.json` and
`config.yaml` (+ the pretraining stages' `metrics.jsonl`, the recognition/MPJPE curve). Never the
checkpoints. Those records are all `actionpose ablate` needs to treat the finished cells as done, so
a later session continues the ablation by copying `cells/*` and `ablation_spec.json` back into an
--out folder and re-running the same command (the data may be prepared at another path: the spec
checks its fingerprints).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TABLES = (".json", ".md", ".csv", "_paired.csv", "_per_action.csv")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the --out folder of `actionpose ablate`")
    ap.add_argument("--dest", default="ablation", help="folder under benchmarks/results/, or an absolute path (default: ablation)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    stem = "sweep" if (out / "sweep.json").exists() else "summary"
    if not (out / f"{stem}.json").exists():
        print(f"error: {out / 'summary.json'}: missing (run `actionpose ablate ... --out {out}` first)")
        return 2
    DEST = Path(args.dest) if Path(args.dest).is_absolute() else RESULTS / args.dest
    DEST.mkdir(parents=True, exist_ok=True)
    for name in [stem + t for t in TABLES] + ["ablation_spec.json"]:
        if (out / name).exists():
            shutil.copy2(out / name, DEST / name)
    cells = DEST / "cells"
    if cells.exists():
        shutil.rmtree(cells)
    n = 0
    for rec in sorted(out.rglob("ablation_cell.json")):
        stage = rec.parent
        dest = cells / stage.relative_to(out)
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("ablation_cell.json", "config.yaml") + (("metrics.jsonl",) if stage.name == "pretrain" else ()):
            if (stage / name).exists():
                shutil.copy2(stage / name, dest / name)
        n += 1
    print(f"{out} -> {DEST}: summary + {n} finished stages under cells/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
