"""A plotly chart that keeps the user's 3D camera across frame steps, play/pause and reruns.

`st.plotly_chart` cannot: its element id hashes the figure, so every rerun that changes the figure
(a click on the error strip, "colour by") mounts a new chart at the figure's default camera, and the
browser's plotly.js resets a dragged camera on every `Plotly.animate` redraw (play, pause, slider).
This is a small Streamlit component (camera_chart.html, no build step): an iframe with a stable key
that redraws each new figure in place with `Plotly.react` and re-applies the camera the user left for
the figure's `layout.uirevision`. plotly.js is the copy shipped in the plotly Python package, so the
chart needs no network.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import plotly
import plotly.graph_objects as go
import streamlit.components.v1 as components

HTML = Path(__file__).with_suffix(".html")
NAME = "actionpose_camera_chart"


def plotly_js_path() -> Path:
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.exists():
        raise OSError(f"{path}: plotly.min.js is missing from the plotly package (reinstall plotly)")
    return path


@lru_cache(maxsize=1)
def component_dir() -> Path:
    """The component's folder (index.html + plotly.min.js), made once per page version and plotly."""
    html = HTML.read_bytes()
    tag = hashlib.sha256(html + plotly.__version__.encode()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"actionpose-camera-chart-{tag}"
    if not (out / "index.html").exists():
        tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
        shutil.copyfile(plotly_js_path(), tmp / "plotly.min.js")
        (tmp / "index.html").write_bytes(html)  # written last: its presence marks a complete folder
        try:
            tmp.rename(out)
        except OSError:  # another process made it first
            shutil.rmtree(tmp, ignore_errors=True)
    return out


@lru_cache(maxsize=1)
def _component():
    return components.declare_component(NAME, path=str(component_dir()))


def png_config(filename: str, scale: int = 2) -> dict:
    """plotly config whose modebar camera button saves the figure as `filename`.png (in the browser:
    plotly.js renders the image, no server-side renderer needed)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename) or "figure"
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": safe, "scale": scale}}


def camera_chart(fig: go.Figure, key: str, filename: str = "figure", camera: dict | None = None) -> dict | None:
    """Draw `fig` (its `layout.uirevision` names whose camera to keep) in the widget `key`; the modebar
    saves it as `filename`.png. `camera`: the 3D camera to open with when the browser remembers none for
    this uirevision (a deep link). Returns the camera the user last left (None before any drag)."""
    value = _component()(spec=fig.to_json(), config=png_config(filename), camera=camera, key=key, default=None)
    return value.get("camera") if isinstance(value, dict) else None
