"""The declared design of the powered ablation (issue 23): one YAML file, written before running.

Everything that decides what the comparison computes lives in the file: the arms, the seeds (and the
tuning seeds kept out of the reported comparison), the step budgets, the data protocol (the
zero-shot actions held out of pretraining, the balanced test set by take name, the low-data
fraction, the training-like test cameras), the gate, each readout's role (primary / secondary) and
the statistics. `load_design(path)` validates it field by field (a one-line error naming the file,
the field and what was expected); `PoweredDesign.identity()` is what a resumed run must match.

    format: actionpose.ablation.design/1
    name: issue23
    preset: tiny
    seeds: [0, 1, 2, 3, 4, 5, 6, 7]
    tuning_seeds: [100, 101]
    arms: [A, B, C, D]
    scratch: true
    budgets: {pretrain_steps: 1200, finetune_steps: 500, pretrain_lr: 1.0e-3, finetune_lr: 4.0e-4,
              mlp_floor_steps: 5000}
    overrides: {}                          # every stage of every cell (e.g. a smaller model in tests)
    finetune_overrides: {loss: {w_distill: 0.0}}   # the one fine-tuning loss of every arm
    protocol: {pretrain_data: prepared/bandai, zero_shot_actions: [...], test_takes: [...], ...}
    gate: {mlp_margin_mm: 15.0}
    readouts: {probe: {role: primary}, low_data: {role: primary}, ...}
    statistics: {alpha: 0.05, power: 0.8, bootstrap: 2000, bootstrap_seed: 0, primary_contrast: [B, A]}
    contrasts: [[B, A], [C, A], [D, A], [B, C], [B, scratch]]
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from .arms import ARMS, SCRATCH

DESIGN_FORMAT = "actionpose.ablation.design/1"
ROLES = ("primary", "secondary")
# Every readout the runner computes, with its parameters' defaults (README: what each measures).
READOUTS: dict[str, dict] = {
    "probe": {"ridge_alpha": 1e-3, "fit_windows": 1500, "frames_per_window": 9},  # (a)
    "low_data": {},  # (b) MPJPE of the low-data fine-tune, with its floors
    "masked_limb": {},  # (c) MPJPE on the joints of one hidden limb
    "masked_window": {"window_s": 1.0, "period_s": 3.0},  # (c) MPJPE on frames hidden 1 s in every 3 s
    "depth_sign": {"min_offset_mm": 150.0},  # (d)
    "recognition": {},  # (e) action top-1 on held-out pretraining takes
    "zero_shot": {},  # (e) action top-1 on takes of actions never in pretraining
    "retrieval": {},  # (f) text -> motion recall@1/5/10, median rank
}
_TOP = ("format", "name", "preset", "seeds", "tuning_seeds", "arms", "scratch", "budgets", "overrides",
        "finetune_overrides", "protocol", "gate", "readouts", "statistics", "contrasts", "estimate")


@dataclass
class Budgets:
    pretrain_steps: int
    finetune_steps: int
    pretrain_lr: float = 1e-3
    finetune_lr: float = 4e-4
    mlp_floor_steps: int = 5000


@dataclass
class Protocol:
    """pretrain_data: prepared Bandai-Namco folder ("" = the bundled subset). Pretraining: dataset-2's
    'train' takes minus every take of `zero_shot_actions`; its 'val' takes (minus those) give
    recognition and retrieval; its 'val' takes of `zero_shot_actions` give zero-shot recognition.
    Target: dataset-1; `test_takes` (by name) are the test set, every other dataset-1 take is the
    fine-tuning pool; the low-data set is `low_data_fraction` of each pool action with at least
    `low_data_min_takes` takes (at least one take each, chosen by name order). Test views: the 4
    fixed cameras + `training_like_views` perspective cameras drawn like training cameras (fixed for
    the take), seeded by `view_seed`."""

    pretrain_data: str = ""
    zero_shot_actions: list[str] = field(default_factory=list)
    test_takes: list[str] = field(default_factory=list)
    low_data_fraction: float = 0.1
    low_data_min_takes: int = 5
    training_like_views: int = 2
    view_seed: int = 2301
    min_test_takes_per_action: int = 2
    eval_batch: int = 8


@dataclass
class Statistics:
    alpha: float = 0.05
    power: float = 0.8
    bootstrap: int = 2000
    bootstrap_seed: int = 0
    primary_contrast: list[str] = field(default_factory=lambda: ["B", "A"])


@dataclass
class PoweredDesign:
    name: str
    seeds: list[int]
    arms: list[str]
    budgets: Budgets
    protocol: Protocol
    readouts: dict[str, dict]
    preset: str = "tiny"
    tuning_seeds: list[int] = field(default_factory=list)
    scratch: bool = True
    overrides: dict = field(default_factory=dict)
    finetune_overrides: dict = field(default_factory=dict)
    gate: dict = field(default_factory=lambda: {"mlp_margin_mm": None})
    statistics: Statistics = field(default_factory=Statistics)
    contrasts: list[list[str]] = field(default_factory=list)
    estimate: dict = field(default_factory=dict)  # the README's core-hour estimate (informative only)
    path: str = ""

    @property
    def cells(self) -> list[str]:
        """Cell names in table order: the arms, then the scratch baseline."""
        return list(self.arms) + ([SCRATCH] if self.scratch else [])

    def role(self, readout: str) -> str:
        return self.readouts[readout]["role"]

    @property
    def primary(self) -> list[str]:
        return [r for r in READOUTS if r in self.readouts and self.readouts[r]["role"] == "primary"]

    def identity(self) -> dict:
        """What decides the computation of every cell (not which seeds run now, nor the estimate)."""
        d = asdict(self)
        for k in ("seeds", "tuning_seeds", "estimate", "path", "name", "contrasts", "statistics", "gate"):
            d.pop(k, None)
        return json.loads(json.dumps(d))


def tuning_design(design: PoweredDesign, pretrain_steps: int | None = None,
                  finetune_steps: int | None = None) -> PoweredDesign:
    """The design run on its tuning seeds, optionally at other step budgets: what a budget or method
    sweep runs before the reported comparison. Its seeds are the design's `tuning_seeds` and its own
    tuning seeds are none, so a sweep never runs a reported seed. At other budgets its identity differs
    (another computation: neither run folder accepts the other); at the design's own budgets it is the
    same computation, and a reported run reads only the design's seeds, so tuning cells never enter it."""
    import dataclasses
    if not design.tuning_seeds:
        raise ValueError(f"{design.path}: field tuning_seeds is empty: a sweep needs seeds of its own")
    b = dataclasses.replace(design.budgets,
                            pretrain_steps=int(pretrain_steps or design.budgets.pretrain_steps),
                            finetune_steps=int(finetune_steps or design.budgets.finetune_steps))
    if b.pretrain_steps <= 0 or b.finetune_steps <= 0:
        raise ValueError(f"tuning budgets must be positive, got {b.pretrain_steps} + {b.finetune_steps} steps")
    return dataclasses.replace(design, name=f"{design.name}-tuning", seeds=list(design.tuning_seeds),
                               tuning_seeds=[], budgets=b)


def _err(path: str, fld: str, expected: str, got) -> ValueError:
    return ValueError(f"{path}: field {fld} = {json.dumps(got, default=str)[:80]}: expected {expected}")


def _seed_list(path: str, fld: str, v, allow_empty: bool = False) -> list[int]:
    if not isinstance(v, list) or (not v and not allow_empty) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v) or len(set(v)) != len(v):
        raise _err(path, fld, "a list of distinct non-negative integer seeds", v)
    return list(v)


def _mapping(path: str, fld: str, v, allowed: tuple | None = None) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _err(path, fld, "a mapping", v)
    if allowed is not None:
        extra = sorted(set(v) - set(allowed))
        if extra:
            raise _err(path, f"{fld}.{extra[0]}", "one of the known keys " + ", ".join(allowed), v[extra[0]])
    return dict(v)


def _number(path: str, fld: str, v, lo: float, hi: float = math.inf, integer: bool = False, lo_open=False):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ok = ok and (v > lo if lo_open else v >= lo) and v <= hi and (not integer or float(v).is_integer())
    if not ok:
        kind = "an integer" if integer else "a number"
        raise _err(path, fld, f"{kind} {'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if hi < math.inf else ""), v)
    return int(v) if integer else float(v)


def design_from_dict(data: dict, path: str = "design") -> PoweredDesign:
    """Validate a parsed design file (see the module doc); one-line errors name `path` and the field."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping (the design), got {type(data).__name__}")
    extra = sorted(set(data) - set(_TOP))
    if extra:
        raise _err(path, extra[0], "one of the design keys " + ", ".join(_TOP), data[extra[0]])
    if data.get("format") != DESIGN_FORMAT:
        raise _err(path, "format", repr(DESIGN_FORMAT), data.get("format"))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(path, "name", "a non-empty string", name)
    seeds = _seed_list(path, "seeds", data.get("seeds"))
    tuning = _seed_list(path, "tuning_seeds", data.get("tuning_seeds", []), allow_empty=True)
    both = sorted(set(seeds) & set(tuning))
    if both:
        raise _err(path, "tuning_seeds", f"seeds disjoint from `seeds` (a tuning seed chose the setting, so it "
                   f"cannot also be in the reported comparison; shared: {both})", tuning)
    arms = data.get("arms")
    if not isinstance(arms, list) or not arms or any(a not in ARMS for a in arms) or len(set(arms)) != len(arms):
        raise _err(path, "arms", "a list of distinct arms from " + ", ".join(ARMS), arms)
    scratch = data.get("scratch", True)
    if not isinstance(scratch, bool):
        raise _err(path, "scratch", "true or false", scratch)
    preset = data.get("preset", "tiny")
    from ..config import MODEL_PRESETS
    if preset not in MODEL_PRESETS:
        raise _err(path, "preset", "one of " + ", ".join(MODEL_PRESETS), preset)

    b = _mapping(path, "budgets", data.get("budgets"), tuple(Budgets.__dataclass_fields__))
    for k in ("pretrain_steps", "finetune_steps"):
        if k not in b:
            raise _err(path, f"budgets.{k}", "a positive number of steps (required)", None)
    budgets = Budgets(
        pretrain_steps=_number(path, "budgets.pretrain_steps", b["pretrain_steps"], 1, integer=True),
        finetune_steps=_number(path, "budgets.finetune_steps", b["finetune_steps"], 1, integer=True),
        pretrain_lr=_number(path, "budgets.pretrain_lr", b.get("pretrain_lr", 1e-3), 0, lo_open=True),
        finetune_lr=_number(path, "budgets.finetune_lr", b.get("finetune_lr", 4e-4), 0, lo_open=True),
        mlp_floor_steps=_number(path, "budgets.mlp_floor_steps", b.get("mlp_floor_steps", 5000), 1, integer=True))

    p = _mapping(path, "protocol", data.get("protocol"), tuple(Protocol.__dataclass_fields__))
    for k in ("zero_shot_actions", "test_takes"):
        v = p.get(k, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v) or len(set(v)) != len(v):
            raise _err(path, f"protocol.{k}", "a list of distinct names", v)
    if not isinstance(p.get("pretrain_data", ""), str):
        raise _err(path, "protocol.pretrain_data", "a folder path ('' = the bundled subset)", p.get("pretrain_data"))
    protocol = Protocol(
        pretrain_data=p.get("pretrain_data", ""), zero_shot_actions=list(p.get("zero_shot_actions", [])),
        test_takes=list(p.get("test_takes", [])),
        low_data_fraction=_number(path, "protocol.low_data_fraction", p.get("low_data_fraction", 0.1), 0, 1, lo_open=True),
        low_data_min_takes=_number(path, "protocol.low_data_min_takes", p.get("low_data_min_takes", 5), 1, integer=True),
        training_like_views=_number(path, "protocol.training_like_views", p.get("training_like_views", 2), 0, integer=True),
        view_seed=_number(path, "protocol.view_seed", p.get("view_seed", 2301), 0, integer=True),
        min_test_takes_per_action=_number(path, "protocol.min_test_takes_per_action",
                                          p.get("min_test_takes_per_action", 2), 1, integer=True),
        eval_batch=_number(path, "protocol.eval_batch", p.get("eval_batch", 8), 1, integer=True))
    if not protocol.test_takes:
        raise _err(path, "protocol.test_takes", "the declared test takes (a non-empty list of take names)", [])

    r = _mapping(path, "readouts", data.get("readouts"), tuple(READOUTS))
    if not r:
        raise _err(path, "readouts", "a mapping of readout -> {role: primary|secondary, ...}", None)
    readouts = {}
    for readout, spec in r.items():
        spec = _mapping(path, f"readouts.{readout}", spec, ("role",) + tuple(READOUTS[readout]))
        if spec.get("role") not in ROLES:
            raise _err(path, f"readouts.{readout}.role", "primary or secondary (declared before running)",
                       spec.get("role"))
        params = {**READOUTS[readout], **{k: v for k, v in spec.items() if k != "role"}}
        for k, v in params.items():
            _number(path, f"readouts.{readout}.{k}", v, 0, lo_open=True)
        readouts[readout] = {"role": spec["role"], **params}
    if not any(v["role"] == "primary" for v in readouts.values()):
        raise _err(path, "readouts", "at least one readout with role primary", {k: v["role"] for k, v in readouts.items()})

    s = _mapping(path, "statistics", data.get("statistics"), tuple(Statistics.__dataclass_fields__))
    cells = list(arms) + ([SCRATCH] if scratch else [])
    pc = s.get("primary_contrast", ["B", "A"])
    if not (isinstance(pc, list) and len(pc) == 2 and all(c in cells for c in pc) and pc[0] != pc[1]):
        raise _err(path, "statistics.primary_contrast", "[cell, reference], two different cells of this design", pc)
    stats = Statistics(alpha=_number(path, "statistics.alpha", s.get("alpha", 0.05), 0, 1, lo_open=True),
                       power=_number(path, "statistics.power", s.get("power", 0.8), 0, 1, lo_open=True),
                       bootstrap=_number(path, "statistics.bootstrap", s.get("bootstrap", 2000), 0, integer=True),
                       bootstrap_seed=_number(path, "statistics.bootstrap_seed", s.get("bootstrap_seed", 0), 0, integer=True),
                       primary_contrast=list(pc))
    contrasts = data.get("contrasts", [pc])
    if not isinstance(contrasts, list) or not all(
            isinstance(c, list) and len(c) == 2 and all(x in cells for x in c) and c[0] != c[1] for c in contrasts):
        raise _err(path, "contrasts", "a list of [cell, reference] pairs of this design's cells " + ", ".join(cells),
                   contrasts)
    if list(pc) not in [list(c) for c in contrasts]:
        contrasts = [list(pc)] + contrasts
    gate = _mapping(path, "gate", data.get("gate", {}), ("mlp_margin_mm",))
    margin = gate.get("mlp_margin_mm")
    if margin is not None:
        _number(path, "gate.mlp_margin_mm", margin, 0)
    for k in ("overrides", "finetune_overrides", "estimate"):
        _mapping(path, k, data.get(k, {}))
    return PoweredDesign(name=name, seeds=seeds, arms=list(arms), budgets=budgets, protocol=protocol,
                         readouts=readouts, preset=preset, tuning_seeds=tuning, scratch=scratch,
                         overrides=dict(data.get("overrides") or {}),
                         finetune_overrides=dict(data.get("finetune_overrides") or {}),
                         gate={"mlp_margin_mm": None if margin is None else float(margin)}, statistics=stats,
                         contrasts=[list(c) for c in contrasts], estimate=dict(data.get("estimate") or {}), path=path)


def load_design(path: str | Path) -> PoweredDesign:
    """Read and validate a design file (see the module doc)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such design file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the design ({str(e).splitlines()[0]})") from None
    return design_from_dict(data, str(path))
