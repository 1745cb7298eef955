"""Compute the statistics pasted into data_cards/bandai-namco.md (markdown on stdout).

    .venv/bin/python benchmarks/data_card_stats.py [--source DIR | --prepared DIR]

`--prepared` reads a folder written by `actionpose prepare bandai` (fast); otherwise both archives
are parsed from `--source` (default: the folder named by $ACTIONPOSE_BANDAI_DIR).
"""
from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The upstream archives: --source, or the folder named by $ACTIONPOSE_BANDAI_DIR.
DEFAULT_SOURCE = Path(os.environ["ACTIONPOSE_BANDAI_DIR"]) if os.environ.get("ACTIONPOSE_BANDAI_DIR") else None


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                    help="folder of Bandai-Namco-Research-Motiondataset-{1,2}.tar.xz (default: $ACTIONPOSE_BANDAI_DIR)")
    ap.add_argument("--prepared", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.prepared is None and args.source is None:
        ap.error("give --prepared DIR, or --source DIR (or set ACTIONPOSE_BANDAI_DIR)")

    from actionpose.data.prepare import card_statistics, format_card_statistics

    if args.prepared is not None:
        from actionpose.data.cache import load_motions
        motions, _ = load_motions(args.prepared)
    else:
        from actionpose.data.bandai import load_bandai
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            motions = load_bandai(args.source)
    text = format_card_statistics(card_statistics(motions))
    print(text)
    return text


if __name__ == "__main__":
    main()
