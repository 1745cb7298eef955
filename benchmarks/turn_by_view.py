"""Walk-turn left / right per camera: which way the run names the turn, and which way it faces the body.

    python benchmarks/turn_by_view.py --run demo --out benchmarks/results/turn_by_view

A turn's 2D is nearly the 2D of its depth mirror (z -> -z), which turns the other way; only the
labelled left/right joints (and perspective) tell the two apart. This measures, for each held-out
walk-turn take (bundled, split val) and each of the 4 fixed virtual cameras, with clean GT 2D and no flip:
- **called**: over the 81-frame segments (`recognition_context`), the share named walk-turn-left /
  walk-turn-right / anything else (the top sentence's action);
- **facing agrees**: the share of frames where the predicted body faces the same way along the camera
  axis as the ground truth (sign of the depth component of the pelvis-frame forward vector, hips x up),
  over frames where the true facing is clearly toward or away from the camera (|cos| >= 0.5);
- **3D turns right**: the share of takes whose lifted 3D turns the same way as the ground truth over the
  take (sign of the net change of the forward vector's heading about the camera's vertical axis), and the
  mean net turn in degrees, true and lifted;
- **lifted 3D turns the right way per window / segment**: the share of consecutive 9-frame windows and
  81-frame segments over which the lifted body's heading changes the way the true turn goes: what the
  model's own 3D could tell its embedding head;
- **MPJPE** (mm, the take's frames).
Writes `turn_by_view.json` and `table.md`.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from actionpose.data.dataset import make_sample, sequence_views, split_motions
from actionpose.data.prepare import bundled_data_dir
from actionpose.evaluate import checkpoint_sha256
from actionpose.model.lifter import body_forward, body_heading
from actionpose.model.sequence import predict_sequence
from actionpose.recognition_context import CONTEXT_FRAMES, pool_window_scores
from actionpose.train.data import load_data
from actionpose.train.model_io import load_bundle
from actionpose.train.runs import resolve_run

TURNS = ("walk-turn-left", "walk-turn-right")
CLEAR_COS = 0.5


def facing_depth(y3d: np.ndarray) -> np.ndarray:
    """`[N, 17, 3]` camera-frame 3D (x right, y down, z forward) -> `[N]` depth component (cos with the
    camera axis) of the body's forward direction `forward` (+1: facing away from the camera)."""
    fwd = forward(y3d)
    return fwd[:, 2] / np.maximum(np.linalg.norm(fwd, axis=1), 1e-9)


def forward(y3d: np.ndarray) -> np.ndarray:
    """`[N, 17, 3]` camera-frame 3D -> `[N, 3]` the body's forward direction (unnormalised), as the
    heading-reading embedding head computes it (`model.lifter.body_forward`)."""
    return body_forward(torch.as_tensor(np.asarray(y3d, dtype=np.float64))).numpy()


def _heading_unwrapped(y3d: np.ndarray) -> np.ndarray:
    """`[N, 17, 3]` camera-frame 3D -> `[N]` the heading of `forward` (`model.lifter.body_heading`,
    atan2(x, z)), unwrapped over the sequence."""
    return np.unwrap(body_heading(torch.as_tensor(np.asarray(y3d, dtype=np.float64))).numpy())


def net_turn_deg(y3d: np.ndarray) -> float:
    """`[N, 17, 3]` camera-frame 3D -> the body's net turn over the sequence in degrees: the change of the
    forward vector's heading atan2(x, z), unwrapped: a turn to the body's left is negative (a body facing
    +z, whose left is -x, turning left heads towards -x)."""
    heading = _heading_unwrapped(y3d)
    return float(np.degrees(heading[-1] - heading[0]))


def span_turn_signs(y3d: np.ndarray, span: int) -> np.ndarray:
    """`[N, 17, 3]` camera-frame 3D -> `[N // span]` the sign of the heading change (as `net_turn_deg`,
    heading unwrapped over the whole sequence) over each consecutive `span` frames (-1: to the body's
    left); a trailing part shorter than `span` is left out."""
    heading = _heading_unwrapped(y3d)
    n = len(heading) // span
    return np.sign(heading[span - 1:n * span:span] - heading[0:n * span:span])


def measure(run: str) -> dict:
    torch.set_num_threads(1)
    bundle, cfg, meta = load_bundle(run)
    vocab = bundle.vocab
    motions, _ = load_data(bundled_data_dir())
    held = [m for m in split_motions(motions, "val") if m.meta.get("content") in TURNS]
    T = cfg.model.maxlen
    acc: dict = defaultdict(lambda: defaultdict(lambda: {"segments": 0, "left": 0, "right": 0, "facing_n": 0,
                                                         "facing_agree": 0, "err_sum": 0.0, "frames": 0,
                                                         "turns": [], "spans": defaultdict(lambda: [0, 0])}))
    for m in held:
        truth = m.meta["content"]
        for vi, (view, kp_cam) in enumerate(sequence_views(m, cfg)):
            s = make_sample(m, view, kp_cam)
            pred = predict_sequence(bundle.net, s.x2d, T, flip=False)
            a = acc[truth][vi]
            _, seg = pool_window_scores(pred.windows, pred.logits, m.num_frames, CONTEXT_FRAMES)
            called = [vocab.contents[i] for i in vocab.content_scores(seg).argmax(axis=1)]
            a["segments"] += len(called)
            a["left"] += called.count("walk-turn-left")
            a["right"] += called.count("walk-turn-right")
            f_true, f_pred = facing_depth(s.y3d), facing_depth(pred.y3d)
            clear = np.abs(f_true) >= CLEAR_COS
            a["facing_n"] += int(clear.sum())
            a["facing_agree"] += int((np.sign(f_true[clear]) == np.sign(f_pred[clear])).sum())
            a["turns"].append((net_turn_deg(s.y3d), net_turn_deg(pred.y3d)))
            # Could the lift itself name the turn over a window / a segment? (the head's job, read off the 3D)
            want = -1.0 if truth == "walk-turn-left" else 1.0
            for span in (T, CONTEXT_FRAMES):
                signs = span_turn_signs(pred.y3d, span)
                a["spans"][span][0] += int((signs == want).sum())
                a["spans"][span][1] += len(signs)
            err = np.linalg.norm((pred.y3d - s.y3d) * s.mm_per_unit[:, None, None], axis=-1)
            a["err_sum"] += float(err.mean(axis=1).sum())
            a["frames"] += len(err)
    rows = []
    for truth in TURNS:
        for vi in sorted(acc[truth]):
            a = acc[truth][vi]
            rows.append({"truth": truth, "view": vi, "takes": sum(1 for m in held if m.meta["content"] == truth),
                         "segments": a["segments"], "called_left_pct": 100.0 * a["left"] / a["segments"],
                         "called_right_pct": 100.0 * a["right"] / a["segments"],
                         "called_other_pct": 100.0 * (a["segments"] - a["left"] - a["right"]) / a["segments"],
                         "facing_frames": a["facing_n"],
                         "facing_agree_pct": 100.0 * a["facing_agree"] / max(a["facing_n"], 1),
                         "turn_sign_right_pct": 100.0 * float(np.mean([np.sign(t) == np.sign(p) for t, p in a["turns"]])),
                         "true_turn_deg": float(np.mean([t for t, _ in a["turns"]])),
                         "lifted_turn_deg": float(np.mean([p for _, p in a["turns"]])),
                         "span_sign_right_pct": {str(k): 100.0 * v[0] / max(v[1], 1) for k, v in sorted(a["spans"].items())},
                         "span_counts": {str(k): v[1] for k, v in sorted(a["spans"].items())},
                         "mpjpe_mm": a["err_sum"] / a["frames"]})
    return {"run": run, "step": meta.get("step"), "checkpoint_sha256": checkpoint_sha256(resolve_run(run)),
            "frames_per_window": T, "context_frames": CONTEXT_FRAMES, "clear_cos": CLEAR_COS, "rows": rows}


def table(res: dict) -> str:
    head = ["true action", "view", "takes", "81-frame segments", "called left", "called right", "called other",
            "facing agrees (frames)", "3D turns the right way", "net turn true / lifted (deg)",
            f"lifted 3D turns the right way per {res['frames_per_window']} / {res['context_frames']} frames", "MPJPE (mm)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in res["rows"]:
        lines.append(f"| {r['truth']} | {r['view']} | {r['takes']} | {r['segments']} | {r['called_left_pct']:.0f} % | "
                     f"{r['called_right_pct']:.0f} % | {r['called_other_pct']:.0f} % | "
                     f"{r['facing_agree_pct']:.0f} % ({r['facing_frames']:,}) | {r['turn_sign_right_pct']:.0f} % | "
                     f"{r['true_turn_deg']:+.0f} / {r['lifted_turn_deg']:+.0f} | "
                     f"{r['span_sign_right_pct'][str(res['frames_per_window'])]:.0f} / "
                     f"{r['span_sign_right_pct'][str(res['context_frames'])]:.0f} % | {r['mpjpe_mm']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="demo")
    ap.add_argument("--out", default="benchmarks/results/turn_by_view")
    args = ap.parse_args(argv)
    res = measure(args.run)
    res["protocol"] = ("bundled held-out walk-turn takes x 4 fixed virtual cameras, GT 2D, no flip; called = top "
                       "action of each 81-frame segment (mean of its windows' logits)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "turn_by_view.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "table.md").write_text(table(res))
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
