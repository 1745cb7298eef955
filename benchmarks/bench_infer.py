"""Inference throughput and peak memory of `Predictor.predict` for long inputs (issue: in-the-wild
inference).

    .venv/bin/python benchmarks/bench_infer.py [--presets tiny base] [--frames 10000 100000]

For each preset an untrained run of that architecture is created (weights do not change speed),
then each input length runs in a fresh subprocess that reports frames/s and the growth of its peak
RSS during `predict` (input + output arrays for 100k frames are ~40 MB; a non-streaming
implementation would need memory proportional to the windows' activations instead).
Prints one JSON line per (preset, frames).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from actionpose import Predictor
run, n = sys.argv[1], int(sys.argv[2])
p = Predictor.from_run(run)
kp = np.random.default_rng(0).uniform(-0.5, 0.5, size=(n, 17, 3)).astype(np.float32)
kp[..., 2] = 1.0
p.predict(kp[:200])  # warm-up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
res = p.predict(kp)
dt = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"frames": n, "seconds": round(dt, 2), "frames_per_s": round(n / dt, 1),
                  "peak_rss_mb": round(after / 1024, 1), "peak_growth_mb": round((after - before) / 1024, 1),
                  "output_mb": round(res.y3d.nbytes / 2**20, 1), "threads": torch.get_num_threads()}))
"""


def make_run(preset: str, root: Path) -> Path:
    from actionpose import api
    run = root / preset
    api.pretrain(preset, "actionpose", run, overrides={"train": {"max_steps": 0, "val_every": 0}}, progress=False)
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["tiny", "base"])
    ap.add_argument("--frames", nargs="+", type=int, default=[10_000, 100_000])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            run = make_run(preset, Path(tmp))
            for n in args.frames:
                out = subprocess.run([sys.executable, "-c", CHILD, str(run), str(n)], capture_output=True, text=True)
                if out.returncode != 0:
                    print(json.dumps({"preset": preset, "frames": n, "error": out.stderr.strip().splitlines()[-1]}))
                    continue
                print(json.dumps({"preset": preset, **json.loads(out.stdout.strip().splitlines()[-1])}), flush=True)


if __name__ == "__main__":
    main()
