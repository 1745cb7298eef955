"""The library pieces behind the explorer: projections that show alignment (texts placed among their
nearest motions), stored/cached projections, retrieval, confusion, window frames for older files,
off-screen joints, the clip viewer figure and the label colour/symbol pairs."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import actionpose as ap
from actionpose import clips, viz
from actionpose.embeddings import EmbeddingSet


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _gap_set(n_per: int = 12, classes: int = 4, gap: float = 3.0, seed: int = 0) -> EmbeddingSet:
    """Motions of `classes` classes around class directions, all shifted by +g; texts = class
    direction shifted by -g: perfectly aligned (each text's nearest motions are its class) yet far
    apart as two modalities (the modality gap)."""
    rng = np.random.default_rng(seed)
    d = 16
    dirs = np.eye(d)[:classes]
    g = np.zeros(d)
    g[-1] = gap
    motion = _unit(np.concatenate([dirs[c] + g + 0.15 * rng.normal(size=(n_per, d)) for c in range(classes)]))
    text = _unit(dirs - g)
    labels = np.repeat([f"c{c}" for c in range(classes)], n_per)
    return EmbeddingSet(motion.astype(np.float32), labels, np.array([f"s{i}" for i in range(len(labels))]),
                        text.astype(np.float32), np.array([f"c{c}" for c in range(classes)]),
                        np.array([f"class {c}" for c in range(classes)]))


def test_place_near_motions_is_the_mean_of_the_k_most_similar_windows():
    motion = np.eye(4, dtype=np.float32)
    xy = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    q = _unit(np.array([[0.1, 1.0, 0.6, 0.0]], dtype=np.float32))
    assert np.allclose(ap.place_near_motions(motion, xy, q, k=1), [[10, 0]])
    assert np.allclose(ap.place_near_motions(motion, xy, q, k=2), [[5, 5]])  # windows 1 and 2
    with pytest.raises(ValueError, match="no motion windows"):
        ap.place_near_motions(np.zeros((0, 4)), np.zeros((0, 2)), q)


def test_texts_fall_among_their_own_motions_despite_a_modality_gap(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONPOSE_CACHE", str(tmp_path))
    es = _gap_set()
    proj = ap.project_embeddings(es, method="pca", seed=0)
    centroids = np.stack([proj.motion_xy[es.motion_labels == t].mean(axis=0) for t in es.text_labels])
    d = np.linalg.norm(proj.text_xy[:, None] - centroids[None], axis=-1)  # [text, class centroid]
    assert (d.argmin(axis=1) == np.arange(len(es.text))).all()
    # The joint fit (both modalities in one PCA) shows the gap instead: every text is nearer to the
    # other texts than to any motion cluster — the failure this placement avoids.
    joint = np.concatenate([es.motion, es.text])
    jc = joint - joint.mean(axis=0)
    pts = jc @ np.linalg.svd(jc, full_matrices=False)[2][:2].T
    m2, t2 = pts[: len(es.motion)], pts[len(es.motion):]
    jcent = np.stack([m2[es.motion_labels == t].mean(axis=0) for t in es.text_labels])
    to_own = np.linalg.norm(t2 - jcent, axis=1)
    between_texts = np.linalg.norm(t2[:, None] - t2[None], axis=-1)[~np.eye(len(t2), dtype=bool)].max()
    assert to_own.min() > between_texts
    assert "fitted on the motion windows only" in proj.note and "seed 0" in proj.note


def test_projection_is_cached_in_the_user_dir_and_stored_projections_win(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONPOSE_CACHE", str(tmp_path))
    es = _gap_set(seed=1)
    first = ap.project_embeddings(es, method="pca", seed=3)
    assert first.source == "computed"
    files = list((tmp_path / "projections").glob("*.npy"))
    assert len(files) == 1 and "pca_s3" in files[0].name
    again = ap.project_embeddings(es, method="pca", seed=3)
    assert again.source == "cache" and np.array_equal(again.motion_xy, first.motion_xy)
    assert np.allclose(again.text_xy, ap.place_near_motions(es.motion, first.motion_xy, es.text))
    es.projections[first.key] = np.full((len(es.motion) + len(es.text), 2), 7.0, dtype=np.float32)
    stored = ap.project_embeddings(es, method="pca", seed=3)
    assert stored.source == "stored" and (stored.motion_xy == 7).all()
    with pytest.raises(ValueError, match="expected 'umap' or 'pca'"):
        ap.project_embeddings(es, method="tsne")


def test_embedding_file_roundtrip_and_older_files(tmp_path):
    es = _gap_set(n_per=3, classes=2)
    es.motion_view = np.array([0, 1, 2, 0, 1, 2])
    es.motion_frames = np.array([[0, 81], [39, 120], [0, 81], [0, 50], [0, 50], [0, 50]])
    es.provenance = {"run": "r", "stage": "pretrain", "step": 7, "checkpoint_sha256": "abc"}
    es.projections = {"pca_s0_v1": np.ones((8, 2), dtype=np.float32)}
    back = EmbeddingSet.load(es.save(tmp_path / "e.npz"))
    assert back.provenance == es.provenance and np.array_equal(back.motion_frames, es.motion_frames)
    assert np.array_equal(back.motion_view, es.motion_view) and back.projections["pca_s0_v1"].shape == (8, 2)
    assert "pretrain checkpoint, step 7" in ap.describe_provenance(back.provenance)
    # A file written before views/frames/provenance: loads, frames unknown, rebuilt from lengths.
    old = tmp_path / "old.npz"
    np.savez(old, motion=es.motion, motion_labels=es.motion_labels, text=es.text, text_labels=es.text_labels,
             sentences=es.sentences, motion_source=np.array(["a", "a", "b", "c", "c", "c"]))
    legacy = EmbeddingSet.load(old)
    assert (legacy.motion_frames == -1).all() and legacy.provenance == {}
    assert "not recorded" in ap.describe_provenance(legacy.provenance)
    ap.fill_window_frames(legacy, {"a": 120, "b": 50, "c": 90}, maxlen=81)
    assert legacy.motion_frames[:3].tolist() == [[0, 81], [39, 120], [0, 50]]
    assert (legacy.motion_frames[3:] == -1).all()  # c: 2 windows expected, 3 rows: left unknown
    bad = tmp_path / "bad.npz"
    np.savez(bad, motion=es.motion)
    with pytest.raises(ValueError, match="missing field"):
        EmbeddingSet.load(bad)


def test_rank_windows_top1_and_confusion_are_consistent():
    es = _gap_set(n_per=5, classes=3, gap=0.2)
    q = es.text[1:2]
    order, cos = ap.rank_windows(es, q, k=6)
    direct = (_unit(es.motion) @ _unit(q).T)[:, 0]
    assert np.allclose(cos[0], np.sort(direct)[::-1][:6], atol=1e-6)
    assert set(es.motion_labels[order[0][:5]]) == {"c1"}
    counts, rows, cols = ap.confusion_from_embeddings(es)
    top, _ = ap.window_top1(es)
    assert counts.sum() == len(es.motion) and rows == ["c0", "c1", "c2"]
    assert np.trace(counts) / counts.sum() * 100 == pytest.approx(ap.recognition_from_embeddings(es))
    assert counts[0, cols.index(es.text_labels[top[0]])] >= 1


def test_checkpoint_provenance_names_the_demo_checkpoint():
    run = ap.demo_run_dir()
    prov = ap.checkpoint_provenance(run)
    meta = json.loads((run / "checkpoint.json").read_text())
    assert prov["step"] == meta["step"] and prov["config_hash"] == meta.get("config_hash", "")
    assert prov["checkpoint_sha256"] == hashlib.sha256((run / "checkpoint.safetensors").read_bytes()).hexdigest()[:16]


def test_offscreen_mask_uses_the_image_rectangle():
    x = np.zeros((2, 17, 3))
    x[..., 2] = 1.0
    x[0, 3, :2] = (0.2, 0.6)  # inside 1000x1000, outside 1000x500 (half height 0.5)
    x[1, 5, :2] = (-1.01, 0.0)  # outside both
    x[1, 6] = (5.0, 5.0, 0.0)  # masked: never off screen
    assert clips.image_half_extent((1000, 500)) == (1.0, 0.5)
    wide = clips.offscreen_mask(x, (1000, 500))
    assert wide[0].tolist() == [j == 3 for j in range(17)] and wide[1].tolist() == [j == 5 for j in range(17)]
    assert clips.offscreen_mask(x, (1000, 1000))[0].sum() == 0
    assert clips.offscreen_frame_fraction(x, (1000, 1000)) == 0.5
    with pytest.raises(ValueError, match="positive"):
        clips.image_half_extent((0, 10))


def test_stratified_subset_covers_every_action_in_order():
    ms = [ap.Motion(joints3d_world_mm=np.zeros((2, 17, 3)), fps=30.0, subject="s", name=f"m{i}", source="test",
                    meta={"content": c}) for i, c in enumerate("aabbbc")]
    assert [m.name for m in ap.stratified_subset(ms)] == ["m0", "m2", "m5"]
    assert [m.name for m in ap.stratified_subset(ms, per_group=2)] == ["m0", "m1", "m2", "m3", "m5"]


def _poses(n=30, seed=0):
    rng = np.random.default_rng(seed)
    pred = rng.normal(scale=300, size=(n, 17, 3))
    gt = pred + rng.normal(scale=40, size=pred.shape)
    x2d = np.concatenate([rng.uniform(-0.5, 0.5, size=(n, 17, 2)), np.ones((n, 17, 1))], axis=-1)
    return x2d, pred, gt, np.linalg.norm(pred - gt, axis=-1)


def test_viewer_figure_animates_every_frame_with_fixed_axes_and_error_colours():
    x2d, pred, gt, err = _poses()
    x2d[4, 2, :2] = (1.4, 0.0)  # off screen at frame 4
    fig = viz.pose_viewer_figure(x2d, pred, gt, err, image_size_wh=(1000, 1000), frame=4, cmax_mm=150,
                                 uirevision="seq/0")
    assert len(fig.frames) == 30 and fig.layout.sliders[0].active == 4
    assert fig.layout.scene.uirevision == "seq/0" and fig.layout.uirevision == "seq/0"
    r = [fig.layout.scene[a].range for a in ("xaxis", "yaxis", "zaxis")]
    disp = np.stack([pred[..., 0], pred[..., 2], -pred[..., 1]], axis=-1)  # plot frame: x, depth, up
    for a in range(3):
        assert r[a][0] <= disp[..., a].min() and r[a][1] >= disp[..., a].max()
    assert r[0][1] - r[0][0] == pytest.approx(r[2][1] - r[2][0])  # equal scale on every axis
    markers = [t for t in fig.data if t.type == "scatter3d" and t.mode == "markers"]
    assert markers[0].marker.cmax == 150 and markers[0].marker.colorbar.title.text == "error (mm)"
    assert np.allclose(markers[0].marker.color, np.round(err[4], 1))
    assert "off screen" in fig.layout.title.text and "frame 4" in fig.layout.title.text
    f10 = fig.frames[10]
    assert "frame 10" in f10.layout.title.text and "off screen" not in f10.layout.title.text
    n_links = sum(1 for t in fig.data if t.type == "scatter3d" and t.line.dash == "dot")
    assert n_links == 0
    linked = viz.pose_viewer_figure(x2d, pred, gt, err, links=True)
    assert sum(1 for t in linked.data if t.type == "scatter3d" and t.line.dash == "dot") == 1
    side = viz.pose_viewer_figure(x2d, pred, None, None, max_frames=10)
    assert len(side.frames) == 10 and "coloured by error" not in str(side.layout.annotations[1].text)
    with pytest.raises(ValueError, match="must share"):
        viz.pose_viewer_figure(x2d[:5], pred, gt, err)


def test_label_styles_colour_the_action_and_shape_the_style():
    keys = json.loads((ap.demo_run_dir() / "checkpoint.json").read_text())["vocab"]
    styles = viz.label_styles(keys)
    assert len({styles[k] for k in keys}) == len(keys)  # every (action, style) label its own pair
    contents = {k.split("|")[0] for k in keys}
    assert len(contents) == 24 and len({styles[k][0] for k in keys}) == 24  # one colour per action
    for k in keys:  # same action -> same colour; same style -> same symbol
        c, st = k.split("|")
        assert styles[k][0] == styles[f"{c}|normal" if f"{c}|normal" in styles else k][0]
    by_style = {}
    for k in keys:
        by_style.setdefault(k.split("|")[1], set()).add(styles[k][1])
    assert all(len(v) == 1 for v in by_style.values()) and len({next(iter(v)) for v in by_style.values()}) == len(by_style)
    assert styles["call|normal"][0] != styles["wave-right-hand|normal"][0]
    plain = viz.label_styles(sorted(contents))  # content-only labels: 24 distinct colours
    assert len({plain[c][0] for c in contents}) == 24 and plain["call"] != plain["wave-right-hand"]
    assert styles[""] == viz.UNLABELLED
