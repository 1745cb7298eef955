"""Shared page helpers: one-line errors, widget state that survives tab switches, links between views."""
from __future__ import annotations

from contextlib import contextmanager

import streamlit as st

APP_TITLE = "actionpose explorer"
TABS = ("Viewer", "Projector", "Retrieval", "Triage", "Bring your own 2D", "Compare runs", "Masking", "Training")
# Widgets whose value survives switching tabs (only the open tab runs, and Streamlit forgets the
# state of widgets it did not draw): their defaults live here, not in the widget calls.
PERSISTED = {
    "run": "demo", "run_pick": "", "runs_root": "runs", "data": "", "flip": False, "frame": 0,
    "color_by": "error", "links": False, "cmax_mm": 200,
    "proj_method": "UMAP", "proj_seed": 0, "proj_source": "the run's embeddings.npz", "proj_query": "",
    "proj_color": "label",
    "ret_query": "a person waves the right hand", "ret_top": 8,
    "tri_source": "the run's eval.json", "tri_action": "", "tri_sort": "mpjpe_mm", "eval_flip": False,
    "eval_subset": "one sequence per action", "eval_history": [],
    "up_layout": "auto", "up_w": 1920, "up_h": 1080, "up_fps": 30.0, "up_flip": False,
    "up_scale": "unknown (model units)", "up_height_mm": 1700.0,
    "cmp_b": "", "train_log": True, "mask_seed": 0,
}


def action_of(label: str) -> str:
    """The action of a vocabulary label: 'call|normal' -> 'call' (labels without a style are actions)."""
    return str(label).split("|")[0]


def csv_button(df, name: str, key: str, label: str = "download CSV") -> None:
    """A download button for a table as `name`.csv (what is on screen, every row)."""
    st.download_button(label, df.to_csv(index=False).encode(), file_name=f"{name}.csv", mime="text/csv", key=key)


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


def init_state() -> None:
    for k, v in PERSISTED.items():
        st.session_state[k] = st.session_state.get(k, v.copy() if isinstance(v, list) else v)


def open_clip(seq: str, view: int, frame: int | str = "worst") -> None:
    """Callback: show `seq` through `view` in the Viewer, at `frame` ('worst' = its worst frame)."""
    st.session_state["seq"] = seq
    st.session_state["view"] = int(view)
    st.session_state["frame"] = frame
    st.session_state["tab"] = "Viewer"


def selected_points(key: str) -> list[dict]:
    """Points selected (click, box or lasso) in the plotly chart with widget `key`."""
    state = st.session_state.get(key)
    if not state:
        return []
    sel = state.get("selection") if isinstance(state, dict) else getattr(state, "selection", None)
    if not sel:
        return []
    pts = sel.get("points") if isinstance(sel, dict) else getattr(sel, "points", None)
    return list(pts or [])


def selected_rows(key: str) -> list[int]:
    """Rows selected in the dataframe with widget `key`."""
    state = st.session_state.get(key)
    if not state:
        return []
    sel = state.get("selection") if isinstance(state, dict) else getattr(state, "selection", None)
    rows = (sel.get("rows") if isinstance(sel, dict) else getattr(sel, "rows", None)) if sel else None
    return list(rows or [])
