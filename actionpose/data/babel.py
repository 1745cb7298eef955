"""BABEL action labels (Punnakkal et al., CVPR 2021) joined to AMASS sequences (L1).

Layout of a BABEL release folder (`--babel BABEL_DIR`): `train.json`, `val.json` (and `test.json`,
whose labels are withheld; `extra_train.json` / `extra_val.json` with further annotators' labels).
Each file maps a sequence id to
`{"babel_sid", "url", "feat_p", "dur", "seq_ann": ANN, "frame_ann": ANN | null}` where
`ANN = {"babel_lid", "anntr_id", "mul_act", "labels": [SEG, ...]}` and a frame segment
`SEG = {"seg_id", "raw_label", "proc_label", "act_cat": [category, ...], "start_t", "end_t"}`
(seconds; sequence segments have no times and cover the whole sequence). The `extra_*` files hold
lists `seq_anns` / `frame_anns` instead. `feat_p` names the AMASS file, e.g.
`"CMU/CMU/86/86_05_poses.npz"`: joined to `AMASS_DIR/**/86/86_05_poses.npz` by (dataset, subject,
file stem) (`feat_key`), with the dataset names that changed between AMASS releases aliased.

Per-frame text (the rule, applied at the prepared frame rate): frame k at t = k / fps is covered by
a segment when `start_t <= t < end_t` (BABEL's own rule). Segments overlap (someone walks *and*
waves); the prepared format carries one label per frame, so each frame takes the **shortest**
covering segment (ties: the earlier start, then file order). Why: BABEL's long segments ("walk",
"stand" spanning most of a take) overlap short specific ones ("wave", "turn"); the shortest is the
most specific text, and without it the short actions would never be a target, while the long one
remains the target on every frame around it. Windows then mix their frames' texts by frame fraction
(`text.vocab.LabelVocab.weights`), so a window over a change of action is a multi-positive target.
Every segment (all three texts, all categories) is kept in `meta["babel"]` for evaluation.
Sequences with no frame annotation use their sequence labels on every frame.

Recognition as the field reports it on BABEL: top-1 / top-5 over the BABEL-60 and BABEL-120 class
sets, the 60 / 120 most frequent action categories (`act_cat`) in BABEL's own order
(`action_label_2_idx.json` of the BABEL action-recognition code lists the 150 categories by
frequency; the first 60 / 120 are the two benchmarks).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEXT_FIELDS = ("proc_label", "raw_label", "act_cat")
SPLIT_FILES = {"train": "train.json", "val": "val.json", "test": "test.json"}
EXTRA_FILES = {"train": "extra_train.json", "val": "extra_val.json"}
# BABEL's test labels are withheld: its sequences are kept out of training and out of the default
# evaluation split (which is "test" whenever a folder has one).
TEST_SPLIT = "babel_test"

# The 150 BABEL action categories, most frequent first (BABEL's action_label_2_idx.json order).
ACT_CATS_BY_FREQUENCY: tuple[str, ...] = (
    "walk", "stand", "hand movements", "turn", "interact with / use object", "arm movements", "t pose",
    "step", "backwards movement", "raising body part", "look", "touch object", "stretch", "jump",
    "circular movement", "legs movement", "forwards movement", "sit", "run", "place something",
    "take/pick something up", "throw", "touching body parts", "bend", "foot movement", "kick",
    "move up/down incline", "stand up", "a pose", "lowering body part", "sideways movement",
    "actions with ball", "gesture", "head movements", "jog", "grasp object", "greet", "waist movements",
    "move something", "dance", "lift something", "knee movement", "exercise / training",
    "swing body part", "catch", "lean", "sports moves", "touching face", "poses", "clean something",
    "punch", "squat", "scratch", "perform", "play sport", "hop", "cross limbs", "stumble", "balance",
    "grab person / body part",
    # ---- 60
    "kneel", "shake", "clap", "spin", "martial arts", "crouch", "knock", "crawl", "adjust",
    "animal behavior", "twist", "upper body movement", "telephone call", "bow", "touch ground", "hit",
    "shoulder movements", "tap", "skip", "support", "spread", "rolling motion", "play instrument",
    "jump rope", "play catch", "evade", "drink", "lie", "communicate (vocalize)", "point",
    "side to side movement", "protect", "stop", "give something", "pour", "wrist movements", "wait",
    "jumping jacks", "dribble", "shuffle", "swim", "rub", "limp", "mix", "press something",
    "open something", "golf", "cartwheel", "sudden movement", "trip", "leap", "sway", "stagger",
    "stances", "duck", "get injured", "check", "flap", "lunge", "slide",
    # ---- 120
    "shrug", "yoga", "salute", "eat", "sneak", "tie", "wiggle", "zombie", "relax", "mime", "flip",
    "shivering", "style hair", "wash", "pray", "play", "draw", "interact with rope", "wobble", "release",
    "march", "stroke", "swipe", "listen", "fall", "rocking movement", "strafe", "hang", "search",
    "flail arms",
)
CLASS_SETS: dict[str, tuple[str, ...]] = {"BABEL-60": ACT_CATS_BY_FREQUENCY[:60],
                                          "BABEL-120": ACT_CATS_BY_FREQUENCY[:120]}

# AMASS sub-dataset folders renamed between releases (BABEL's feat_p uses the older names).
DATASET_ALIASES = {"biomotionlab_ntroje": "bmlrub", "dfaust_67": "dfaust", "mpi_hdm05": "hdm05",
                   "mpi_limits": "poseprior", "mpi_mosh": "mosh", "ssm_synced": "ssm",
                   "transitions_mocap": "transitions", "tcd_handmocap": "tcdhands",
                   "eyes_japan_dataset": "eyesjapandataset"}


def feat_key(path: str) -> tuple[str, str, str]:
    """(dataset, subject, take) of an AMASS file path or a BABEL `feat_p`: the last three path
    parts, the dataset folder aliased across releases and lower-cased, the `_poses` / `_stageii`
    suffix and `.npz` dropped ("CMU/CMU/86/86_05_poses.npz" and "cmu/86/86_05_poses.npz" agree)."""
    parts = [p for p in str(path).replace("\\", "/").split("/") if p]
    if len(parts) < 3:
        raise ValueError(f"{path}: expected <dataset>/<subject>/<take>.npz (at least three path parts)")
    dataset, subject, name = parts[-3].lower(), parts[-2], parts[-1]
    stem = name[:-4] if name.lower().endswith(".npz") else name
    for suffix in ("_poses", "_stageii"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return DATASET_ALIASES.get(dataset, dataset), subject, stem


@dataclass(frozen=True)
class Segment:
    """One BABEL label: seconds `[start_t, end_t)` (a sequence label spans the whole take)."""

    start_t: float
    end_t: float
    raw_label: str
    proc_label: str
    act_cat: tuple[str, ...]

    def text(self, field: str) -> str:
        if field == "act_cat":
            # BABEL's recognition makes one sample per category; one text per frame here takes the
            # first (every category stays in meta for the BABEL-60/120 evaluation).
            return self.act_cat[0] if self.act_cat else ""
        return self.raw_label if field == "raw_label" else self.proc_label

    def to_list(self) -> list:
        return [round(self.start_t, 4), round(self.end_t, 4), self.raw_label, self.proc_label, list(self.act_cat)]

    @classmethod
    def from_list(cls, row: list) -> "Segment":
        return cls(float(row[0]), float(row[1]), row[2], row[3], tuple(row[4]))


@dataclass
class BabelEntry:
    """One labelled sequence: its split, duration and segments (frame ones when annotated)."""

    sid: str
    feat_p: str
    split: str
    dur: float
    seq_segments: list[Segment]
    frame_segments: list[Segment]
    files: list[str]

    @property
    def segments(self) -> list[Segment]:
        return self.frame_segments if self.frame_segments else self.seq_segments

    def meta(self, text_field: str) -> dict:
        """JSON-safe description kept with the motion (`meta["babel"]`)."""
        return {"sid": self.sid, "feat_p": self.feat_p, "split": self.split, "dur": self.dur,
                "text_field": text_field, "annotation": "frame" if self.frame_segments else "sequence",
                "segments": [s.to_list() for s in self.segments],
                "sequence_labels": [s.proc_label for s in self.seq_segments], "files": self.files}


def _clean(text, where: str, field: str) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise ValueError(f"{where}: field {field} = {text!r}, expected a string")
    # "|" would make the label read as Bandai-Namco's "content|style" (text.templates).
    return " ".join(text.replace("|", "/").split())


def _segments(ann, where: str, timed: bool, dur: float) -> list[Segment]:
    if ann is None:
        return []
    if not isinstance(ann, dict) or not isinstance(ann.get("labels"), list):
        raise ValueError(f"{where}: expected an object with a labels list")
    out = []
    for i, seg in enumerate(ann["labels"]):
        w = f"{where}.labels[{i}]"
        if not isinstance(seg, dict):
            raise ValueError(f"{w}: expected an object")
        cats = seg.get("act_cat") or []
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise ValueError(f"{w}: field act_cat = {cats!r}, expected a list of category names")
        if timed:
            try:
                s, e = float(seg["start_t"]), float(seg["end_t"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{w}: fields start_t / end_t missing or not numbers (seconds)") from None
            if not (math.isfinite(s) and math.isfinite(e)) or e < s:
                raise ValueError(f"{w}: start_t = {s}, end_t = {e}: expected finite seconds with start_t <= end_t")
        else:
            s, e = 0.0, dur
        out.append(Segment(s, e, _clean(seg.get("raw_label"), w, "raw_label"),
                           _clean(seg.get("proc_label"), w, "proc_label"),
                           tuple(" ".join(c.split()) for c in cats)))
    return out


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON, truncated or corrupt ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of sequences keyed by babel_sid")
    return data


def load_babel(babel_dir: str | Path, extra: bool = False) -> dict[tuple[str, str, str], BabelEntry]:
    """BABEL's label files -> {feat_key: entry}. `extra`: add the `extra_*.json` annotators' segments
    to the same sequences (or as new ones). BABEL's split is the file's (`test.json` -> TEST_SPLIT)."""
    folder = Path(babel_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder}: --babel expects the BABEL folder holding train.json and val.json")
    missing = [f for s, f in SPLIT_FILES.items() if s != "test" and not (folder / f).is_file()]
    if missing:
        raise ValueError(f"{folder}: {', '.join(missing)} not found (expected BABEL's train.json and val.json)")
    out: dict[tuple[str, str, str], BabelEntry] = {}
    files = [(s, folder / f, False) for s, f in SPLIT_FILES.items() if (folder / f).is_file()]
    if extra:
        present = [(s, folder / f, True) for s, f in EXTRA_FILES.items() if (folder / f).is_file()]
        if not present:
            raise ValueError(f"{folder}: --babel-extra given but no {' / '.join(EXTRA_FILES.values())} found")
        files += present
    for split, path, is_extra in files:
        for sid, item in _read_json(path).items():
            where = f"{path} [{sid!r}]"
            if not isinstance(item, dict) or not isinstance(item.get("feat_p"), str):
                raise ValueError(f"{where}: field feat_p missing (expected the AMASS file path)")
            try:
                dur = float(item.get("dur"))
            except (TypeError, ValueError):
                raise ValueError(f"{where}: field dur = {item.get('dur')!r}, expected seconds") from None
            key = feat_key(item["feat_p"])
            if is_extra:
                seq = [s for j, a in enumerate(item.get("seq_anns") or [])
                       for s in _segments(a, f"{where}.seq_anns[{j}]", False, dur)]
                frm = [s for j, a in enumerate(item.get("frame_anns") or [])
                       for s in _segments(a, f"{where}.frame_anns[{j}]", True, dur)]
            else:
                seq = _segments(item.get("seq_ann"), f"{where}.seq_ann", False, dur)
                frm = _segments(item.get("frame_ann"), f"{where}.frame_ann", True, dur)
            entry = out.get(key)
            if entry is None:
                out[key] = BabelEntry(str(sid), item["feat_p"], TEST_SPLIT if split == "test" else split, dur,
                                      seq, frm, [path.name])
                continue
            if not is_extra:
                raise ValueError(f"{where}: feat_p {item['feat_p']!r} is labelled twice (also in {entry.files[0]})")
            entry.seq_segments += seq
            entry.frame_segments += frm
            entry.files.append(path.name)
    return out


def per_frame_labels(segments: list[Segment], n_frames: int, fps: float, field: str
                     ) -> tuple[tuple[str, ...], np.ndarray, int]:
    """Segments -> (distinct texts in first-use order, `[T]` int16 index per frame (-1 = none),
    frames covered by more than one segment). Rule: the shortest covering segment (module doc)."""
    if field not in TEXT_FIELDS:
        raise ValueError(f"--babel-text {field!r}: expected one of {', '.join(TEXT_FIELDS)}")
    t = np.arange(n_frames) / float(fps)
    best = np.full(n_frames, -1, dtype=np.int64)
    best_len = np.full(n_frames, np.inf)
    covered = np.zeros(n_frames, dtype=np.int64)
    usable = [(i, s) for i, s in enumerate(segments) if s.text(field)]
    # Sorted by (duration, start, file order): the first segment to claim a frame is the one the rule picks.
    for i, s in sorted(usable, key=lambda p: (p[1].end_t - p[1].start_t, p[1].start_t, p[0])):
        inside = (t >= s.start_t) & (t < s.end_t)
        covered += inside
        take = inside & (best < 0)
        best[take] = i
        best_len[take] = s.end_t - s.start_t
    texts: list[str] = []
    index: dict[str, int] = {}
    lpf = np.full(n_frames, -1, dtype=np.int16)
    for i in np.unique(best[best >= 0]):
        text = segments[int(i)].text(field)
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        lpf[best == i] = index[text]
    return tuple(texts), lpf, int((covered > 1).sum())


def act_cats_at(babel_meta: dict, frames: np.ndarray, fps: float) -> list[set[str]]:
    """Every action category of the segments covering each frame (`start_t <= t < end_t`), from a
    motion's `meta["babel"]`; the BABEL-60/120 evaluation targets."""
    segs = [Segment.from_list(r) for r in babel_meta.get("segments", [])]
    out = []
    for f in np.asarray(frames):
        t = float(f) / float(fps)
        out.append({c for s in segs if s.start_t <= t < s.end_t for c in s.act_cat})
    return out


__all__ = ["ACT_CATS_BY_FREQUENCY", "CLASS_SETS", "TEXT_FIELDS", "TEST_SPLIT", "BabelEntry", "Segment",
           "act_cats_at", "feat_key", "load_babel", "per_frame_labels"]
