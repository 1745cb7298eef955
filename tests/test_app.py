"""The Streamlit explorer (app/main.py) on the bundled demo run, through Streamlit's AppTest: every tab,
the links between views, evaluate-now, retrieval, comparison and the error paths. The real-browser
tests are in test_app_browser.py."""
from __future__ import annotations

import base64
import importlib.util
import json

import numpy as np
import pytest
from app_support import ACTION_SHIFT_MM, APP, TABS, make_runs_root

import actionpose as ap

pytestmark = pytest.mark.skipif(importlib.util.find_spec("streamlit") is None,
                                reason="streamlit is not installed (pip install -e '.[app]')")


@pytest.fixture(scope="module")
def demo_run():
    run = ap.demo_run_dir()
    assert (run / "config.yaml").exists() and (run / "checkpoint.safetensors").exists(), \
        f"{run}: the bundled demo run is missing (build it with `actionpose demo --install`)"
    return run


@pytest.fixture(scope="module")
def held():
    motions, _ = ap.load_data(None)
    return ap.split_motions(motions, "val")


def _app(**state):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(APP), default_timeout=180)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _viewer_spec(at) -> dict:
    """The 3D viewer's figure: drawn by the camera-keeping component (app/explorer/camera_chart.py)."""
    comps = [c for c in at.get("component_instance") if c.proto.component_name.endswith("camera_chart")]
    assert len(comps) == 1, [c.proto.component_name for c in at.get("component_instance")]
    return json.loads(json.loads(comps[0].proto.json_args)["spec"])


def _arr(v) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed-array encoding {'dtype', 'bdata'}."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def _goto(at, tab: str):
    at.session_state["tab"] = tab
    return at.run()


def test_every_tab_renders_on_the_demo_run(demo_run, held):
    at = _app(proj_method="PCA")
    _clean(at)
    assert at.title[0].value == "actionpose explorer"
    assert [t.label for t in at.tabs] == TABS
    # Viewer: metrics, the animated 2D + 3D figure with one frame per input frame, the error strip.
    assert {"MPJPE (sequence)", "frames", "2D source", "frames with joints off screen"} <= {m.label for m in at.metric}
    viewer, strip = _viewer_spec(at), _specs(at)[0]
    n = held[0].num_frames
    assert len(viewer["frames"]) == n and viewer["layout"]["sliders"][0]["active"] == 0
    assert viewer["layout"]["scene"]["uirevision"] == f"{held[0].name}/0"
    assert [b["label"] for b in viewer["layout"]["updatemenus"][0]["buttons"]] == ["▶ play", "❚❚ pause"]
    assert len(_arr(strip["data"][0]["y"])) == n
    table = at.dataframe[0].value
    assert {"frames", "ground truth", "top-1"} <= set(table.columns)
    vocab = json.loads((demo_run / "checkpoint.json").read_text())["sentences"]
    assert set(table["ground truth"]) <= set(vocab)  # sentences, not raw 'call|normal' labels
    for tab in TABS[1:]:
        _goto(at, tab)
        _clean(at)
    _goto(at, "Training")
    steps = _arr(_specs(at)[0]["data"][0]["x"])
    assert (np.diff(steps) >= 0).all()
    # demo was built in stages: its own log is the head re-fit's (lifter frozen), and the fine-tuning that
    # trained its lifter is drawn from the log shipped beside it, with the stages named.
    ft = [r for r in ap.read_metrics(demo_run, ap.FINETUNE_LOG) if r.get("split") == "val"]
    spec = next(s for s in _specs(at) if s["layout"]["title"]["text"] == "fine-tuning: validation MPJPE")
    assert np.allclose(_arr(spec["data"][0]["y"]).astype(float), [r["mpjpe_mm"] for r in ft])
    assert any("pretrain (demo-pretrain) 2,400 → finetune 1,800 → head re-fit (demo)" in c.value for c in at.caption)


def test_worst_frame_link_opens_the_viewer_there(demo_run, held):
    m = held[3]
    at = _app(seq=m.name, view=2, frame="worst", tab="Viewer")
    _clean(at)
    clip = ap.lift_clip(ap.Predictor.from_run(demo_run), m, 2)
    worst = int(np.nanargmax(clip.frame_err_mm))
    assert at.session_state["frame"] == worst
    assert any(f"opens at frame **{worst}**" in c.value for c in at.caption)
    viewer = _viewer_spec(at)
    assert viewer["layout"]["sliders"][0]["active"] == worst
    assert f"frame {worst} · MPJPE {np.nanmean(clip.joint_err_mm[worst]):.1f} mm" in viewer["layout"]["title"]["text"]


def test_viewer_chart_keeps_its_identity_across_reruns(demo_run, held):
    """Issue 22: the 3D viewer is one mounted chart across reruns (so the browser keeps the user's camera;
    the browser half is test_app_browser.py::test_viewer_keeps_the_rotated_camera): a frame jump and a
    "colour by" change send a new figure to the same element, with the same uirevision."""
    at = _app(tab="Viewer", seq=held[0].name, view=0, frame=0)
    _clean(at)

    def viewer():
        (c,) = [c for c in at.get("component_instance") if c.proto.component_name.endswith("camera_chart")]
        return c.proto.id, json.loads(json.loads(c.proto.json_args)["spec"])

    first_id, first = viewer()
    at.session_state["frame"] = 5
    at.run()
    jump_id, jump = viewer()
    at.session_state["color_by"] = "side"
    at.run()
    side_id, side = viewer()
    _clean(at)
    assert first_id == jump_id == side_id
    assert jump["layout"]["sliders"][0]["active"] == 5 != first["layout"]["sliders"][0]["active"]
    assert "coloured by error" not in json.dumps(side["layout"]["annotations"])
    assert first["layout"]["uirevision"] == jump["layout"]["uirevision"] == side["layout"]["uirevision"] == \
        f"{held[0].name}/0"


def test_projector_states_its_method_and_places_a_query(demo_run):
    at = _app(tab="Projector", proj_method="PCA", proj_seed=0, proj_query="a person kicks")
    _clean(at)
    fig = _specs(at)[0]
    # the note is wrapped into <sup> lines at word boundaries: read it as one line
    title = fig["layout"]["title"]["text"].replace("</sup><br><sup>", " ")
    assert "PCA of" in title and "seed 0" in title and "embeddings made by" in title
    assert "fitted on the motion windows only" in title
    names = [t.get("name") for t in fig["data"]]
    assert "query ✚" in names and "label texts ★" in names
    es = ap.EmbeddingSet.load(demo_run / "embeddings.npz")
    assert len([n for n in names if n not in ("query ✚", "label texts ★", "nearest to the query")]) == \
        len(set(es.motion_labels.tolist()))
    # stars: only the label texts present among the windows, unless every text is asked for
    stars = next(t for t in fig["data"] if t.get("name") == "label texts ★")
    present = set(es.motion_labels.tolist()) & set(es.text_labels.tolist())
    assert len(_arr(stars["x"])) == len(present) < len(es.text_labels)
    assert f"{len(present)} of {len(es.text_labels)} label texts" in title
    every = _app(tab="Projector", proj_method="PCA", proj_seed=0, proj_all_texts=True)
    stars = next(t for t in _specs(every)[0]["data"] if t.get("name") == "label texts ★")
    assert len(_arr(stars["x"])) == len(es.text_labels)
    q = ap.embed_texts(["a person kicks"], ap.load_run_config(demo_run).text)
    order, cos = ap.rank_windows(es, q, k=10)
    nn = at.dataframe[0].value
    assert np.allclose(nn["query cosine"].to_numpy(), np.round(cos[0], 3))
    assert nn["sequence"].tolist() == es.motion_source[order[0]].tolist()


def test_retrieval_gallery_opens_the_best_match(demo_run):
    at = _app(tab="Retrieval", ret_query="a person waves the right hand", ret_top=8)
    _clean(at)  # a good match shows its gallery, a weak one the same cards under the no-match notice
    buttons = [b for b in at.button if b.label == "open in viewer"]
    assert len(buttons) == 8
    es = ap.EmbeddingSet.load(demo_run / "embeddings.npz")
    q = ap.embed_texts(["a person waves the right hand"], ap.load_run_config(demo_run).text)
    order, _ = ap.rank_windows(es, q, k=1)
    buttons[0].click()
    at.run()
    _clean(at)
    assert at.session_state["tab"] == "Viewer" and at.session_state["seq"] == es.motion_source[order[0, 0]]
    # per-class top-1 next to the confusion matrix: eval.json's values, as stored
    at2 = _app(tab="Retrieval", ret_query="")
    per = json.loads((demo_run / "eval.json").read_text())["recognition"]["per_class_top1_pct"]
    table = next(d.value for d in at2.dataframe if "class" in d.value.columns)  # the label-level table
    got = dict(zip(table["class"], table["top-1 % (eval.json)"]))
    assert all(got[k] == pytest.approx(v) for k, v in per.items() if k in got)


def test_evaluate_now_records_when_and_which_checkpoint(demo_run, held):
    at = _app(tab="Triage")
    _clean(at)
    assert at.session_state["eval_subset"] == "one sequence per action" and at.session_state["eval_flip"] is False
    next(b for b in at.button if b.label == "Evaluate now").click()
    at.run()
    _clean(at)
    hist = at.session_state["eval_history"]
    assert len(hist) == 1
    h = hist[0]["header"]
    meta = json.loads((demo_run / "checkpoint.json").read_text())
    assert h["checkpoint"]["step"] == meta["step"] and h["flip_tta"] is False and h["made_at"]
    subset = ap.stratified_subset(held)
    assert h["sequences"] == len(subset)
    views = at.dataframe[-1].value
    assert list(views["mpjpe_mm"]) == sorted(views["mpjpe_mm"], reverse=True)
    assert {"worst_frame", "offscreen_pct", "style"} <= set(views.columns)
    assert any("made **" in c.value and f"step {meta['step']}" in c.value for c in at.caption)


def test_triage_shows_action_level_recognition(demo_run):
    """Issue 22: the per-action table's recognition column comes from eval.json's action-level table (it
    was looked up in the action+style table and was empty for every row), and the action-level top-1
    (the README's headline) is shown beside the label-level one."""
    at = _app(tab="Triage")
    _clean(at)
    rec = json.loads((demo_run / "eval.json").read_text())["recognition"]
    pa = next(d.value for d in at.dataframe if "action" in d.value.columns)  # after the floors table
    assert "recognition top-1 %" in pa and pa["recognition top-1 %"].notna().all()
    for action, pct in zip(pa["action"], pa["recognition top-1 %"]):
        assert pct == pytest.approx(round(rec["per_content_top1_pct"][action], 1))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["action top-1"] == f"{rec['content_top1_pct']:.1f} %"
    assert metrics["action chance"] == f"{rec['content_chance_top1_pct']:.1f} %"
    assert metrics["label top-1 (action + style)"] == f"{rec['top1_pct']:.1f} %"


def test_triage_action_filter_and_offscreen_slice(demo_run, held):
    at = _app(tab="Triage", tri_action="call")
    _clean(at)
    views = at.dataframe[-1].value
    assert set(views["action"]) == {"call"}
    off = ap.view_offscreen_table(held, ap.load_run_config(demo_run))
    n_off = sum(r["offscreen_pct"] > 0 for r in off)
    assert any(f"{n_off} of {len(off)} views have joints outside the image" in c.value for c in at.caption)


def test_compare_two_runs_under_a_root_folder(tmp_path):
    root = make_runs_root(tmp_path)
    at = _app(runs_root=str(root), run=str(root / "a"), cmp_b=str(root / "b"), tab="Compare runs")
    _clean(at)
    status = at.dataframe[0].value.set_index("run")
    assert status.loc[str(root / "broken"), "health"] == "no checkpoint"
    shipped_step = json.loads((ap.demo_run_dir() / "checkpoint.json").read_text())["step"]
    assert status.loc[str(root / "b"), "health"] == "ok" and status.loc[str(root / "b"), "step"] == shipped_step
    specs = _specs(at)
    steps = [_arr(t["x"]) for t in specs[0]["data"]]
    assert len(steps) >= 2 and all((np.diff(s) >= 0).all() for s in steps)  # b's reversed metrics.jsonl drawn by step
    action = next(s for s in specs if "per action" in s["layout"]["title"]["text"])
    diff = next(t for t in action["data"] if t["name"].startswith("difference"))
    assert np.allclose(_arr(diff["y"]).astype(float), ACTION_SHIFT_MM)


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
    _goto(at, "Training")
    assert not at.exception and len(at.get("plotly_chart")) >= 1
