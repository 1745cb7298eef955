"""The powered ablation's arms: identical pretraining except for the text signal (issue 23).

Every arm is the `actionpose` variant (all masks + noise, the same motion-embedding head, the same
initialisation, batches, cameras and masks for a given seed) with only these keys changed:

    A  no text:        loss.w_align = 0          (the head exists and is initialised, nothing pulls it)
    B  text, soft:     align.mode text, soft targets (the method)
    C  one-hot labels: align.mode onehot, hard targets (label ids, no text)
    D  text, stopped:  as B with loss.align_backbone off (the text trains the head only)

`TEXT_KEYS` is the complete list of keys allowed to differ; `check_text_only` proves it on the
resolved configs. Fine-tuning is the same config for every arm (the source run decides only the
initial weights); `check_same_finetune_loss` refuses a design where a loss term exists in some cells
only (e.g. the embedding distillation, which needs a head the scratch baseline lacks).
"""
from __future__ import annotations

from ..config import _flatten, _merge, to_dict

SCRATCH = "scratch"
ARMS: dict[str, dict] = {
    "A": {"loss": {"w_align": 0.0}},
    "B": {"align": {"mode": "text", "soft_targets": True}},
    "C": {"align": {"mode": "onehot", "soft_targets": False}},
    "D": {"align": {"mode": "text", "soft_targets": True}, "loss": {"align_backbone": False}},
}
ARM_NAMES = {"A": "A: no text (w_align 0, same head)", "B": "B: text, soft targets",
             "C": "C: one-hot labels", "D": "D: text, gradient stopped at the backbone",
             SCRATCH: "scratch (no pretraining)"}
TEXT_KEYS = frozenset({"align.mode", "align.soft_targets", "loss.w_align", "loss.align_backbone"})
BASE_VARIANT = "actionpose"


def arm_overrides(common: dict, arm: str) -> dict:
    """Pretraining overrides of `arm`: the design's common overrides, then the arm's text keys (the
    arm wins, so a common override cannot blur the difference)."""
    if arm not in ARMS:
        raise ValueError(f"arm {arm!r}: expected one of {', '.join(ARMS)}")
    return _merge(common or {}, ARMS[arm])


def text_difference(preset: str, common: dict, arms: list[str]) -> dict[str, set[str]]:
    """{arm: keys whose resolved pretraining value differs from the first arm's}."""
    from ..api import pretrain_config
    flat = {a: _flatten(to_dict(pretrain_config(preset, BASE_VARIANT, arm_overrides(common, a)))) for a in arms}
    ref = flat[arms[0]]
    return {a: {k for k in set(ref) | set(f) if ref.get(k) != f.get(k)} for a, f in flat.items()}


def check_text_only(preset: str, common: dict, arms: list[str]) -> None:
    """Raise when two arms' resolved pretraining configs differ in a key outside `TEXT_KEYS`."""
    for arm, keys in text_difference(preset, common, arms).items():
        extra = sorted(keys - TEXT_KEYS)
        if extra:
            raise ValueError(f"arm {arm}: its pretraining config differs from arm {arms[0]} in {', '.join(extra)}; "
                             f"the arms may differ only in the text signal ({', '.join(sorted(TEXT_KEYS))})")


def check_same_finetune_loss(finetune_overrides: dict, common: dict, scratch: bool) -> None:
    """Refuse fine-tuning losses that only some cells get: the embedding distillation (loss.w_distill
    > 0) applies to a model with an embedding head (every arm) but not to the scratch baseline."""
    from ..config import LossConfig
    w = (_merge(common or {}, finetune_overrides or {}).get("loss") or {}).get("w_distill", LossConfig().w_distill)
    if scratch and w:
        raise ValueError(f"finetune_overrides: loss.w_distill = {w} gives the arms (which have an embedding head) a "
                         "fine-tuning term the scratch baseline cannot have; set loss.w_distill: 0.0 so every cell "
                         "fine-tunes with the same loss")
