"""Notebook widgets in a real JupyterLab page (headless Debian Chromium driven by playwright): a cell
built with `ap.interact` shows its plotly figure once, moving the slider redraws that figure with new
data, and `ap.record_facts` draws nothing (issue 22). In-process and kernel-level versions of the same
checks are in test_teaching.py."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest
from browser_support import NEEDS_CHROMIUM, chromium, free_port, local_server

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    NEEDS_CHROMIUM,
    pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None,
                       reason="jupyterlab is not installed (pip install -e '.[notebooks]')"),
    pytest.mark.skipif(importlib.util.find_spec("ipywidgets") is None, reason="ipywidgets is not installed"),
]
TOKEN = "actionpose-test"
TIMEOUT_MS = 300_000  # JupyterLab is slow to start on a busy 2-core machine

CELLS = [
    "import actionpose as ap\nimport ipywidgets as widgets\nimport plotly.graph_objects as go\n\n"
    "def bars(n):\n    return go.Figure(go.Bar(y=list(range(n))), layout=dict(title=f'{n} bars'))\n\n"
    "ap.interact(bars, n=widgets.IntSlider(value=3, min=1, max=9, description='bars'))",
    "ap.record_facts(answer=42)",
]


def _notebook(folder: Path) -> Path:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                     "source": src} for i, src in enumerate(CELLS)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = folder / "widgets.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    (root / "nb").mkdir()
    _notebook(root / "nb")
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(root / "ws"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"), "OMP_NUM_THREADS": "1"}
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.token={TOKEN}", "--ServerApp.open_browser=False", f"--ServerApp.root_dir={root / 'nb'}"]
    with local_server(cmd, f"{url}/api/status?token={TOKEN}", "jupyter lab", cwd=root / "nb", env=env,
                      timeout_s=TIMEOUT_MS / 1000, poll_s=1, stop_timeout_s=20):
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _bars(page) -> int:
    """How many bars the figure under the widget cell draws now (plotly.js's own data in the page)."""
    plots = page.locator(".jp-Cell").first.locator(".jp-OutputArea .js-plotly-plot")
    assert plots.count() == 1, f"the widget cell shows {plots.count()} figures, expected exactly one"
    return plots.first.evaluate("gd => gd.data[0].y.length")


def _wait_bars(page, n: int) -> None:
    deadline = time.time() + TIMEOUT_MS / 1000
    while True:
        try:
            if _bars(page) == n:
                return
        except Exception:  # noqa: BLE001 - the output is being replaced
            pass
        assert time.time() < deadline, f"the figure never showed {n} bars"
        time.sleep(0.5)


def test_slider_redraws_the_figure_in_jupyterlab(lab, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    ok = False
    try:
        page.goto(f"{lab}/lab/tree/widgets.ipynb?token={TOKEN}", wait_until="domcontentloaded")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=TIMEOUT_MS)
        # the kernel is up (cells run before that are dropped): the status bar says so
        page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=TIMEOUT_MS)
        page.locator(".jp-Cell .jp-InputPrompt").first.click()  # command mode on the first cell
        for _ in CELLS:
            page.keyboard.press("Shift+Enter")
            time.sleep(0.5)
        page.locator(".jp-Cell").first.locator(".jp-OutputArea .js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
        page.locator(".jp-Cell").nth(1).locator(".jp-InputPrompt", has_text="[2]").wait_for(timeout=TIMEOUT_MS)
        time.sleep(1.0)
        assert _bars(page) == 3
        # moving the slider (keyboard on its handle, as a user would) redraws the same figure
        handle = page.locator(".jp-Cell").first.locator(".widget-slider .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        handle.press("ArrowRight")
        _wait_bars(page, 5)
        assert "5 bars" in page.locator(".jp-Cell").first.locator(".js-plotly-plot .gtitle").text_content()
        # the facts are in the notebook for the tests but nothing is drawn for the reader
        facts = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
        assert not "".join(facts.all_inner_texts()).strip()
        ok = True
    finally:
        page.screenshot(path=str(tmp_path / ("jupyterlab_widget.png" if ok else "jupyterlab_widget_failed.png")))
        page.close()
