"""actionpose explorer: predictions, errors, embeddings, masks and training curves of one run folder.

    streamlit run app/main.py

Imports only the `actionpose` public API and `actionpose.viz` (design §2). Every failure is shown as a
one-line `st.error`, never a traceback. Only the open tab runs, and heavy work (model, data,
predictions, evaluation, projections) is cached, keyed by the run folder and the modification time of
the files it reads, so replacing a run's checkpoint is picked up without restarting the app.
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

APP_TITLE = "actionpose explorer"
TABS = ("Predictions", "Errors", "Embeddings", "Masking", "Training")
RUNS_DIRS = (Path.cwd() / "runs", Path(__file__).resolve().parent.parent / "runs")
MASK_PROBS = ("joint_prob", "frame_prob", "part_prob", "window_prob")
# Widgets whose value survives switching tabs (only the open tab runs, and Streamlit forgets the
# state of widgets it did not draw): their defaults live here, not in the widget calls.
PERSISTED = {"run": "demo", "run_pick": "", "data": "", "flip": False, "emb_method": "PCA",
             "emb_recompute": False, "emb_max_seq": 20, "zs_text": "", "err_live": False, "err_flip": True,
             "err_max_seq": 0, "err_inspect": 0, "train_log": True, "train_other": "", "mask_seed": 0}


# ----------------------------------------------------------------------------------------- helpers

def one_line(e: BaseException) -> str:
    """The first line of an exception's message (library errors already name the file and field)."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line if isinstance(e, (ValueError, OSError, RuntimeError, ImportError)) else f"{type(e).__name__}: {line}"


@contextmanager
def guard():
    """Show any error raised inside the block as one line and carry on with the rest of the page."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - shown to the user, never as a traceback
        st.error(one_line(e))


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def find_runs() -> list[str]:
    """Run folders (holding config.yaml) under ./runs, up to two levels deep."""
    found: list[str] = []
    for root in dict.fromkeys(RUNS_DIRS):
        if not root.is_dir():
            continue
        for cfg in sorted(list(root.glob("*/config.yaml")) + list(root.glob("*/*/config.yaml"))):
            try:
                rel = str(cfg.parent.relative_to(Path.cwd()))
            except ValueError:
                rel = str(cfg.parent)
            if rel not in found:
                found.append(rel)
    return found


def majority(labels: list[str]) -> str:
    labels = [x for x in labels if x]
    return Counter(labels).most_common(1)[0][0] if labels else ""


def _pick_run() -> None:
    if st.session_state.get("run_pick"):
        st.session_state["run"] = st.session_state["run_pick"]


def _inspect_sequence(cases: list[tuple[str, int, float]]) -> None:
    """Errors tab → Predictions tab with the chosen failure case selected."""
    i = st.session_state.get("err_inspect") or 0
    if 0 < i <= len(cases):
        st.session_state["seq"], st.session_state["view"] = cases[i - 1][:2]
        st.session_state["tab"] = "Predictions"
    st.session_state["err_inspect"] = 0


# ----------------------------------------------------------------------------------- cached work

@st.cache_resource(show_spinner="loading the model…", max_entries=4)
def load_predictor(run_dir: str, stamp: float) -> ap.Predictor:
    return ap.Predictor.from_run(run_dir)


@st.cache_resource(show_spinner="loading data…", max_entries=4)
def load_motions(data: str) -> tuple[list, dict]:
    return ap.load_data(data or None)


def _motion(data: str, name: str):
    motions, _ = load_motions(data)
    for m in motions:
        if m.name == name:
            return m
    raise ValueError(f"{data or 'bundled data'}: no sequence named {name!r}")


@st.cache_data(show_spinner="lifting the sequence…", max_entries=64)
def predict_clip(run_dir: str, stamp: float, data: str, seq: str, view_idx: int, flip: bool) -> dict:
    """One held-out sequence seen through one view: 2D input, 3D prediction and ground truth in mm,
    per-frame MPJPE, per-window action top-k and window embeddings."""
    pred = load_predictor(run_dir, stamp)
    m = _motion(data, seq)
    views = ap.sequence_views(m, pred.cfg)
    if not 0 <= view_idx < len(views):
        raise ValueError(f"{seq}: view {view_idx} out of range (0..{len(views) - 1})")
    view, kp_cam = views[view_idx]
    s = ap.make_sample(m, view, kp_cam)
    res = pred.predict(s.x2d, fps=m.fps, top_k=5, flip=flip, where=seq)
    scale = s.mm_per_unit[:, None, None]
    pred_mm, gt_mm = res.y3d * scale, s.y3d * scale
    err = np.linalg.norm(pred_mm - gt_mm, axis=-1)[:, np.asarray(m.joint_valid, dtype=bool)]
    per_frame = err.mean(axis=1)
    fv = m.meta.get("valid_frames")
    if fv is not None:
        per_frame = np.where(np.asarray(fv, dtype=bool), per_frame, np.nan)
    return {"x2d": s.x2d, "pred_mm": pred_mm, "gt_mm": gt_mm, "per_frame_mm": per_frame,
            "windows": res.windows, "actions": res.actions, "motion_emb": res.motion_emb,
            "frame_labels": m.frame_labels(), "source_2d": m.kp2d_source if kp_cam else "gt (projected)"}


@st.cache_data(show_spinner="evaluating the run on the held-out split…", max_entries=8)
def evaluate_now(run_dir: str, stamp: float, data: str, split: str, flip: bool, max_seq: int) -> dict:
    return ap.evaluate(run_dir, data or None, split=split, flip=flip, write=False,
                       max_sequences=max_seq or None).to_dict()


@st.cache_data(max_entries=8)
def read_eval(path: str, stamp: float) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno})") from None


@st.cache_resource(show_spinner="embedding held-out windows…", max_entries=8)
def load_embeddings(run_dir: str, stamp: float, data: str, split: str, max_seq: int) -> ap.EmbeddingSet:
    """`max_seq` < 0: the run's embeddings.npz; else computed on `max_seq` sequences of the split (0 = all)."""
    if max_seq < 0:
        return ap.EmbeddingSet.load(Path(run_dir) / "embeddings.npz")
    return ap.extract_embeddings(run_dir, data or None, split=split, write=False, max_sequences=max_seq or None)


@st.cache_data(show_spinner="projecting embeddings (UMAP compiles on its first call: ~30 s)…", max_entries=16)
def projection(run_dir: str, stamp: float, data: str, split: str, max_seq: int, method: str) -> np.ndarray:
    return ap.project_2d(load_embeddings(run_dir, stamp, data, split, max_seq), method=method)


@st.cache_data(max_entries=8)
def read_metrics_df(run_dir: str, stamp: float) -> pd.DataFrame:
    return pd.DataFrame(ap.read_metrics(Path(run_dir)))


# ---------------------------------------------------------------------------------------- context

@dataclass
class Ctx:
    run_dir: Path
    stamp: float  # checkpoint mtime: invalidates caches when a run is replaced
    cfg: object
    meta: dict
    data: str  # "" = the run's data (the bundled Bandai-Namco subset for the demo)
    split: str
    held: list  # Motion records of the split (empty when the data failed to load)
    seq: str | None  # the sequence and view chosen in the sidebar
    view: int
    flip: bool

    @property
    def key(self) -> tuple[str, float]:
        return str(self.run_dir), self.stamp

    def predictor(self) -> ap.Predictor:
        return load_predictor(*self.key)

    def clip(self) -> dict:
        return predict_clip(*self.key, self.data, self.seq, self.view, self.flip)


def sidebar() -> Ctx | None:
    sb = st.sidebar
    sb.header("Run")
    sb.text_input("Run folder", key="run", help="'demo' = the run bundled with the package; "
                  "or a folder holding config.yaml + checkpoint.safetensors")
    runs = find_runs()
    if st.session_state.get("run_pick") not in [""] + runs:
        st.session_state["run_pick"] = ""
    if runs:
        sb.selectbox("Runs found under ./runs", [""] + runs, key="run_pick", on_change=_pick_run,
                     format_func=lambda r: r or "(pick one)")
    else:
        sb.caption("no run folders under ./runs")
    sb.header("Data")
    data_in = sb.text_input("Prepared data folder", key="data",
                            placeholder="empty = the run's data (bundled Bandai-Namco subset)").strip()
    try:
        run_dir = ap.resolve_run(st.session_state["run"].strip() or "demo")
        cfg = ap.load_run_config(run_dir)
    except Exception as e:  # noqa: BLE001
        st.error(one_line(e))
        return None
    try:
        meta = json.loads((run_dir / "checkpoint.json").read_text())
    except (OSError, json.JSONDecodeError):
        meta = {}
    data = data_in or (cfg.data.path or "")
    motions = None
    splits = ["val"]
    try:
        motions, info = load_motions(data)
        splits = sorted({str(m.meta.get("split")) for m in motions if m.meta.get("split")}) or ["val"]
        sb.caption(f"{info.get('path', data)}: {len(motions)} sequences")
    except Exception as e:  # noqa: BLE001
        st.error(one_line(e))
    if st.session_state.get("split") not in splits:
        st.session_state["split"] = cfg.data.val_split if cfg.data.val_split in splits else splits[0]
    split = sb.selectbox("Split", splits, key="split")
    held = ap.split_motions(motions, split) if motions is not None else []
    if motions is not None and not held:
        st.error(f"{data or 'bundled data'}: no sequences in split {split!r}")

    sb.header("Sequence")
    seq, view = None, 0
    if held:
        by_name = {m.name: m for m in held}
        if st.session_state.get("seq") not in by_name:
            st.session_state["seq"] = held[0].name
        seq = sb.selectbox("Held-out sequence", list(by_name), key="seq",
                           format_func=lambda n: f"{n} ({by_name[n].num_frames} frames)")
        views = ap.sequence_views(by_name[seq], cfg)
        if not 0 <= int(st.session_state.get("view") or 0) < len(views):
            st.session_state["view"] = 0
        view = sb.selectbox("View (camera)", list(range(len(views))), key="view",
                            format_func=lambda i: f"view {i} ({views[i][0].camera.name or 'camera'})")
    flip = sb.checkbox("flip test-time augmentation", key="flip",
                       help="average the prediction with that of the left-right mirrored input")
    return Ctx(run_dir, _mtime(run_dir / "checkpoint.safetensors"), cfg, meta, data, split, held, seq, int(view),
               bool(flip))


def header(ctx: Ctx) -> None:
    c = ctx.cfg
    st.caption(f"run **{ctx.run_dir}** · preset {c.model.preset} · variant {c.variant} · stage {c.train.stage} · "
               f"step {ctx.meta.get('step', '?')} · T = {c.model.maxlen} frames · split **{ctx.split}** "
               f"({len(ctx.held)} sequences)")


def _need_sequence(ctx: Ctx) -> bool:
    if ctx.seq is None:
        st.info("No held-out sequence loaded (see the error above).")
        return False
    return True


# ------------------------------------------------------------------------------------------- tabs

def tab_predictions(ctx: Ctx) -> None:
    if not _need_sequence(ctx):
        return
    r = ctx.clip()
    err = r["per_frame_mm"]
    n = len(err)
    k1, k2, k3, k4 = st.columns(4)
    k1.metric("MPJPE (sequence)", f"{np.nanmean(err):.1f} mm")
    k2.metric(f"worst frame (#{int(np.nanargmax(err))})", f"{np.nanmax(err):.1f} mm")
    k3.metric("frames", n)
    k4.metric("2D source", r["source_2d"])
    st.caption(f"**{ctx.seq}** · labels: {', '.join(sorted(set(x for x in r['frame_labels'] if x))) or '(none)'} · "
               "3D is root-relative in the camera frame, de-normalised to mm with the sample's scale")
    t = st.slider("Frame", 0, n - 1, 0, key=f"frame_{ctx.seq}_{ctx.view}") if n > 1 else 0
    a, b = st.columns(2)
    a.plotly_chart(viz.pose2d_figure(r["x2d"][t], title=f"2D input (normalised screen), frame {t}"), key="pred_2d")
    b.plotly_chart(viz.pose3d_figure(r["pred_mm"][t], r["gt_mm"][t],
                                     title=f"3D prediction vs ground truth (mm), frame {t}: {err[t]:.1f} mm"),
                   key="pred_3d")
    fig = viz.error_timeline_figure(err, title="MPJPE per frame (mm)")
    fig.add_vline(x=t, line_dash="dot", line_color="#888")
    st.plotly_chart(fig, key="pred_timeline")

    st.subheader("Action recognition per window")
    if not any(r["actions"]):
        st.info("This run has no motion-text embedding head, so it cannot name actions.")
        return
    rows = []
    for (s, e), acts in zip(r["windows"].tolist(), r["actions"]):
        row = {"frames": f"{s}–{e - 1}", "ground truth": majority(r["frame_labels"][s:e]) or "(none)",
               "at frame": "◀" if s <= t < e else ""}
        row.update({f"top-{i + 1}": f"{text} ({score:.2f})" for i, (text, score) in enumerate(acts)})
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("score = softmax probability over the run's label vocabulary (learned temperature); "
               "windows overlap, every frame is predicted once (blended)")


def _eval_header(h: dict, summary: pd.DataFrame) -> None:
    protocols = ", ".join(dict.fromkeys(str(p) for p in summary["protocol"] if p)) if "protocol" in summary else "?"
    st.markdown(
        f"**{h.get('dataset', '?')}** · split **{h.get('split', '?')}** · 2D source **{h.get('2d_source', '?')}** · "
        f"protocols {protocols} · T = {h.get('frames_per_window', '?')} frames ({h.get('windows', '')}) · "
        f"flip TTA {'on' if h.get('flip_tta') else 'off'}")
    st.caption(f"{h.get('sequences', '?')} sequences, {h.get('views', '?')} views, {h.get('frames', '?')} frames · "
               f"aggregation: {h.get('aggregation', '?')} · step {h.get('step', '?')} · {h.get('compute', '')}")


def tab_errors(ctx: Ctx) -> None:
    path = ctx.run_dir / "eval.json"
    live = st.toggle(f"Evaluate now on split '{ctx.split}' of the selected data (instead of the run's eval.json)",
                     key="err_live")
    if live:
        c1, c2 = st.columns(2)
        flip = c1.checkbox("flip TTA", key="err_flip")
        max_seq = c2.number_input("sequences (0 = all)", 0, 100_000, step=10, key="err_max_seq")
        if not ctx.held:
            st.info("No held-out sequences loaded (see the error above).")
            return
        rep = evaluate_now(*ctx.key, ctx.data, ctx.split, bool(flip), int(max_seq))
    elif not path.exists():
        st.info(f"{path}: no eval.json in this run; switch on 'Evaluate now' or run `actionpose evaluate`.")
        return
    else:
        rep = read_eval(str(path), _mtime(path))
    h = rep.get("header", {})
    summary = pd.DataFrame(rep.get("summary") or [])
    _eval_header(h, summary)
    st.subheader("Summary")
    st.dataframe(summary, hide_index=True)
    recog = rep.get("recognition") or {}
    if recog:
        c1, c2, c3 = st.columns(3)
        c1.metric("recognition top-1", f"{recog['top1_pct']:.1f} %")
        c2.metric("top-5", f"{recog['top5_pct']:.1f} %")
        c3.metric("chance top-1", f"{recog['chance_top1_pct']:.1f} %",
                  help=f"{recog.get('windows')} windows, {recog.get('labels')} labels ({recog.get('vocab_field')})")
    a, b = st.columns(2)
    with a:
        st.subheader("Per action")
        st.dataframe(pd.DataFrame(rep.get("per_action") or []), hide_index=True)
    with b:
        pj = {row["joint"]: row["mpjpe_mm"] for row in rep.get("per_joint") or []}
        st.plotly_chart(viz.per_joint_figure(pj, title="MPJPE per joint (mm)"), key="err_joint")

    st.subheader("Worst sequences")
    per_seq = pd.DataFrame(rep.get("per_sequence") or [])
    if per_seq.empty:
        st.info("This eval.json has no per-sequence table; switch on 'Evaluate now'.")
        return
    # eval.json lists each sequence's views in sequence_views order; camera names need not be unique.
    per_seq.insert(2, "view #", per_seq.groupby("sequence", sort=False).cumcount())
    per_seq = per_seq.sort_values("mpjpe_mm", ascending=False).reset_index(drop=True)
    st.dataframe(per_seq, height=min(35 * (len(per_seq) + 1) + 3, 400))
    held = {m.name for m in ctx.held}
    cases = [(r["sequence"], int(r["view #"]), float(r["mpjpe_mm"])) for r in per_seq.head(50).to_dict("records")
             if r["sequence"] in held]
    if cases:
        st.selectbox("Inspect a failure case (opens it in the Predictions tab)", list(range(len(cases) + 1)),
                     key="err_inspect", on_change=_inspect_sequence, args=(cases,),
                     format_func=lambda i: "(choose a sequence)" if i == 0 else
                     f"{cases[i - 1][0]}, view {cases[i - 1][1]} ({cases[i - 1][2]:.1f} mm)")
    else:
        st.caption(f"(these sequences are not in split '{ctx.split}' of the selected data)")


def tab_embeddings(ctx: Ctx) -> None:
    has_file = (ctx.run_dir / "embeddings.npz").exists()
    c1, c2, c3 = st.columns([2, 3, 2])
    method = c1.radio("Projection", ["PCA", "UMAP"], horizontal=True, key="emb_method",
                      help="UMAP (cosine, as in the paper's figures; ~30 s the first time) or PCA (instant)")
    recompute = not has_file or c2.toggle(f"Recompute on split '{ctx.split}' of the selected data",
                                          key="emb_recompute", help="default: the run's embeddings.npz")
    if recompute:
        if not ctx.held:
            st.info("No held-out sequences loaded (see the error above).")
            return
        max_seq = int(c3.number_input("sequences (0 = all)", 0, 100_000, step=10, key="emb_max_seq"))
    else:
        max_seq = -1
    stamp = max(ctx.stamp, _mtime(ctx.run_dir / "embeddings.npz"))
    args = (str(ctx.run_dir), stamp, ctx.data, ctx.split, max_seq)
    es = load_embeddings(*args)
    pts = projection(*args, method.lower())
    W, L = len(es.motion), len(es.text)
    labels = [x or "(unlabelled)" for x in es.motion_labels.tolist()] + es.text_labels.tolist()
    src = "the run's embeddings.npz" if max_seq < 0 else f"computed on split '{ctx.split}'"
    st.plotly_chart(viz.embedding_figure(pts, labels, ["motion"] * W + ["text"] * L,
                                         title=f"{method} of {W} motion windows (dots) and {L} label texts (stars), "
                                               f"{src}"), key="emb_fig")
    k1, k2, k3 = st.columns(3)
    labelled = int((es.motion_labels != "").sum())
    if L and labelled:
        k1.metric("recognition top-1 (nearest label text)", f"{ap.recognition_from_embeddings(es):.1f} %")
        k2.metric("chance", f"{100.0 / L:.1f} %")
    k3.metric("labelled windows", f"{labelled} / {W}")

    st.subheader("Zero-shot query")
    if not _need_sequence(ctx):
        return
    text = st.text_input("Any action text(s), separated by ';'", key="zs_text",
                         placeholder="e.g. a person kicks; a person waves both hands")
    st.caption(f"cosine similarity of each window of **{ctx.seq}** (view {ctx.view}, chosen in the sidebar) "
               "to the text embedding")
    texts = [x.strip() for x in text.split(";") if x.strip()]
    if not texts:
        return
    r = ctx.clip()
    if r["motion_emb"] is None:
        st.info("This run has no motion-text embedding head.")
        return
    scores = ctx.predictor().score_texts(r["motion_emb"], texts)
    mid = r["windows"].mean(axis=1)
    st.plotly_chart(viz.curves_figure({t: (mid, scores[:, i]) for i, t in enumerate(texts)},
                                      title="zero-shot cosine per window", xaxis_title="window centre (frame)",
                                      yaxis_title="cosine"), key="zs_fig")
    wins = r["windows"].tolist()
    df = pd.DataFrame(scores, columns=texts)
    df.insert(0, "frames", [f"{s}–{e - 1}" for s, e in wins])
    df.insert(1, "ground truth", [majority(r["frame_labels"][s:e]) or "(none)" for s, e in wins])
    df["best label text"] = [acts[0][0] if acts else "" for acts in r["actions"]]
    st.dataframe(df, hide_index=True)


def _mask_kinds(rec: dict) -> np.ndarray:
    """Code per keypoint of clip 0 indexing viz.MASK_KINDS: random joint/frame over window over part."""
    mask = np.asarray(rec["mask"])[0]
    kinds = np.where(mask, 3, 0)  # hidden by none of the others: the body part
    if rec["windows"][0] is not None:
        s, e = rec["windows"][0]
        kinds[s:e] = 4
    kinds[np.asarray(rec["frame_mask"])[0]] = 2
    kinds[np.asarray(rec["joint_mask"])[0]] = 1
    return np.where(mask, kinds, 0)


def tab_masking(ctx: Ctx) -> None:
    import torch  # mask_batch works on tensors, exactly as in the training loop

    base = ctx.cfg.mask
    if all(getattr(base, p) == 0 for p in MASK_PROBS):
        variant = ctx.cfg.variant if ctx.cfg.variant in ap.VARIANTS else "actionpose"
        base = ap.make_config(ctx.cfg.model.preset, variant).mask
        st.info(f"Masks are off in this run (stage {ctx.cfg.train.stage}); showing the pretraining defaults of "
                f"variant '{variant}'.")
    if not _need_sequence(ctx):
        return
    with st.expander("Mask probabilities and seed", expanded=False):
        cols = st.columns(5)
        probs = {p: cols[i].slider(p.replace("_", " "), 0.0, 1.0, float(getattr(base, p)), 0.01, key=f"mask_{p}")
                 for i, p in enumerate(MASK_PROBS)}
        seed = cols[4].number_input("seed", 0, 1_000_000, key="mask_seed")
    mcfg = dataclasses.replace(base, **probs)
    x2d = ctx.clip()["x2d"]
    T, n = int(ctx.cfg.model.maxlen), len(x2d)
    start = st.slider("Clip start frame", 0, n - T, 0, key=f"mask_start_{ctx.seq}") if n > T else 0
    clip = np.asarray(x2d[start:start + T], dtype=np.float32)
    _, rec = ap.mask_batch(torch.from_numpy(clip[None]), mcfg, torch.Generator().manual_seed(int(seed)))
    rec = rec.to_numpy()
    st.markdown(f"**{ctx.seq}**, frames {start}–{start + len(clip) - 1}: {ap.describe_mask(rec, 0)}")
    st.caption("p(joint) = {joint_prob:.2f}, p(frame) = {frame_prob:.2f}, p(body part) = {part_prob:.2f}, "
               "p(time window) = {window_prob:.2f} (window length {lo:.1%}–{hi:.1%} of the clip); "
               "change the seed for another draw".format(**probs, lo=mcfg.window_min_frac, hi=mcfg.window_max_frac))
    st.plotly_chart(viz.mask_figure(_mask_kinds(rec), title="hidden keypoints (joints × frames)"), key="mask_map")
    t = st.slider("Frame in clip", 0, len(clip) - 1, 0, key=f"mask_frame_{ctx.seq}") if len(clip) > 1 else 0
    st.plotly_chart(viz.pose2d_figure(clip[t], hidden=rec["mask"][0, t], title=f"clip frame {t}: hidden joints as ×"),
                    key="mask_pose")


def _curves(df: pd.DataFrame, prefix: str = "") -> tuple[dict, dict, dict]:
    train = df[df["split"] == "train"] if "split" in df else df.iloc[:0]
    val = df[df["split"] == "val"] if "split" in df else df.iloc[:0]
    skip = {"step", "split", "lr", "grad_norm", "clips_per_s"}
    losses = {prefix + c: (train["step"], train[c]) for c in train.columns
              if c not in skip and pd.api.types.is_numeric_dtype(train[c]) and train[c].notna().any()}
    mpjpe = {prefix + "val MPJPE": (val["step"], val["mpjpe_mm"])} if "mpjpe_mm" in val else {}
    acc = {prefix + name: (val["step"], 100.0 * val[c]) for c, name in
           (("top1", "top-1"), ("top5", "top-5"), ("chance_top1", "chance top-1"))
           if c in val and val[c].notna().any()}
    return losses, mpjpe, acc


def tab_training(ctx: Ctx) -> None:
    df = read_metrics_df(str(ctx.run_dir), _mtime(ctx.run_dir / "metrics.jsonl"))
    if df.empty:
        st.info(f"{ctx.run_dir / 'metrics.jsonl'}: no training records.")
        return
    c1, c2 = st.columns([1, 3])
    log_y = c1.checkbox("log scale for losses", key="train_log")
    other = c2.text_input("Overlay another run (e.g. the pretraining run this one was fine-tuned from)",
                          key="train_other", placeholder="run folder").strip()
    losses, mpjpe, acc = _curves(df, prefix=f"{ctx.cfg.train.stage}: " if other else "")
    if other:
        with guard():
            odir = ap.resolve_run(other)
            o_losses, o_mpjpe, o_acc = _curves(read_metrics_df(str(odir), _mtime(odir / "metrics.jsonl")),
                                               prefix=f"{ap.load_run_config(odir).train.stage} ({odir.name}): ")
            losses, mpjpe, acc = {**o_losses, **losses}, {**o_mpjpe, **mpjpe}, {**o_acc, **acc}
    st.plotly_chart(viz.curves_figure(losses, title="training losses (normalised units)", log_y=log_y),
                    key="train_loss")
    a, b = st.columns(2)
    if mpjpe:
        a.plotly_chart(viz.curves_figure(mpjpe, title="validation MPJPE", yaxis_title="mm"), key="train_mpjpe")
    else:
        a.info("no validation MPJPE logged")
    if acc:
        b.plotly_chart(viz.curves_figure(acc, title="validation action recognition", yaxis_title="%"),
                       key="train_top1")
    else:
        b.info("no recognition accuracy logged (a run without alignment)")
    with st.expander("last records"):
        st.dataframe(df.tail(20), hide_index=True)


RENDER = {"Predictions": tab_predictions, "Errors": tab_errors, "Embeddings": tab_embeddings,
          "Masking": tab_masking, "Training": tab_training}


# ------------------------------------------------------------------------------------------- page

def main() -> None:
    st.set_page_config(page_title=APP_TITLE, layout="wide")
    for k, v in PERSISTED.items():  # keep widget values across tabs (see PERSISTED)
        st.session_state[k] = st.session_state.get(k, v)
    st.title(APP_TITLE)
    ctx = sidebar()
    if ctx is None:
        return
    header(ctx)
    try:  # only the open tab runs (Streamlit >= 1.5x); older versions run every tab
        tabs = st.tabs(list(TABS), key="tab", on_change="rerun")
    except TypeError:
        tabs = st.tabs(list(TABS))
    for tab, name in zip(tabs, TABS):
        if getattr(tab, "open", True) is not False:
            with tab, guard():
                RENDER[name](ctx)


main()
