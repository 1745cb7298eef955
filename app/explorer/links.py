"""Deep links: the view on screen lives in the page URL's query parameters (`st.query_params`), so a
copied link reopens the same run, tab, take, view, frame, 3D camera, query and colouring.

`restore()` reads the URL once per browser session, before any widget is drawn (a value that does not
parse is dropped with a one-line warning); `publish()` writes the current state back after every run,
leaving out values equal to the defaults so links stay short."""
from __future__ import annotations

import streamlit as st

from .common import PERSISTED, TABS

# URL parameter -> session-state key and type; 'cam' is the 3D viewer's camera (see camera_param).
LINKED: dict[str, tuple[str, type]] = {
    "run": ("run", str), "data": ("data", str), "split": ("split", str), "tab": ("tab", str), "seq": ("seq", str),
    "view": ("view", int), "frame": ("frame", int), "flip": ("flip", bool), "color": ("color_by", str),
    "q": ("ret_query", str), "pq": ("proj_query", str), "pcolor": ("proj_color", str), "action": ("tri_action", str),
}
CAMERA_KEYS = [(p, a) for p in ("eye", "center", "up") for a in "xyz"]
READ_FLAG = "_links_read"


def camera_param(cam: dict) -> str:
    """A plotly 3D camera as 9 comma-separated numbers (eye, center, up; x y z each)."""
    return ",".join(f"{float(cam[p][a]):.4g}" for p, a in CAMERA_KEYS)


def parse_camera(text: str) -> dict:
    vals = [float(v) for v in text.split(",")]
    if len(vals) != 9:
        raise ValueError(f"expected 9 numbers, got {len(vals)}")
    cam: dict = {}
    for (p, a), v in zip(CAMERA_KEYS, vals):
        cam.setdefault(p, {})[a] = v
    return cam


def _parse(kind: type, text: str):
    if kind is bool:
        if text.lower() not in ("1", "0", "true", "false"):
            raise ValueError("expected 1 or 0")
        return text.lower() in ("1", "true")
    return kind(text)


def restore() -> None:
    """Once per session: URL parameters -> session state (before the widgets read it)."""
    if st.session_state.get(READ_FLAG):
        return
    st.session_state[READ_FLAG] = True
    bad = []
    for name, text in st.query_params.to_dict().items():
        try:
            if name == "cam":
                seq, view = st.query_params.get("seq"), st.query_params.get("view", "0")
                st.session_state["link_camera"] = {"camera": parse_camera(text), "revision": f"{seq}/{view}"}
            elif name in LINKED:
                key, kind = LINKED[name]
                value = _parse(kind, text)
                if key == "tab" and value not in TABS:
                    raise ValueError(f"expected one of {', '.join(TABS)}")
                st.session_state[key] = value
                if key == "run":
                    st.session_state["run_pick"] = ""
        except ValueError as e:
            bad.append(f"{name}={text!r} ({e})")
    if bad:
        st.warning("link: ignored parameter(s) " + "; ".join(bad))


def current_camera(revision: str) -> dict | None:
    """The viewer camera to put in the link: the one the user left for `revision`, else the link's."""
    value = st.session_state.get("viewer_fig")
    if isinstance(value, dict) and value.get("revision") == revision and value.get("camera"):
        return value["camera"]
    link = st.session_state.get("link_camera")
    return link["camera"] if link and link.get("revision") == revision else None


def publish() -> None:
    """Session state -> URL parameters (only values that differ from the defaults, plus the tab)."""
    params: dict[str, str] = {}
    for name, (key, kind) in LINKED.items():
        value = st.session_state.get(key)
        if value is None or value == "" or (key in PERSISTED and value == PERSISTED[key]):
            continue
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):  # e.g. frame 'worst' mid-link
            continue
        params[name] = ("1" if value else "0") if kind is bool else str(value)
    if st.session_state.get("tab") == "Viewer" and st.session_state.get("seq") is not None:
        cam = current_camera(f"{st.session_state['seq']}/{st.session_state.get('view', 0)}")
        if cam:
            params["cam"] = camera_param(cam)
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)
