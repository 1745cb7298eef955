"""Time preparing all Bandai-Namco clips (both archives) and reloading the prepared cache.

    .venv/bin/python benchmarks/bench_prepare.py --source DIR [--out DIR] [--workers 2]

Prints one JSON line: clips, frames, prepare seconds, reload seconds (with and without hash check),
cache size, CPU count. Targets (issue: foundation data pipeline): prepare <= 60 s on 2 cores,
reload <= 2 s.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The upstream archives: --source, or the folder named by $ACTIONPOSE_BANDAI_DIR.
DEFAULT_SOURCE = Path(os.environ["ACTIONPOSE_BANDAI_DIR"]) if os.environ.get("ACTIONPOSE_BANDAI_DIR") else None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, required=DEFAULT_SOURCE is None,
                    help="folder of Bandai-Namco-Research-Motiondataset-{1,2}.tar.xz (default: $ACTIONPOSE_BANDAI_DIR)")
    ap.add_argument("--out", type=Path, default=None, help="prepared folder (default: a temporary one)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    from actionpose.data.cache import load_motions
    from actionpose.data.prepare import format_summary, prepare

    out = args.out or Path(tempfile.mkdtemp(prefix="bandai-prepared-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the known missing dataset-1 clip is reported in the summary
        t0 = time.perf_counter()
        summary = prepare("bandai", args.source, out, progress=False, workers=args.workers)
        t_prepare = time.perf_counter() - t0
    print(format_summary(summary))
    reload = {}
    for verify in (True, False):
        t0 = time.perf_counter()
        motions, _ = load_motions(out, verify=verify)
        reload[verify] = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in out.iterdir())
    result = {"clips": len(motions), "frames": summary["frames"], "prepare_s": round(t_prepare, 2),
              "reload_s": round(reload[True], 3), "reload_no_verify_s": round(reload[False], 3),
              "cache_mb": round(size / 1e6, 1), "workers": args.workers, "cpus": os.cpu_count(),
              "out": str(out)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
