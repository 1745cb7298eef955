"""The Streamlit explorer (app/main.py) on the bundled demo run: Streamlit's AppTest for every tab and
the error paths, and one real-browser test (headless Debian Chromium driven by playwright)."""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "main.py"
CHROMIUM = "/usr/bin/chromium"
TABS = ["Predictions", "Errors", "Embeddings", "Masking", "Training"]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("streamlit") is None,
                                reason="streamlit is not installed (pip install -e '.[app]')")


@pytest.fixture(scope="module")
def demo_run():
    from actionpose import demo_run_dir
    run = demo_run_dir()
    assert (run / "config.yaml").exists() and (run / "checkpoint.safetensors").exists(), \
        f"{run}: the bundled demo run is missing (build it with `actionpose demo --install`)"
    return run


def _app(**state):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(APP), default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _charts(at) -> int:
    return len(at.get("plotly_chart"))


def test_every_tab_renders_on_the_demo_run(demo_run):
    at = _app()
    _clean(at)
    assert at.title[0].value == "actionpose explorer"
    assert [t.label for t in at.tabs] == TABS
    # Predictions (the default tab): 2D input, 3D vs ground truth, MPJPE timeline, top-k per window.
    assert {"MPJPE (sequence)", "frames", "2D source"} <= {m.label for m in at.metric}
    assert float(at.metric[0].value.split()[0]) > 0
    assert _charts(at) == 3
    topk = at.dataframe[0].value
    assert {"frames", "ground truth", "top-1"} <= set(topk.columns) and len(topk) >= 1

    at.session_state["tab"] = "Errors"
    at.run()
    _clean(at)
    assert "split" in at.markdown[0].value and "2D source" in at.markdown[0].value
    summary = at.dataframe[0].value
    assert {"MPJPE", "P-MPJPE"} <= set(summary["metric"])
    worst = at.dataframe[-1].value
    assert list(worst["mpjpe_mm"]) == sorted(worst["mpjpe_mm"], reverse=True)
    assert _charts(at) == 1  # per-joint bars

    at.session_state["tab"] = "Embeddings"
    at.run()
    _clean(at)
    assert _charts(at) == 1
    assert "recognition top-1 (nearest label text)" in {m.label for m in at.metric}

    at.session_state["tab"] = "Masking"
    at.run()
    assert not at.exception and not at.error
    assert any("keypoints hidden" in md.value for md in at.markdown)
    assert _charts(at) == 2  # joints × frames map + the pose at one frame

    at.session_state["tab"] = "Training"
    at.run()
    _clean(at)
    assert _charts(at) >= 2


def test_zero_shot_query_masks_and_failure_case_link(demo_run):
    at = _app(tab="Embeddings", zs_text="a person kicks; a person waves both hands")
    _clean(at)
    scores = at.dataframe[0].value
    assert {"a person kicks", "a person waves both hands"} <= set(scores.columns)
    assert ((scores["a person kicks"] >= -1) & (scores["a person kicks"] <= 1)).all()

    at.session_state["tab"] = "Masking"
    at.session_state["mask_seed"] = 3
    at.run()
    at.slider(key="mask_part_prob").set_value(1.0)
    at.slider(key="mask_window_prob").set_value(1.0)
    at.run()
    text = " ".join(md.value for md in at.markdown)
    assert "body part" in text and "time window" in text

    at.session_state["tab"] = "Errors"
    at.run()
    pick = at.selectbox(key="err_inspect")
    pick.set_value(1)
    at.run()
    _clean(at)
    assert at.session_state["tab"] == "Predictions"
    assert at.selectbox(key="seq").value == at.session_state["seq"]
    assert "MPJPE (sequence)" in {m.label for m in at.metric}


@pytest.mark.parametrize("run, message", [("/no/such/run", "no such run folder"), (None, "not a run folder")])
def test_bad_run_folder_is_one_line_error(tmp_path, run, message):
    at = _app(run=run or str(tmp_path))
    assert not at.exception
    assert len(at.error) == 1
    err = at.error[0].value
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not at.tabs


def test_bad_data_folder_is_one_line_error(demo_run, tmp_path):
    at = _app(data=str(tmp_path / "missing"))
    assert not at.exception
    assert len(at.error) == 1 and "no such prepared data dir" in at.error[0].value
    assert "\n" not in at.error[0].value
    assert [t.label for t in at.tabs] == TABS  # the run's own tables still show
    at.session_state["tab"] = "Training"
    at.run()
    assert not at.exception and _charts(at) >= 1


# ------------------------------------------------------------------------------------------ browser

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(demo_run):
    port = _free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
                pytest.fail(f"streamlit did not come up on {url}: {out[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)")
def test_app_in_a_real_browser(server, tmp_path):
    pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server, wait_until="domcontentloaded")
            page.get_by_role("heading", name="actionpose explorer").wait_for(timeout=45_000)
            assert page.title() == "actionpose explorer"
            tabs = page.get_by_role("tab")
            tabs.first.wait_for(timeout=30_000)
            assert [t.strip() for t in tabs.all_inner_texts()] == TABS
            page.locator(".js-plotly-plot").first.wait_for(timeout=45_000)  # Predictions: the pose figures
            page.get_by_role("tab", name="Training").click()
            page.get_by_text("training losses").first.wait_for(timeout=30_000)
            assert page.locator("[data-testid='stException']").count() == 0
            assert page.locator("[data-testid='stAlertContentError']").count() == 0
            shot = tmp_path / "training_tab.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
