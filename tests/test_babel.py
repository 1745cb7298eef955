"""BABEL labels joined to AMASS (issue 24): fixture JSON in BABEL's exact layout, the overlap rule,
BABEL's split, the text targets they become, and BABEL-60/120 recognition in `evaluate`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actionpose.data import babel as B
from actionpose.data.cache import load_motions
from actionpose.text.vocab import LabelVocab

from test_amass import random_motion, write_body_models, write_sequence

pytest.importorskip("smplx")

WALK_WAVE_TURN = "CMU/CMU/01/01_01_poses.npz"


def _ann(labels, lid="lid", anntr="anntr-1", mul=True):
    return {"babel_lid": lid, "anntr_id": anntr, "mul_act": mul, "labels": labels}


def _seg(raw, proc, cats, seg_id, start=None, end=None):
    s = {"raw_label": raw, "proc_label": proc, "seg_id": seg_id, "act_cat": cats}
    if start is not None:
        s.update(start_t=start, end_t=end)
    return s


def write_babel(folder: Path) -> None:
    """train/val/test/extra_train JSON as BABEL releases them (keyed by babel_sid)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = {"1001": {
        "babel_sid": 1001, "url": "https://example.invalid/1001.mp4", "feat_p": WALK_WAVE_TURN, "dur": 2.0,
        "seq_ann": _ann([_seg("walk and wave", "walk and wave", ["walk", "hand movements"], "s1")]),
        "frame_ann": _ann([
            _seg("Walking", "walk", ["walk"], "f1", 0.0, 2.0),
            _seg("waving | hello", "wave", ["hand movements", "gesture"], "f2", 0.5, 1.0),
            _seg("turn left", "turn left", ["turn"], "f3", 0.8, 1.6)])}}
    val = {"2002": {
        "babel_sid": 2002, "url": "https://example.invalid/2002.mp4",
        "feat_p": "BioMotionLab_NTroje/BioMotionLab_NTroje/rub001/0001_treadmill_norm_poses.npz", "dur": 2.0,
        "seq_ann": _ann([_seg("jogging", "jog", ["jog"], "s2")], mul=False), "frame_ann": None}}
    test = {"3003": {"babel_sid": 3003, "url": "https://example.invalid/3003.mp4",
                     "feat_p": "CMU/CMU/02/02_01_poses.npz", "dur": 2.0, "seq_ann": None, "frame_ann": None}}
    extra = {"1001": {"babel_sid": 1001, "url": "https://example.invalid/1001.mp4", "feat_p": WALK_WAVE_TURN,
                      "dur": 2.0, "seq_anns": [],
                      "frame_anns": [_ann([_seg("squat", "squat", ["squat"], "e1", 1.7, 1.9)], anntr="anntr-2")]}}
    for name, data in (("train", train), ("val", val), ("test", test), ("extra_train", extra)):
        (folder / f"{name}.json").write_text(json.dumps(data))


def write_tree(root: Path) -> None:
    for i, (rel, gender, form) in enumerate((("CMU/01/01_01_poses.npz", "male", "poses"),
                                             ("BMLrub/rub001/0001_treadmill_norm_poses.npz", "female", "smplh_g"),
                                             ("CMU/02/02_01_poses.npz", "male", "poses"),
                                             ("CMU/03/03_01_poses.npz", "neutral", "poses"))):
        p, t, b = random_motion(120, seed=20 + i, scale=0.2)
        write_sequence(root / "amass" / rel, form, p, t * 0 + np.array([0.0, 0.0, 0.9]), b, gender, 60.0)
    write_body_models(root / "smplh")
    write_babel(root / "babel")


def _prepare(root: Path, *extra: str, out: str = "out") -> tuple[str, dict]:
    from actionpose.cli import main
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["prepare", "amass", "--source", str(root / "amass"), "--body-model", str(root / "smplh"),
                   "--babel", str(root / "babel"), "--out", str(root / out), "--fps", "30", "--no-progress", *extra])
    assert rc == 0
    motions, _ = load_motions(root / out)
    return buf.getvalue(), {m.name: m for m in motions}


# ------------------------------------------------------------------------------------ units

def test_class_sets_are_babels_most_frequent_categories():
    assert len(B.ACT_CATS_BY_FREQUENCY) == 150 == len(set(B.ACT_CATS_BY_FREQUENCY))
    assert len(B.CLASS_SETS["BABEL-60"]) == 60 and len(B.CLASS_SETS["BABEL-120"]) == 120
    assert B.CLASS_SETS["BABEL-60"][:4] == ("walk", "stand", "hand movements", "turn")
    assert B.CLASS_SETS["BABEL-60"][-1] == "grab person / body part"
    assert B.CLASS_SETS["BABEL-120"][-1] == "slide"


def test_feat_key_matches_across_releases():
    assert B.feat_key("CMU/CMU/86/86_05_poses.npz") == B.feat_key("CMU/86/86_05_poses.npz") == ("cmu", "86", "86_05")
    assert (B.feat_key("BioMotionLab_NTroje/BioMotionLab_NTroje/rub001/0001_treadmill_norm_poses.npz")
            == B.feat_key("BMLrub/rub001/0001_treadmill_norm_poses.npz"))
    assert B.feat_key("DFaust_67/DFaust_67/50002/50002_jumping_jacks_poses.npz")[0] == "dfaust"


def test_overlap_rule_shortest_segment_wins():
    segs = [B.Segment(0.0, 2.0, "walk", "walk", ("walk",)), B.Segment(0.5, 1.0, "wave", "wave", ("hand movements",)),
            B.Segment(0.8, 1.6, "turn", "turn left", ("turn",))]
    texts, lpf, overlap = B.per_frame_labels(segs, 60, 30.0, "proc_label")
    want = ["walk"] * 15 + ["wave"] * 15 + ["turn left"] * 18 + ["walk"] * 12
    assert [texts[i] for i in lpf] == want
    assert overlap == 33  # frames 15..47 lie under two or three segments
    texts, lpf, _ = B.per_frame_labels(segs, 60, 30.0, "act_cat")
    assert texts[lpf[20]] == "hand movements"
    # Equal durations: the earlier start wins; a frame past every segment is unlabelled.
    texts, lpf, _ = B.per_frame_labels([B.Segment(0.5, 1.0, "b", "b", ()), B.Segment(0.0, 0.5, "a", "a", ())],
                                       40, 30.0, "proc_label")
    assert [texts[i] if i >= 0 else "" for i in lpf[[0, 14, 15, 29, 30]]] == ["a", "a", "b", "b", ""]
    assert B.act_cats_at({"segments": [s.to_list() for s in segs]}, np.array([0, 25, 45]), 30.0) == [
        {"walk"}, {"walk", "hand movements", "turn"}, {"walk", "turn"}]


def test_bad_babel_files_are_one_line_errors(tmp_path):
    write_babel(tmp_path)
    data = json.loads((tmp_path / "train.json").read_text())
    data["1001"]["frame_ann"]["labels"][0]["end_t"] = "soon"
    (tmp_path / "train.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"train\.json \['1001'\]\.frame_ann\.labels\[0\]: fields start_t / end_t"):
        B.load_babel(tmp_path)
    (tmp_path / "val.json").unlink()
    with pytest.raises(ValueError, match=r"val\.json not found"):
        B.load_babel(tmp_path)


# ------------------------------------------------------------------------------------ through prepare

@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("babel")
    write_tree(root)
    return root


def test_prepare_with_babel_keeps_split_and_labels(tree):
    out, ms = _prepare(tree)
    assert "BABEL (proc_label): 3 of 3 sequences joined" in out and "1 AMASS files unlabelled" in out
    a = ms["CMU/01/01_01_poses"]
    assert a.meta["split"] == "train" and a.meta["babel"]["annotation"] == "frame"
    frames = a.frame_labels()
    assert frames[:15] == ["walk"] * 15 and frames[15:30] == ["wave"] * 15 and frames[30:48] == ["turn left"] * 18
    assert a.meta["babel"]["overlap_frames"] == 33
    b = ms["BMLrub/rub001/0001_treadmill_norm_poses"]
    assert b.meta["split"] == "val" and set(b.frame_labels()) == {"jog"}  # sequence label on every frame
    assert ms["CMU/02/02_01_poses"].meta["split"] == B.TEST_SPLIT and not ms["CMU/02/02_01_poses"].labels
    assert ms["CMU/03/03_01_poses"].meta["split"] == "train" and "babel" not in ms["CMU/03/03_01_poses"].meta
    # "|" in a raw label would read as Bandai's content|style: it is kept as "/".
    assert any(s[2] == "waving / hello" for s in a.meta["babel"]["segments"])


def test_babel_text_field_and_extra_annotators(tree):
    _, ms = _prepare(tree, "--babel-text", "act_cat", "--babel-extra", out="out_act")
    frames = ms["CMU/01/01_01_poses"].frame_labels()
    assert frames[20] == "hand movements" and frames[35] == "turn" and frames[0] == "walk"
    assert frames[51:57] == ["squat"] * 6 and frames[57] == "walk"  # extra annotator's 1.7-1.9 s segment
    assert ms["CMU/01/01_01_poses"].meta["babel"]["files"] == ["train.json", "extra_train.json"]


def test_babel_labels_reach_the_text_targets(tree):
    _, ms = _prepare(tree, out="out_vocab")
    vocab = LabelVocab.from_motions(list(ms.values()), field="full")
    assert {"walk", "wave", "turn left", "turn right", "jog"} <= set(vocab.keys)  # + mirror of "turn left"
    idx = vocab.frame_indices(ms["CMU/01/01_01_poses"])
    w = vocab.weights(idx[10:41])  # 5 walk, 15 wave, 11 turn-left frames
    got = {vocab.keys[i]: round(float(v), 4) for i, v in enumerate(w) if v > 0}
    assert got == {"walk": round(5 / 31, 4), "wave": round(15 / 31, 4), "turn left": round(11 / 31, 4)}
    flipped = vocab.mirror_weights(w)
    assert flipped[vocab.index_of("turn right")] == pytest.approx(11 / 31)


# ------------------------------------------------------------------------------------ recognition

class _FakeAligner:
    def score_texts(self, motion_emb, text_emb):
        return motion_emb @ text_emb.T


class _FakeBundle:
    aligner = _FakeAligner()


def test_babel_recognition_scores_class_texts():
    """Window 0 embeds exactly the text of 'walk' (its target), window 1 that of 'stand' while its
    target is 'jog': top-1 is 50 % on both class sets; a window without a class is left out."""
    import torch
    from actionpose.config import make_config
    from actionpose.evaluate import babel_recognition
    from actionpose.text.cache import embed_texts
    from actionpose.text.templates import label_to_sentence
    cfg = make_config("tiny", "actionpose")
    emb = embed_texts([label_to_sentence(c, cfg.text) for c in ("walk", "stand")], cfg.text)
    emb = np.concatenate([emb, emb[:1]])
    res = babel_recognition(_FakeBundle(), cfg, torch.as_tensor(emb).numpy(),
                            [{"walk"}, {"jog", "flail arms"}, {"not a babel category"}])
    assert res["BABEL-60"]["windows"] == 2 and res["BABEL-60"]["top1_pct"] == 50.0
    assert res["BABEL-120"]["top1_pct"] == 50.0 and res["BABEL-60"]["top5_pct"] >= 50.0
    assert res["BABEL-60"]["chance_top1_pct"] == pytest.approx(100 / 60)


def test_evaluate_reports_babel_60_120(tree, tmp_path):
    from actionpose import api
    from actionpose.evaluate import evaluate, format_report
    _prepare(tree, "--babel-text", "act_cat", out="out_eval")
    small = {"model": {"dim_feat": 16, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32},
             "data": {"batch_size": 4, "stride": 27, "path": str(tree / "out_eval")},
             "train": {"log_every": 1, "val_every": 1000, "ckpt_every": 2, "val_max_windows": 8, "max_steps": 2}}
    api.pretrain("tiny", "actionpose", tmp_path / "run", overrides=small, progress=False)
    report = evaluate(tmp_path / "run", split="val", write=False)
    b = report.recognition["babel"]
    assert b["BABEL-60"]["windows"] > 0 and b["BABEL-60"]["classes_present"] == 1  # jog, every window
    assert 0.0 <= b["BABEL-60"]["top1_pct"] <= b["BABEL-60"]["top5_pct"] <= 100.0
    assert b["BABEL-120"]["windows"] == b["BABEL-60"]["windows"]
    assert "BABEL-60: top-1" in format_report(report)
