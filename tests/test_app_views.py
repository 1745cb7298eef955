"""Issue 22 in the explorer, through Streamlit's AppTest on the shipped demo run (every expected value is
read from the run's files or recomputed here, never written down): upload problems named in the page,
retrieval's no-good-match notice and its cache, action-level confusion and top-1, projector colouring,
floors beside every 3D number, deep links. Browser halves: test_app_browser.py."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from app_support import APP, write_coco17_file
from test_app import _app, _arr, _clean, _goto, _specs, _viewer_spec

import actionpose as ap

sys.path.insert(0, str(APP.parent))
from explorer import links, projector, retrieval  # noqa: E402

SIZE = (1920, 1080)


@pytest.fixture(scope="module")
def demo():
    run = ap.demo_run_dir()
    return {"run": run, "es": ap.EmbeddingSet.load(run / "embeddings.npz"),
            "eval": json.loads((run / "eval.json").read_text()), "cfg": ap.load_run_config(run)}


def _warnings(at) -> list[str]:
    return [w.value for w in at.warning]


# upload --------------------------------------------------------------------------------------------
def _upload(at, name: str, payload: bytes):
    at.file_uploader(key="up_file").set_value((name, payload, "application/json"))
    return at.run()


def test_upload_names_normalised_coordinates_instead_of_success(tmp_path):
    kp = np.array(json.loads(write_coco17_file(tmp_path / "c.json", size_wh=SIZE).read_text())["keypoints"])
    kp[..., 0] /= SIZE[0]
    kp[..., 1] /= SIZE[1]
    at = _app(tab="Bring your own 2D", up_w=SIZE[0], up_h=SIZE[1])
    _upload(at, "unit.json", json.dumps({"layout": "coco17", "keypoints": kp.tolist()}).encode())
    assert not at.success and not at.exception
    (err,) = [e.value for e in at.error]
    assert err.startswith("unit.json: field keypoints: the skeleton is") and "normalised to 0–1" in err
    assert "\n" not in err and "/tmp" not in err


def test_upload_several_people_and_a_gap_are_offered_fixes(tmp_path):
    kp = np.array(json.loads(write_coco17_file(tmp_path / "c.json", size_wh=SIZE).read_text())["keypoints"])
    recs = []
    for i, f in enumerate(kp):
        if i == 20:
            continue  # a missed frame
        recs += [{"keypoints": f.reshape(-1).tolist(), "image_id": i},
                 {"keypoints": (f + [350, 0, 0]).reshape(-1).tolist(), "image_id": i}]
    at = _app(tab="Bring your own 2D", up_w=SIZE[0], up_h=SIZE[1])
    _upload(at, "crowd.json", json.dumps(recs).encode())
    _clean(at)
    warn = " ".join(_warnings(at))
    assert "crowd.json: field image_id: several people in one file (59 of 60 frames" in warn
    assert at.selectbox(key="up_person_crowd.json").value == 0
    # the missing frame: person 0 is absent at frame 20 -> interpolated by default (a 1-frame gap)
    assert at.number_input(key="up_fill_crowd.json").value == 1
    (ok,) = [s.value for s in at.info if s.value.startswith("crowd.json: 60 frames")] or \
        [s.value for s in at.success if s.value.startswith("crowd.json: 60 frames")]
    assert "17 keypoints interpolated" in ok and "person 0" in ok
    # the 3D scale is unknown until a height is given
    assert any("metric scale is unknown" in c.value for c in at.caption)
    at.radio(key="up_scale").set_value("from the person's height")
    at.run()
    cap = next(c.value for c in at.caption if c.value.startswith("3D in mm"))
    assert "head-to-ankle bone path is 1700 mm" in cap
    at.selectbox(key="up_person_crowd.json").set_value(1)
    at.run()
    _clean(at)
    assert any("person 1" in s.value for s in list(at.success) + list(at.info))


# retrieval -----------------------------------------------------------------------------------------
def test_retrieval_says_when_nothing_matches(demo):
    es, cfg = demo["es"], demo["cfg"]
    query = "cooking dinner"
    q = ap.embed_texts([query], cfg.text)
    text_cos = (q / np.linalg.norm(q)) @ (es.text / np.linalg.norm(es.text, axis=1, keepdims=True)).T
    assert text_cos.max() < retrieval.TEXT_MATCH  # the vocabulary has no cooking: the rule must fire
    at = _app(tab="Retrieval", ret_query=query, ret_top=8)
    _clean(at)
    (notice,) = [w for w in _warnings(at) if w.startswith("No good match")]
    assert f"text cosine {text_cos.max():.2f} < {retrieval.TEXT_MATCH}" in notice
    present = sorted({k.split("|")[0] for k in es.motion_labels.tolist() if k})
    assert notice.endswith("Actions present among these windows: " + ", ".join(present) + ".")
    assert any(e.label.startswith("the 8 closest windows anyway") for e in at.expander)


def test_query_match_rule_and_retrieval_cache(demo, monkeypatch):
    es, cfg = demo["es"], demo["cfg"]
    q = ap.embed_texts(["a person waves the right hand"], cfg.text)
    m = retrieval.query_match(es, q)
    own = []
    for lab, mot in zip(es.motion_labels.tolist(), es.motion):
        if lab:
            t = es.text[list(es.text_labels).index(lab)]
            own.append(mot @ t / np.linalg.norm(mot) / np.linalg.norm(t))
    assert m["threshold"] == pytest.approx(np.percentile(own, retrieval.WINDOW_PERCENTILE), abs=1e-5)
    order, cos = ap.rank_windows(es, q, k=1)
    assert m["best"] == pytest.approx(float(cos[0, 0]), abs=1e-5)
    assert m["good"] == (m["text_cos"] >= retrieval.TEXT_MATCH and m["best"] >= m["threshold"] and m["present"])
    # thumbnails come from the stored windows and are cached per run + query: a rerun makes no sample
    calls = []
    real = ap.make_sample
    monkeypatch.setattr(ap, "make_sample", lambda *a, **k: calls.append(1) or real(*a, **k))
    args = (str(demo["run"]), 1.0, "", "val", False, "a person walks", 4)
    first = retrieval.ranked(*args)
    n = len(calls)
    again = retrieval.ranked(*args)
    assert n == 4 and len(calls) == n and [i["sequence"] for i in again["items"]] == [i["sequence"] for i in first["items"]]


def test_retrieval_confusion_by_action_beside_the_label_one(demo):
    es, rec = demo["es"], demo["eval"]["recognition"]
    at = _app(tab="Retrieval", ret_query="")
    _clean(at)
    titles = [s["layout"]["title"]["text"] for s in _specs(at)]
    assert any(t.startswith("recognition confusion by action") for t in titles)
    assert any(t.startswith("recognition confusion by label") for t in titles)
    table = at.dataframe[0].value
    top, _ = ap.window_top1(es)
    lab = es.motion_labels != ""
    truth = np.array([k.split("|")[0] for k in es.motion_labels[lab]])
    pred = np.array([es.text_labels[k].split("|")[0] for k in top[lab]])
    for action, pct, ev in zip(table["action"], table["top-1 % (embeddings)"], table["top-1 % (eval.json)"]):
        assert pct == pytest.approx(round(100 * np.mean(pred[truth == action] == action), 1))
        assert ev == pytest.approx(rec["per_content_top1_pct"][action])


# projector -----------------------------------------------------------------------------------------
def test_projector_colours_by_action_style_correct_and_error(demo):
    es, ev = demo["es"], demo["eval"]
    rows = projector.window_rows(es)
    at = _app(tab="Projector", proj_method="PCA", proj_color="action")
    _clean(at)
    names = {t["name"] for t in _specs(at)[0]["data"] if t.get("name") not in ("label texts ★",)}
    assert names == {k.split("|")[0] for k in es.motion_labels.tolist() if k}
    right = [r["top-1 key"].split("|")[0] == r["truth"].split("|")[0] for r in rows if r["truth"]]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["action top-1 (nearest label text)"] == f"{100 * np.mean(right):.1f} %"
    at.session_state["proj_color"] = "style"
    at.run()
    styles = {t["name"] for t in _specs(at)[0]["data"] if t.get("name") != "label texts ★"}
    assert styles == {k.split("|")[1] for k in es.motion_labels.tolist() if k}
    at.session_state["proj_color"] = "correct"
    at.run()
    traces = {t["name"]: len(_arr(t["x"])) for t in _specs(at)[0]["data"] if t.get("name") != "label texts ★"}
    assert traces == {k: v for k, v in ((projector.RIGHT, sum(right)), (projector.WRONG, len(right) - sum(right))) if v}
    at.session_state["proj_color"] = "error"
    at.run()
    _clean(at)
    tr = _specs(at)[0]["data"][0]
    per = {(r["sequence"], r["view_index"]): r["mpjpe_mm"] for r in ev["per_sequence"]}
    want = [per.get((rows[i]["sequence"], rows[i]["view"]), np.nan) for i in _arr(tr["customdata"]).astype(int)]
    assert np.allclose(np.asarray(_arr(tr["marker"]["color"]), dtype=float), np.round(want, 1), equal_nan=True)
    floor = next(r["mpjpe_mm"] for r in ev["floors"] if r["predictor"] == "flat + mean depth")
    assert tr["marker"]["cmax"] == pytest.approx(floor)
    assert any("beside the floors on the same views" in c.value and f"{floor:.1f} mm" in c.value for c in at.caption)


# floors --------------------------------------------------------------------------------------------
def test_triage_and_viewer_show_floors(demo):
    ev = demo["eval"]
    at = _app(tab="Triage")
    _clean(at)
    floors = at.dataframe[0].value
    for r in ev["floors"]:
        got = floors.set_index("predictor").loc[r["predictor"], "MPJPE mm"]
        assert got == pytest.approx(round(r["mpjpe_mm"], 1))
    # the headline says how the model stands against the MLP floor too, whichever way it falls
    mm = {r["predictor"]: r["mpjpe_mm"] for r in ev["floors"]}
    head = next(m.value for m in at.markdown if m.value.startswith("**Floors on the same frames**"))
    gap = abs(mm["model"] - mm["MLP floor"])
    word = "loses to the per-frame MLP floor" if mm["model"] >= mm["MLP floor"] else "and the per-frame MLP floor by"
    assert word in head and f"{gap:.1f} mm" in head, head
    pa = next(d.value for d in at.dataframe if "action" in d.value.columns and "mpjpe_mm" in d.value.columns)
    flat = ev["header"]["floors"]["per_action_mpjpe_mm"]["flat lift"]
    assert np.allclose(pa["flat lift mm"], [round(flat[a], 1) for a in pa["action"]])
    labels = [b.label for b in at.download_button]
    assert labels.count("download CSV") >= 3  # per action, per joint, worst views
    # Viewer: the clip's floors, recomputed here from the same 2D input and ground truth
    motions, _ = ap.load_data(None)
    m = ap.split_motions(motions, "val")[0]
    view, kp_cam = ap.sequence_views(m, demo["cfg"])[0]
    s = ap.make_sample(m, view, kp_cam)
    flat_mm = np.linalg.norm(ap.baselines.flat_lift(s.x2d) * s.mm_per_unit[:, None, None] - s.y3d * s.mm_per_unit[:, None, None], axis=-1)
    at = _app(tab="Viewer", seq=m.name, view=0, frame=0)
    _clean(at)
    cap = next(c.value for c in at.caption if c.value.startswith("**Floors on this clip**"))
    assert f"flat lift {np.nanmean(flat_mm):.1f} mm" in cap and "flat + mean depth" in cap
    strip = _specs(at)[0]
    assert [t.get("name") for t in strip["data"][-2:]] == ["flat lift", "flat + mean depth"]


# deep links ----------------------------------------------------------------------------------------
def test_deep_link_reopens_the_view_and_the_url_follows(demo):
    motions, _ = ap.load_data(None)
    m = ap.split_motions(motions, "val")[2]
    cam = {"eye": {"x": 1.5, "y": -0.5, "z": 0.25}, "center": {"x": 0, "y": 0, "z": 0}, "up": {"x": 0, "y": 0, "z": 1}}
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.query_params.update({"tab": "Viewer", "seq": m.name, "view": "1", "frame": "17", "color": "side",
                            "cam": links.camera_param(cam)})
    at.run()
    _clean(at)
    assert (at.session_state["seq"], at.session_state["view"], at.session_state["frame"]) == (m.name, 1, 17)
    assert at.session_state["color_by"] == "side"
    comp = next(c for c in at.get("component_instance") if c.proto.component_name.endswith("camera_chart"))
    args = json.loads(comp.proto.json_args)
    assert args["camera"] == cam and _viewer_spec(at)["layout"]["sliders"][0]["active"] == 17
    assert args["config"]["toImageButtonOptions"]["filename"] == f"{m.name}_view1_frame17"
    # the URL follows the state: another tab and a query are written back
    at.session_state["ret_query"] = "a person walks"
    _goto(at, "Retrieval")
    assert at.query_params["tab"] == "Retrieval" and at.query_params["q"] == "a person walks"
    assert at.query_params["seq"] == m.name and at.query_params["view"] == "1"
    # a value that does not parse is dropped with a one-line warning
    bad = AppTest.from_file(str(APP), default_timeout=180)
    bad.query_params.update({"view": "two", "tab": "Nowhere"})
    bad.run()
    (w,) = [x for x in _warnings(bad) if x.startswith("link:")]
    assert "view='two'" in w and "tab='Nowhere'" in w and "\n" not in w
