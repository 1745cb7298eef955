"""What the ablation trains on and is scored on (the data protocol), and its cells.

Default protocol (one Bandai-Namco folder, the bundled subset or a prepared full one):
pretrain on dataset-2's training takes (its held-out takes only give the recognition score after
pretraining), fine-tune on dataset-1's training takes, evaluate on dataset-1's held-out takes with
GT 2D projected through the 4 fixed virtual cameras. With `target_data` (e.g. a prepared
Human3.6M folder): pretrain on the pretraining folder's training takes, fine-tune on the target's
training split (H36M: S1, S5, S6, S7, S8), evaluate on its held-out split (H36M: S9, S11, test)
with the 2D the target holds (its real cameras' detections or GT 2D).

Fine-tuning never sees a held-out take: only the target's training motions are passed to it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..config import VARIANTS
from ..data.dataset import split_motions
from ..data.motion import Motion
from ..train.data import data_fingerprint, load_data

# The files that make an ablation folder resumable: its identity, and one record per finished stage.
SPEC_NAME = "ablation_spec.json"
DONE_NAME = "ablation_cell.json"

SCRATCH_F = "scratch (F)"
SCRATCH_PF = "scratch (P+F)"
BASELINE = "motionbert-style"
_FOLDERS = {SCRATCH_F: "scratch-F", SCRATCH_PF: "scratch-PF"}
_ALIASES = {"scratch-f": SCRATCH_F, "scratch_f": SCRATCH_F, "scratch (f)": SCRATCH_F,
            "scratch-pf": SCRATCH_PF, "scratch_pf": SCRATCH_PF, "scratch (p+f)": SCRATCH_PF,
            "scratch-p+f": SCRATCH_PF}


def pretrained_variants() -> list[str]:
    """The pretraining variants of `config.VARIANTS` (everything but 'scratch')."""
    return [v for v in VARIANTS if v != "scratch"]


def all_cells() -> list[str]:
    """Every cell name, in table order: the two scratch rows, the baseline, then the text variants."""
    pre = pretrained_variants()
    rest = [v for v in pre if v != BASELINE]
    return [SCRATCH_F, SCRATCH_PF] + ([BASELINE] if BASELINE in pre else []) + rest


def parse_cells(text: str | list[str] | None) -> list[str]:
    """`"scratch,actionpose"` -> cell names (table order). 'scratch' means both scratch rows;
    `scratch-F` / `scratch-PF` (or the table names) select one."""
    if text is None or text == "" or text == []:
        return all_cells()
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    known = all_cells()
    chosen: set[str] = set()
    for item in items:
        key = item.lower()
        if key == "scratch":
            chosen |= {SCRATCH_F, SCRATCH_PF}
        elif key in _ALIASES:
            chosen.add(_ALIASES[key])
        elif item in known:
            chosen.add(item)
        else:
            raise ValueError(f"--variants: unknown cell {item!r}; expected some of scratch, scratch-F, scratch-PF, "
                             + ", ".join(pretrained_variants()))
    return [c for c in known if c in chosen]


def parse_seeds(text: str | int | list[int]) -> list[int]:
    """`"3"` -> [0, 1, 2] (a count); `"0,1,2"` or `"5,"` -> those seeds (a list)."""
    if isinstance(text, int):
        return list(range(text))
    if isinstance(text, list):
        return sorted(set(int(s) for s in text))
    s = str(text).strip()
    try:
        if "," not in s:
            n = int(s)
            if n < 1:
                raise ValueError
            return list(range(n))
        seeds = sorted({int(x) for x in s.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"--seeds {text!r}: expected a count (e.g. 3 -> seeds 0,1,2) or a comma list "
                         "of non-negative seeds (e.g. 0,1,2 or 5,)") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"--seeds {text!r}: expected at least one non-negative seed")
    return seeds


def cell_folder(cell: str) -> str:
    """The cell's folder name under --out (no spaces or parentheses)."""
    return _FOLDERS.get(cell, cell)


def variant_keys(variant: str) -> dict:
    """The config keys that define a pretraining variant (re-applied over user overrides so that,
    e.g., `--set mask.part_prob=0.5` cannot give `motionbert-style` part masks)."""
    return {k: v for k, v in VARIANTS[variant].items() if k != "variant"}


@dataclass
class AblationData:
    """The motions of each stage, and how the run is scored.

    pretrain:  motions for pretraining (training split trains; 'val' split gives recognition).
    finetune:  the target's training motions only (split 'train').
    evaluate:  the target motions holding the evaluation split (`eval_split`).
    """

    pretrain: list[Motion]
    finetune: list[Motion]
    evaluate: list[Motion]
    eval_split: str
    eval_info: dict
    description: dict

    def fingerprints(self) -> dict:
        return {"pretrain": data_fingerprint(self.pretrain), "finetune": data_fingerprint(self.finetune),
                "evaluate": data_fingerprint(split_motions(self.evaluate, self.eval_split))}


def _fps(motions: list[Motion], info: dict) -> float | None:
    fps = info.get("fps") or (motions[0].fps if motions else None)
    return float(fps) if fps else None


def load_ablation_data(pretrain_data: str = "", target_data: str = "") -> AblationData:
    """The default Bandai-Namco dataset-2 -> dataset-1 protocol, or pretraining data -> `target_data`."""
    pre_all, pre_info = load_data(pretrain_data or None)
    pre_name = pretrain_data or "the bundled Bandai-Namco subset"
    if target_data and Path(target_data).resolve() != (Path(pretrain_data).resolve() if pretrain_data else None):
        tgt_all, tgt_info = load_data(target_data)
        pre_fps, tgt_fps = _fps(pre_all, pre_info), _fps(tgt_all, tgt_info)
        if pre_fps and tgt_fps and abs(pre_fps - tgt_fps) > 1e-3:
            raise ValueError(f"{target_data}: target data is at {tgt_fps:g} fps but the pretraining data "
                             f"({pre_name}) is at {pre_fps:g} fps; prepare one of them with --fps so they match")
        split = "test" if split_motions(tgt_all, "test") else "val"
        pre_train = split_motions(pre_all, "train")
        ft = split_motions(tgt_all, "train")
        if not pre_train or not ft or not split_motions(tgt_all, split):
            raise ValueError(f"{target_data}: the ablation needs a 'train' split in both folders and a held-out "
                             f"split ('test' or 'val') in the target; found pretraining train {len(pre_train)}, "
                             f"target train {len(ft)}, target {split} {len(split_motions(tgt_all, split))}")
        two_d = sorted({m.kp2d_source for m in split_motions(tgt_all, split) if m.kp2d_source}) or ["gt (projected)"]
        desc = {"pretrain": f"{pre_name}: training takes (held-out takes give recognition after pretraining)",
                "finetune": f"{target_data}: split 'train'", "evaluate": f"{target_data}: split '{split}'",
                "2d_source": ", ".join(two_d), "target_kind": str(tgt_info.get("source", ""))}
        return AblationData([m for m in pre_all if m.meta.get("split") in ("train", "val")], ft, tgt_all, split,
                            tgt_info, desc)
    pre_m = [m for m in pre_all if m.meta.get("dataset") == 2]
    tgt_m = [m for m in pre_all if m.meta.get("dataset") == 1]
    if not pre_m or not tgt_m:
        raise ValueError(f"{pre_name}: the default ablation needs Bandai-Namco datasets 1 and 2 (motion meta "
                         "field 'dataset'); pass --target-data for another target")
    desc = {"pretrain": f"{pre_name}: Bandai-Namco dataset-2 training takes (its held-out takes give "
                        "recognition after pretraining)",
            "finetune": f"{pre_name}: dataset-1 training takes", "evaluate": f"{pre_name}: dataset-1 held-out takes",
            "2d_source": "gt (projected through 4 fixed virtual cameras)", "target_kind": "bandai"}
    return AblationData(pre_m, split_motions(tgt_m, "train"), tgt_m, "val", pre_info, desc)


def sweep_validation_data(data: AblationData) -> AblationData:
    """The method-tuning protocol: the target's *training* motions split again into a fine-tuning
    part and a validation part; the reported held-out takes are not used at all.

    Rule (declared, deterministic): Bandai-Namco (meta 'content'/'style'): the last training take
    (by name) of every content × style group with at least two training takes (when no group has
    two, e.g. the bundled subset: of every content group with at least two); Human3.6M
    (subjects S1..S8): subject S8; otherwise every 5th training motion by name.
    """
    train = sorted(data.finetune, key=lambda m: m.name)
    val_names: set[str] = set()
    if train and all("content" in m.meta and "style" in m.meta for m in train):
        for fields in (("content", "style"), ("content",)):
            groups: dict[tuple, list[Motion]] = {}
            for m in train:
                groups.setdefault((m.meta.get("dataset"), *(m.meta[f] for f in fields)), []).append(m)
            val_names = {g[-1].name for g in groups.values() if len(g) >= 2}
            rule = f"last training take (by name) of every {' x '.join(fields)} group with >= 2 training takes"
            if val_names:
                break
    elif any(m.subject == "S8" for m in train) and len({m.subject for m in train}) > 1:
        val_names = {m.name for m in train if m.subject == "S8"}
        rule = "subject S8 of the training subjects"
    else:
        val_names = {m.name for i, m in enumerate(train) if i % 5 == 4}
        rule = "every 5th training motion by name"
    if not val_names or len(val_names) == len(train):
        raise ValueError(f"{data.description['finetune']}: too few training motions ({len(train)}) to split off a "
                         "validation part for the sweep")
    ft = [m for m in train if m.name not in val_names]
    val = [dataclasses.replace(m, meta={**m.meta, "split": "val", "sweep_role": "validation"})
           for m in train if m.name in val_names]
    desc = dict(data.description, finetune=data.description["finetune"] + f" minus the sweep validation part ({rule})",
                evaluate=f"sweep validation part of the fine-tuning data: {rule}; {len(val)} motions "
                         "(the reported held-out takes are not used)")
    return AblationData(data.pretrain, ft, val, "val", data.eval_info, desc)
