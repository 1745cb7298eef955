"""Action recognition against the span of motion it is given: per window, then pooled over longer segments.

    python benchmarks/recognition_context.py --runs demo-pretrain demo --out benchmarks/results/recognition_context
    python benchmarks/recognition_context.py --runs "heading seed 0=build/heading/h_p2400/pretrain" --out DIR

For each run, on the bundled held-out takes (GT 2D, the 4 fixed virtual cameras, no flip: `evaluate`'s
protocol), action top-1 over the 24 actions per window (the run's own T) and over segments of 27 and 81
frames and the whole take (no bundled take is longer than 243 frames), through
`evaluate(..., recognition_contexts=...)`: a segment's scores are the mean
of its windows' logits, i.e. the score of its pooled motion embedding; nothing is retrained. Left/right
actions (wave-*, raise-up-*-hand, walk-turn-*) are listed apart: telling a left turn from a right one
needs the turn, of which a 9-frame (0.3 s) window holds a little (enough for cheap window classifiers
trained to saturation to name either turn in 64-77 % of windows: `recognition_saturation.py`).

Writes `context.json` (every number, with the runs' checkpoints) and `table.md` (for the README).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from actionpose.data.prepare import bundled_data_dir
from actionpose.evaluate import evaluate
from actionpose.recognition_context import WHOLE_TAKE

CONTEXTS = (27, 81, WHOLE_TAKE)
LEFT_RIGHT = ("wave-left-hand", "wave-right-hand", "raise-up-left-hand", "raise-up-right-hand",
              "walk-turn-left", "walk-turn-right")


def _label(frames: int) -> str:
    return "whole take" if frames >= WHOLE_TAKE else f"{frames} frames"


def measure(run: str) -> dict:
    """`run` is a run name or folder, or NAME=FOLDER to label a folder (e.g. a run not shipped)."""
    name, _, path = run.rpartition("=")
    name, run = (name or path), path
    rep = evaluate(run, data=bundled_data_dir(), flip=False, write=False, mlp_floor=None, recognition_contexts=CONTEXTS)
    rec = rep.recognition
    T = rep.header["frames_per_window"]
    rows = [{"context": f"window ({T} frames)", "frames": T, "units": rec["windows"],
             "top1_pct": rec["content_top1_pct"], "per_action": rec["per_content_top1_pct"]}]
    for key in sorted(rec.get("by_context", {}), key=int):
        c = rec["by_context"][key]
        rows.append({"context": _label(c["frames"]), "frames": c["frames"], "units": c["segments"],
                     "top1_pct": c["content_top1_pct"], "per_action": c["per_content_top1_pct"]})
    summary = {r["metric"]: r["value"] for r in rep.summary.to_dict(orient="records")}
    return {"run": name, "folder": run, "step": rep.header["step"], "checkpoint_sha256": rep.header["checkpoint_sha256"],
            "mpjpe_mm": summary["MPJPE"], "p_mpjpe_mm": summary["P-MPJPE"], "frames_per_window": T, "views": rep.header["views"], "frames": rep.header["frames"], "rows": rows}


def table(results: list[dict]) -> str:
    head = ["run", "scored over", "units", "action top-1 (24)"] + list(LEFT_RIGHT)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        for row in r["rows"]:
            per = row["per_action"]
            lines.append("| " + " | ".join([f"`{r['run']}`", row["context"], f"{row['units']:,}", f"{row['top1_pct']:.1f} %"]
                                           + [f"{per[a]:.0f}" if a in per else "—" for a in LEFT_RIGHT]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=["demo-pretrain", "demo"])
    ap.add_argument("--out", default="benchmarks/results/recognition_context")
    args = ap.parse_args(argv)
    results = [measure(r) for r in args.runs]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    protocol = ("bundled held-out takes, GT 2D, 4 fixed virtual cameras, no flip; action top-1 over 24 actions "
                "(the top label's action, any style); per-action columns in %")
    (out / "context.json").write_text(json.dumps({"protocol": protocol, "contexts": list(CONTEXTS),
                                                  "results": results}, indent=1) + "\n")
    (out / "table.md").write_text(table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
