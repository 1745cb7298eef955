"""The explorer in a real browser (headless Debian Chromium driven by playwright): each of the
inspector's jobs — 3D viewer playback, projector click → viewer, text query → gallery → viewer,
evaluate now, upload a COCO-17 file → 3D (and a bad file's one-line error), compare two runs. Saves a
screenshot of each under the test's tmp folder (and docs/img/ when ACTIONPOSE_SCREENSHOTS=1)."""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest
from app_support import APP, ROOT, TABS, make_runs_root, write_coco17_file
from browser_support import NEEDS_CHROMIUM, chromium, free_port, local_server

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]
DOCS_IMG = ROOT / "docs" / "img"


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("streamlit")
    port = free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "OMP_NUM_THREADS": "1"}
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]
    with local_server(cmd, f"{url}/_stcore/health", "streamlit", cwd=ROOT, env=env, timeout_s=60, poll_s=0.3,
                      stop_timeout_s=10):
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, server):
    pg = browser.new_page(viewport={"width": 1500, "height": 1250})
    pg.goto(server, wait_until="domcontentloaded")
    pg.get_by_role("heading", name="actionpose explorer").wait_for(timeout=90_000)
    pg.locator(".js-plotly-plot").first.wait_for(timeout=90_000)
    yield pg
    pg.close()


def _shot(page, tmp_path, name: str) -> Path:
    time.sleep(0.8)  # let plotly finish drawing
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("ACTIONPOSE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / f"app_{name}.png"))
    assert path.stat().st_size > 20_000
    return path


def _no_errors(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    errors = page.locator("[data-testid='stAlertContentError']").all_inner_texts()
    assert not errors, errors


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def _selected_tab(page) -> str:
    return page.get_by_role("tab", selected=True).inner_text().strip()


def _wait_tab(page, name: str, timeout_s: float = 30) -> None:
    deadline = time.time() + timeout_s
    while _selected_tab(page) != name:
        assert time.time() < deadline, f"still on tab {_selected_tab(page)!r}, expected {name!r}"
        time.sleep(0.3)


def _viewer_caption(page, timeout_ms: int = 60_000) -> str:
    cap = page.locator("[data-testid='stCaptionContainer']", has_text="image ").first
    cap.wait_for(timeout=timeout_ms)
    return cap.inner_text()


def _wait_viewer_shows(page, seq: str, timeout_s: float = 60) -> str:
    """The viewer caption once it names `seq`.

    Streamlit streams a rerun top to bottom and keeps the previous run's elements until each is
    replaced, so the tab bar can already say "Viewer" while the caption below is still the old clip's.
    """
    deadline = time.time() + timeout_s
    cap = _viewer_caption(page)
    while seq not in cap and time.time() < deadline:
        time.sleep(0.3)
        cap = _viewer_caption(page)
    return cap


def _viewer(page):
    """The 3D viewer: a plotly chart in the camera-keeping component's iframe (app/explorer/camera_chart)."""
    return page.frame_locator("iframe[title$='camera_chart']").first


def _slider_value(page) -> int:
    """The viewer slider's current value ('frame N', drawn by plotly.js in the browser)."""
    label = _viewer(page).locator(".js-plotly-plot .slider-container text.slider-label", has_text="frame").first
    label.wait_for(timeout=60_000)
    return int(re.findall(r"\d+", label.text_content() or "")[0])


_CAMERA = "gd => JSON.stringify(gd._fullLayout.scene._scene.getCamera())"


def _camera(page) -> dict:
    """The 3D camera the viewer shows now (read from plotly.js's gl3d scene)."""
    import json
    return json.loads(_viewer(page).locator("#plot").evaluate(_CAMERA))


def _same_camera(a: dict, b: dict, tol: float = 1e-6) -> bool:
    return all(abs(a[p][k] - b[p][k]) <= tol for p in ("eye", "up", "center") for k in "xyz")


def _renders(page) -> int:
    return int(_viewer(page).locator("#plot").get_attribute("data-renders") or 0)


def _wait_rerender(page, before: int, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while _renders(page) <= before:
        assert time.time() < deadline, "the viewer was not redrawn after the rerun"
        time.sleep(0.3)
    time.sleep(0.5)


def test_viewer_plays_client_side(page, tmp_path):
    assert [t.strip() for t in page.get_by_role("tab").all_inner_texts()] == TABS
    viewer = _viewer(page)
    viewer.get_by_text("▶ play").first.wait_for(timeout=60_000)
    _no_errors(page)
    assert "MPJPE" in viewer.locator(".js-plotly-plot .g-gtitle").first.text_content()
    start = _slider_value(page)
    title = viewer.locator(".js-plotly-plot .g-gtitle").first
    viewer.locator(".js-plotly-plot .updatemenu-button").first.click()  # ▶ play
    time.sleep(2.0)
    viewer.locator(".js-plotly-plot .updatemenu-button").nth(1).click()  # ❚❚ pause
    moved = _slider_value(page)
    assert moved > start  # frames advanced in the browser; the server did not rerun the page
    assert title.text_content().startswith(f"frame {moved} · MPJPE")
    assert page.locator("[data-testid='stStatusWidget']").count() == 0 or \
        "Running" not in page.locator("[data-testid='stStatusWidget']").inner_text()
    _shot(page, tmp_path, "viewer")


def test_projector_click_opens_the_clip_in_the_viewer(page, tmp_path):
    _tab(page, "Projector")
    page.get_by_text("label texts (★)").first.wait_for(timeout=90_000)
    _no_errors(page)
    _shot(page, tmp_path, "projector")
    point = page.locator(".js-plotly-plot .scatterlayer .trace").first.locator("path.point").first
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 4, y)
    page.mouse.move(x, y)
    page.locator(".hoverlayer .hovertext").first.wait_for(timeout=10_000)
    hover = page.locator(".hoverlayer .hovertext").first.text_content()
    seq = hover.split("·")[0].strip()
    assert "truth:" in hover and "top-1:" in hover and "cos" in hover
    page.mouse.click(x, y)
    _wait_tab(page, "Viewer")
    assert seq in _wait_viewer_shows(page, seq)


def test_text_query_gallery_opens_a_match(page, tmp_path):
    _tab(page, "Retrieval")
    box = page.get_by_label("Find motions by text (ranks every held-out window of the dataset)")
    # a query with a good match: a weak one ("a person kicks") puts its gallery in a collapsed expander
    # below the no-good-match notice (tested in test_app_views.py)
    box.fill("a person waves both hands")
    box.press("Enter")
    page.get_by_text("#1 · cos").first.wait_for(timeout=90_000)
    opens = page.get_by_role("button", name="open in viewer")
    deadline = time.time() + 60
    while opens.count() < 8 and time.time() < deadline:
        time.sleep(0.3)
    assert opens.count() == 8
    page.get_by_text("recognition confusion").first.wait_for(timeout=30_000)
    _no_errors(page)
    _shot(page, tmp_path, "retrieval")
    # cards fill the columns left to right, so the first card (best match) is first in the page
    seq = page.locator("[data-testid='stMarkdownContainer'] strong", has_text="_").first.inner_text().strip()
    opens.first.click()
    _wait_tab(page, "Viewer")
    assert seq in _wait_viewer_shows(page, seq)


def test_evaluate_now_shows_its_checkpoint(page, tmp_path):
    _tab(page, "Triage")
    page.get_by_role("button", name="Evaluate now").click()
    page.get_by_text("evaluations made in this session").first.wait_for(timeout=30_000)
    # the shipped demo's stage as its checkpoint names it (fine-tuned, then its head re-fitted)
    made = page.locator("[data-testid='stCaptionContainer']", has_text="finetune + head re-fit checkpoint step 4000")
    made.first.wait_for(timeout=120_000)  # when and from which checkpoint, recorded by the evaluation
    assert "sha256" in made.first.inner_text() and "file time" not in made.first.inner_text()
    page.get_by_text("Worst views by MPJPE").first.wait_for(timeout=30_000)
    _no_errors(page)
    _shot(page, tmp_path, "triage")


def test_upload_coco17_gives_3d_and_bad_file_one_line(page, tmp_path):
    _tab(page, "Bring your own 2D")
    good = write_coco17_file(tmp_path / "clip_coco17.json")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(good))
    page.get_by_role("button", name="download 3D (.json)").wait_for(timeout=90_000)
    assert page.get_by_text("clip_coco17.json: 60 frames, layout coco17").count() == 1
    _viewer(page).get_by_text("▶ play").first.wait_for(timeout=30_000)
    _no_errors(page)
    _shot(page, tmp_path, "upload")
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(bad))
    err = page.locator("[data-testid='stAlertContentError']").first
    err.wait_for(timeout=60_000)
    text = err.inner_text().strip()
    assert text.startswith("broken.json: not valid JSON") and "\n" not in text and "Traceback" not in text


def test_compare_two_runs(page, tmp_path):
    root = make_runs_root(tmp_path / "runs")
    rootbox = page.get_by_role("textbox", name="Runs root folder")
    rootbox.fill(str(root))
    rootbox.press("Enter")
    runbox = page.get_by_role("textbox", name="Run folder", exact=True)
    runbox.fill(str(root / "a"))
    runbox.press("Enter")
    page.locator("[data-testid='stCaptionContainer']", has_text=str(root / "a")).first.wait_for(timeout=60_000)
    _tab(page, "Compare runs")
    page.get_by_text("MPJPE per action (mm)").first.wait_for(timeout=60_000)
    page.get_by_text("MPJPE per joint (mm)").first.wait_for(timeout=30_000)
    _no_errors(page)
    assert page.locator(".js-plotly-plot").count() >= 5
    _shot(page, tmp_path, "compare")


def _drag_scene(page) -> None:
    """Rotate the 3D scene: press in its middle and drag right and down (real mouse events)."""
    plot = _viewer(page).locator("#plot")
    box = plot.bounding_box()
    dom = plot.evaluate("gd => { const s = gd._fullLayout._size, d = gd._fullLayout.scene.domain; "
                        "return [s.l + s.w * (d.x[0] + d.x[1]) / 2, s.t + s.h * (1 - (d.y[0] + d.y[1]) / 2)]; }")
    x, y = box["x"] + dom[0], box["y"] + dom[1]
    page.mouse.move(x, y)
    time.sleep(0.2)
    page.mouse.down()
    time.sleep(0.2)
    for k in range(1, 21):
        page.mouse.move(x + 8 * k, y + 3 * k)
        time.sleep(0.03)
    page.mouse.up()
    time.sleep(0.5)


def test_viewer_keeps_the_rotated_camera(page, tmp_path):
    """Issue 22: the 3D camera the user rotated to stays through a slider step, play/pause, a click on
    the error strip (a rerun at another frame) and a "colour by" change (a rerun with another figure)."""
    viewer = _viewer(page)
    viewer.get_by_text("▶ play").first.wait_for(timeout=60_000)
    time.sleep(1.0)
    default = _camera(page)
    _drag_scene(page)
    rotated = _camera(page)
    assert not _same_camera(rotated, default, tol=0.05), "the drag did not rotate the 3D view"

    # client-side: one slider step, then play and pause (Plotly.animate redraws the scene)
    start = _slider_value(page)
    rail = viewer.locator(".js-plotly-plot .slider-rail-rect").first.bounding_box()
    page.mouse.click(rail["x"] + rail["width"] * 0.25, rail["y"] + rail["height"] / 2)
    time.sleep(0.8)
    assert _slider_value(page) != start
    assert _same_camera(_camera(page), rotated), "a slider step reset the camera"
    viewer.locator(".js-plotly-plot .updatemenu-button").first.click()  # ▶ play
    time.sleep(1.5)
    viewer.locator(".js-plotly-plot .updatemenu-button").nth(1).click()  # ❚❚ pause
    time.sleep(0.5)
    assert _same_camera(_camera(page), rotated), "play/pause reset the camera"

    # server side: a click on the error strip reruns the page at that frame
    before = _renders(page)
    strip = page.locator("[data-testid='stPlotlyChart']").first
    strip.scroll_into_view_if_needed()
    time.sleep(0.5)
    box = strip.locator(".scatterlayer .trace").first.locator("path.point").nth(30).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 3, y)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.get_by_text("opens at frame 30").first.wait_for(timeout=60_000)
    _wait_rerender(page, before)
    assert _slider_value(page) == 30
    assert _same_camera(_camera(page), rotated), "a click on the error strip reset the camera"

    # server side: "colour by" gives another figure (same clip and view)
    before = _renders(page)
    page.get_by_text("left / right").first.click()
    _wait_rerender(page, before)
    assert "coloured by error" not in viewer.locator(".js-plotly-plot").first.inner_text()
    assert _same_camera(_camera(page), rotated), "a 'colour by' change reset the camera"
    _no_errors(page)
    _shot(page, tmp_path, "viewer_camera")


def _png(download) -> bytes:
    data = Path(download.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "the download is not a PNG"
    return data


def test_deep_link_opens_view_frame_camera_and_exports_png(browser, server, tmp_path):
    """Issue 22: a link with run state in its query parameters opens that take, view, frame and 3D camera,
    and the address bar follows the view; each figure's modebar saves a PNG in the browser (the 3D viewer
    inside its component frame too)."""
    import urllib.parse

    import actionpose as ap
    m = ap.split_motions(ap.load_data(None)[0], "val")[2]
    cam = "1.6,-0.6,0.3,0,0,0,0,0,1"
    pg = browser.new_page(viewport={"width": 1500, "height": 1250}, accept_downloads=True)
    try:
        pg.goto(f"{server}/?tab=Viewer&seq={urllib.parse.quote(m.name)}&view=1&frame=17&cam={cam}",
                wait_until="domcontentloaded")
        assert m.name in _viewer_caption(pg, timeout_ms=120_000) and "view 1" in _viewer_caption(pg)
        _viewer(pg).get_by_text("▶ play").first.wait_for(timeout=60_000)
        time.sleep(1.0)
        assert _slider_value(pg) == 17
        eye = _camera(pg)["eye"]
        assert [round(eye[k], 3) for k in "xyz"] == [1.6, -0.6, 0.3], eye
        _no_errors(pg)
        q = urllib.parse.parse_qs(urllib.parse.urlparse(pg.url).query)
        assert q["seq"] == [m.name] and q["view"] == ["1"] and q["tab"] == ["Viewer"] and q["frame"] == ["17"]
        # PNG of the error strip (st.plotly_chart's modebar) and of the 3D viewer (component frame)
        strip = pg.locator("[data-testid='stPlotlyChart']").first
        strip.scroll_into_view_if_needed()
        strip.hover()
        with pg.expect_download(timeout=60_000) as dl:
            strip.locator(".modebar-btn[data-title^='Download plot as a P']").first.click()
        assert dl.value.suggested_filename == f"{m.name}_view1_error_strip.png"
        _png(dl.value)
        _viewer(pg).locator("#plot").hover()
        with pg.expect_download(timeout=60_000) as dl3:
            _viewer(pg).locator(".modebar-btn[data-title^='Download plot as a P']").first.click()
        assert dl3.value.suggested_filename == f"{m.name}_view1_frame17.png" and len(_png(dl3.value)) > 20_000
        _shot(pg, tmp_path, "deep_link")
    finally:
        pg.close()
