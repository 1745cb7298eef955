"""Install the runs built by `actionpose demo --out DIR` into this source checkout's package assets.

    .venv/bin/python benchmarks/ship_demo.py DIR

Copies `DIR/demo` -> `actionpose/assets/demo_run` and `DIR/demo-pretrain` ->
`actionpose/assets/demo_pretrain_run` (replacing them) and prints their sizes (the two together must
stay <= 10 MB). The shipped eval.json names the run by its shipped name (`demo`, `demo-pretrain`), not
the trainer's build folder, which a user's checkout does not have (staleness is read from the
checkpoint's sha256, so the rename changes nothing else). A developer tool for a checkout: no
`actionpose` command writes into the package.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"demo": "demo_run", "demo-pretrain": "demo_pretrain_run"}
REQUIRED = ("config.yaml", "checkpoint.safetensors", "checkpoint.json", "metrics.jsonl", "eval.json", "embeddings.npz")


def rename_run(eval_file: Path, built_run: Path, name: str) -> int:
    """Replace every string in `eval_file` equal to the build folder `built_run` by `name`; returns how many."""
    from actionpose.train.runs import write_json
    n = 0

    def walk(x):
        nonlocal n
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, str) and x in (str(built_run), str(built_run.resolve())):
            n += 1
            return name
        return x

    obj = walk(json.loads(eval_file.read_text()))
    write_json(eval_file.parent, eval_file.name, obj)
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("built", help="the --out folder of `actionpose demo`")
    args = ap.parse_args(argv)
    built = Path(args.built)
    for name in TARGETS:
        missing = [f for f in REQUIRED if not (built / name / f).exists()]
        if missing:
            print(f"error: {built / name}: missing {', '.join(missing)} (run `actionpose demo --out {built}` first)")
            return 2
    total = 0
    for name, folder in TARGETS.items():
        dest = ROOT / "actionpose" / "assets" / folder
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(built / name, dest)
        rename_run(dest / "eval.json", built / name, name)
        size = sum(p.stat().st_size for p in dest.iterdir())
        total += size
        print(f"{built / name} -> {dest} ({size / 1e6:.2f} MB)")
    print(f"total {total / 1e6:.2f} MB (limit 10 MB)")
    return 0 if total <= 10e6 else 1


if __name__ == "__main__":
    sys.exit(main())
