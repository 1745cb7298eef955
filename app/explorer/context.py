"""The sidebar: which run (picked from a root folder), which data, split, sequence and view."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

import actionpose as ap

from . import cache, runs
from .common import one_line


@dataclass
class Ctx:
    run: str  # what the user chose ('demo', a folder)
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
        return cache.predictor(*self.key)

    def clip(self, seq: str | None = None, view: int | None = None) -> ap.ClipView:
        return cache.clip(*self.key, self.data, seq or self.seq, self.view if view is None else view, self.flip)

    @property
    def checkpoint_line(self) -> str:
        return (f"{Path(self.run_dir).name} · {self.meta.get('stage') or self.cfg.train.stage} checkpoint · "
                f"step {self.meta.get('step', '?')} · config {self.meta.get('config_hash') or '?'}")


def _pick_run() -> None:
    if st.session_state.get("run_pick"):
        st.session_state["run"] = st.session_state["run_pick"]


@st.cache_data(ttl=30, show_spinner=False)
def _statuses(root: str, stamp: float) -> list[dict]:
    names = runs.shipped_runs() + [r for r in runs.find_runs(root) if r not in runs.SHIPPED]
    return [runs.run_status(r) for r in names]


def run_statuses() -> list[dict]:
    root = str(st.session_state.get("runs_root") or "runs")
    return _statuses(root, cache.mtime(Path(root)))


def sidebar() -> Ctx | None:
    sb = st.sidebar
    sb.header("Run")
    sb.text_input("Runs root folder", key="runs_root", help="run folders (holding config.yaml) are listed from here, "
                  "up to three levels deep; the runs shipped with the package are always listed")
    statuses = run_statuses()
    by_run = {s["run"]: s for s in statuses}
    if st.session_state.get("run_pick") not in [""] + list(by_run):
        st.session_state["run_pick"] = ""
    sb.selectbox("Pick a run", [""] + list(by_run), key="run_pick", on_change=_pick_run,
                 format_func=lambda r: runs.label(by_run[r]) if r else "(pick one: run · stage · step · health)")
    sb.text_input("Run folder", key="run", help="'demo' / 'demo-pretrain' = the runs bundled with the package; "
                  "or a folder holding config.yaml + checkpoint.safetensors")
    sb.header("Data")
    data_in = sb.text_input("Prepared data folder", key="data",
                            placeholder="empty = the run's data (bundled Bandai-Namco subset)").strip()
    run = st.session_state["run"].strip() or "demo"
    try:
        run_dir = ap.resolve_run(run)
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
        motions, info = cache.motions(data)
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
    return Ctx(run, run_dir, cache.mtime(run_dir / "checkpoint.safetensors"), cfg, meta, data, split, held, seq,
               int(view), bool(flip))


def header(ctx: Ctx) -> None:
    c = ctx.cfg
    st.caption(f"run **{ctx.run_dir}** · preset {c.model.preset} · variant {c.variant} · stage "
               f"{ctx.meta.get('stage') or c.train.stage} · step {ctx.meta.get('step', '?')} · T = {c.model.maxlen} "
               f"frames · split **{ctx.split}** ({len(ctx.held)} sequences)")


def need_sequence(ctx: Ctx) -> bool:
    if ctx.seq is None:
        st.info("No held-out sequence loaded (see the error above).")
        return False
    return True
