"""Heavy work, cached: keyed by the run folder and the modification time of the files it reads, so
replacing a run's checkpoint is picked up without restarting the app."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz


def mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="loading the model…", max_entries=4)
def predictor(run_dir: str, stamp: float) -> ap.Predictor:
    return ap.Predictor.from_run(run_dir)


@st.cache_resource(show_spinner="loading data…", max_entries=4)
def motions(data: str) -> tuple[list, dict]:
    return ap.load_data(data or None)


def motion(data: str, name: str):
    for m in motions(data)[0]:
        if m.name == name:
            return m
    raise ValueError(f"{data or 'bundled data'}: no sequence named {name!r}")


@st.cache_resource(show_spinner="lifting the sequence…", max_entries=64)
def clip(run_dir: str, stamp: float, data: str, seq: str, view: int, flip: bool) -> ap.ClipView:
    """One held-out sequence through one view (never mutate the returned object: it is shared)."""
    return ap.lift_clip(predictor(run_dir, stamp), motion(data, seq), view, flip=flip)


@st.cache_resource(show_spinner="drawing the viewer…", max_entries=32)
def viewer_figure(run_dir: str, stamp: float, data: str, seq: str, view: int, flip: bool, frame: int,
                  color_by: str, links: bool, cmax_mm: float):
    c = clip(run_dir, stamp, data, seq, view, flip)
    fps = motion(data, seq).fps
    return viz.pose_viewer_figure(c.x2d, c.pred_mm, c.gt_mm, c.joint_err_mm, image_size_wh=c.image_size_wh,
                                  frame=frame, color_by=color_by, links=links, cmax_mm=cmax_mm, fps=fps,
                                  uirevision=f"{seq}/{view}")


@st.cache_data(max_entries=16)
def read_json(path: str, stamp: float) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno})") from None


def run_eval(run_dir: Path | str) -> dict:
    """The run's eval.json ({} when it has none)."""
    path = Path(run_dir) / "eval.json"
    return read_json(str(path), mtime(path)) if path.exists() else {}


@st.cache_resource(show_spinner=False, max_entries=256)
def sequence_embeddings(run_dir: str, stamp: float, data: str, split: str, seq: str) -> ap.EmbeddingSet:
    """One held-out sequence's window embeddings, every view (the projector's progress counts these)."""
    return ap.extract_embeddings(run_dir, motions=[motion(data, seq)], split=split, views_per_sequence=99,
                                 write=False)


def merge_embeddings(parts: list[ap.EmbeddingSet]) -> ap.EmbeddingSet:
    """Sets of the same run (same label texts) -> one set, windows in order."""
    first = parts[0]
    cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in
           ("motion", "motion_labels", "motion_source", "motion_view", "motion_frames")}
    return ap.EmbeddingSet(cat["motion"], cat["motion_labels"], cat["motion_source"], first.text, first.text_labels,
                           first.sentences, cat["motion_view"], cat["motion_frames"], dict(first.provenance))


@st.cache_resource(show_spinner="reading embeddings…", max_entries=8)
def embeddings(run_dir: str, stamp: float, data: str, split: str, subset: bool) -> ap.EmbeddingSet:
    """The run's embeddings.npz (`subset` False) or embeddings computed now on one sequence per
    action of `split`, all views (`subset` True). Window frames are filled in for older files."""
    ms, _ = motions(data)
    if subset:
        held = ap.stratified_subset(ap.split_motions(ms, split))
        es = merge_embeddings([sequence_embeddings(run_dir, stamp, data, split, m.name) for m in held])
    else:
        es = ap.EmbeddingSet.load(Path(run_dir) / "embeddings.npz")
    cfg = predictor(run_dir, stamp).cfg
    return ap.fill_window_frames(es, {m.name: m.num_frames for m in ms}, cfg.model.maxlen)


@st.cache_resource(show_spinner="projecting embeddings (UMAP: a few seconds the first time, then cached)…",
                   max_entries=16)
def projection(run_dir: str, stamp: float, data: str, split: str, subset: bool, method: str,
               seed: int) -> ap.Projection:
    return ap.project_embeddings(embeddings(run_dir, stamp, data, split, subset), method=method, seed=seed)


@st.cache_data(max_entries=64, show_spinner="embedding the text…")
def embed_texts(texts: tuple[str, ...], run_dir: str, stamp: float) -> np.ndarray:
    return ap.embed_texts(list(texts), predictor(run_dir, stamp).cfg.text)


@st.cache_data(max_entries=8, show_spinner="finding off-screen joints…")
def offscreen_table(run_dir: str, stamp: float, data: str, split: str) -> pd.DataFrame:
    ms, _ = motions(data)
    return pd.DataFrame(ap.view_offscreen_table(ap.split_motions(ms, split), predictor(run_dir, stamp).cfg))


@st.cache_data(max_entries=8)
def metrics_df(run_dir: str, stamp: float, name: str = "metrics.jsonl") -> pd.DataFrame:
    """metrics.jsonl (or the log `name`) as a table sorted by step (a resumed run may log steps out of file order)."""
    df = pd.DataFrame(ap.read_metrics(Path(run_dir), name))
    if "step" in df:
        df = df.sort_values("step", kind="stable").reset_index(drop=True)
    return df
