"""Running the ablation's cells: step budgets, one run folder per cell and stage, skip and resume.

Layout under `out` (S = a sweep setting's folder, only in sweep mode):

    ablation_spec.json                    budgets, preset, data, overrides: a re-run must match
    [S/]<cell>/seed<k>/pretrain/          a normal run folder (+ ablation_cell.json when finished)
    [S/]<cell>/seed<k>/finetune/          a normal run folder (+ eval.json, ablation_cell.json)
    [S/]<cell>/seed<k>/.running           the claim of the process training it (claim.py)
    summary.json / .md / .csv             (sweep: sweep.json / .md / .csv)

Every stage is trained with `resume=True`: a folder holding a checkpoint continues exactly where it
stopped (the training loop's determinism makes that bit-identical to an uninterrupted run); a stage
holding `ablation_cell.json` is finished and skipped. The schedule of each stage is its own step
budget (warm-up + cosine), so a cell's result never depends on machine load. Several processes
may run the same command into one --out: each trains the cells no other live process has claimed.
"""
from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..api import finetune, finetune_config, pretrain, pretrain_config
from ..config import _merge, config_hash
from ..evaluate import evaluate
from ..train.checkpoint import atomic_write_text
from ..train.runs import read_metrics
from .claim import claim, holder
from .reuse import adopt, find_reusable
from .protocol import (
    BASELINE,
    DONE_NAME,
    SPEC_NAME,
    SCRATCH_F,
    SCRATCH_PF,
    AblationData,
    cell_folder,
    load_ablation_data,
    parse_cells,
    sweep_validation_data,
    variant_keys,
)

SPEC_FORMAT = "actionpose.ablation.spec/1"
# Keys fine-tuning always sets itself (alignment off, masks off): user overrides never reach them.
_FINETUNE_LOCKED = {"align": ("enabled",), "mask": ("joint_prob", "frame_prob", "part_prob", "window_prob")}
_HEAD_KEYS = ("embed_hidden", "embed_pool")  # model keys of the motion-embedding head only
Log = Callable[[str], None]


@dataclass
class AblationSpec:
    """One ablation (or method-tuning sweep) command.

    pretrain_steps / finetune_steps: P and F, the step budgets of every cell's stages.
    seeds / cells: which cells to run now (they select work; a later command may add more).
    overrides: config overrides for every cell (e.g. a smaller model in tests, a tuned setting).
    sweep: {setting name: overrides of the pretraining stage}; set -> method-tuning mode.
    settings: which sweep settings to run now (None: all; like seeds and cells they select work,
        e.g. more seeds of the chosen setting and its baseline, and are not part of the identity).
    """

    pretrain_steps: int
    finetune_steps: int
    out: Path
    seeds: list[int] = field(default_factory=lambda: [0])
    cells: list[str] | None = None
    pretrain_data: str = ""
    target_data: str = ""
    preset: str = "tiny"
    overrides: dict = field(default_factory=dict)
    device: str = "auto"
    flip: bool = False
    eval_max_sequences: int | None = None
    pretrain_val_points: int = 5  # validations per pretraining stage (the recognition/MPJPE curve)
    sweep: dict[str, dict] | None = None
    settings: list[str] | None = None
    # Other ablation folders whose finished, identical pretraining stages may be copied instead of
    # recomputed (see reuse.py); like seeds, not part of the identity: it changes no result.
    reuse_pretraining: list[Path] = field(default_factory=list)
    # Stage learning rates (None: the library's, 5e-4 pretraining / api.FINETUNE_LR fine-tuning). A
    # tiny model at batch 16 learns faster at 1e-3 (the demo recipe); one rate for every fine-tune keeps
    # the scratch and pretrained rows comparable.
    pretrain_lr: float | None = None
    finetune_lr: float | None = None

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        for name in ("pretrain_steps", "finetune_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"--{name.replace('_', '-')} = {v!r}: expected a positive number of steps")
        if self.device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"--device {self.device!r}: expected auto, cuda or cpu")
        for name in ("pretrain_lr", "finetune_lr"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"--{name.replace('_', '-')} = {v!r}: expected a positive learning rate")
        if self.settings is not None:
            if not self.sweep:
                raise ValueError("--setting selects sweep settings: it needs --sweep or --sweep-config")
            unknown = [s for s in self.settings if s not in self.sweep]
            if unknown or not self.settings:
                raise ValueError(f"--setting {unknown[0] if unknown else ''!r}: not a setting of this sweep; "
                                 "expected one of " + ", ".join(repr(k) for k in self.sweep))

    @property
    def mode(self) -> str:
        return "sweep" if self.sweep else "ablation"

    def identity(self, data: AblationData) -> dict:
        """Everything that decides what a cell computes; a re-run into the same --out must match it."""
        def path(p: str) -> str:
            return str(Path(p).resolve()) if p else ""
        return json.loads(json.dumps({
            "mode": self.mode, "pretrain_steps": self.pretrain_steps, "finetune_steps": self.finetune_steps,
            "preset": self.preset, "overrides": self.overrides, "flip": self.flip,
            "eval_max_sequences": self.eval_max_sequences, "pretrain_data": path(self.pretrain_data),
            "target_data": path(self.target_data), "data_fingerprints": data.fingerprints(),
            "sweep": self.sweep or {},
            # only when set, so folders made before these options existed still match
            **({"pretrain_lr": self.pretrain_lr} if self.pretrain_lr is not None else {}),
            **({"finetune_lr": self.finetune_lr} if self.finetune_lr is not None else {}),
        }))


@dataclass(frozen=True)
class CellPlan:
    """One row of the table: a cell name, its folder under --out and its stages' budgets."""

    name: str
    folder: str
    variant: str | None  # pretraining variant; None = from scratch
    pretrain_steps: int
    finetune_steps: int
    setting: str = ""  # sweep setting name ("" in the ablation)
    method: tuple = ()  # sweep setting overrides, as a hashable JSON string pair

    @property
    def method_overrides(self) -> dict:
        return json.loads(self.method[0]) if self.method else {}


def plan_cells(spec: AblationSpec, cells: list[str] | None = None) -> list[CellPlan]:
    """The cells of `spec` (all cells when `cells` is None): ablation rows, or sweep setting × variant."""
    P, F = spec.pretrain_steps, spec.finetune_steps
    names = parse_cells(cells if cells is not None else spec.cells)
    if spec.mode == "ablation":
        out = []
        for c in names:
            if c == SCRATCH_F:
                out.append(CellPlan(c, cell_folder(c), None, 0, F))
            elif c == SCRATCH_PF:
                out.append(CellPlan(c, cell_folder(c), None, 0, P + F))
            else:
                out.append(CellPlan(c, cell_folder(c), c, P, F))
        return out
    text = [c for c in names if c not in (SCRATCH_F, SCRATCH_PF, BASELINE)] or ["actionpose"]
    base_hash = config_hash(pretrain_config(spec.preset, BASELINE, _stage_method(spec, BASELINE, {})))
    out = []
    for setting, method in spec.sweep.items():
        m = (json.dumps(method, sort_keys=True),)
        folder = sweep_folder(setting)
        same = config_hash(pretrain_config(spec.preset, BASELINE, _stage_method(spec, BASELINE, method))) == base_hash
        # The baseline is shared by every setting that does not change it (e.g. loss.w_align).
        out.append(CellPlan(BASELINE, f"base/{cell_folder(BASELINE)}" if same else f"{folder}/{cell_folder(BASELINE)}",
                            BASELINE, P, F, setting, () if same else m))
        out += [CellPlan(v, f"{folder}/{cell_folder(v)}", v, P, F, setting, m) for v in text]
    return out


def sweep_folder(setting: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "._=+-," else "-" for ch in setting)
    return "setting-" + safe[:80]


def _stage_method(spec: AblationSpec, variant: str, method: dict) -> dict:
    """Pretraining overrides: common overrides, then the sweep setting, then the variant's own keys.

    A variant without alignment ignores a setting's `align.*` and `loss.w_align` keys (they cannot
    change what it computes), so e.g. a `loss.w_align` sweep shares one baseline across settings."""
    keys = variant_keys(variant)
    common = spec.overrides
    if not _aligns(variant):
        method = _without_head_keys({k: v for k, v in method.items() if k != "align"})
        if isinstance(method.get("loss"), dict):
            method["loss"] = {k: v for k, v in method["loss"].items() if k != "w_align"}
        common = _without_head_keys(common)
    return _merge(_merge(common, method), keys)


def _aligns(variant: str | None) -> bool:
    """Whether the variant's pretraining has the alignment (and so the motion-embedding head)."""
    return variant is not None and variant_keys(variant).get("align", {}).get("enabled") is not False


def _without_head_keys(over: dict) -> dict:
    """`over` without the motion-embedding head's model keys: a model without the head computes the
    same thing whatever they say, so e.g. `--set model.embed_pool=joints` leaves the scratch and
    `motionbert-style` cells (and their config hashes) as they were."""
    if not isinstance(over.get("model"), dict):
        return over
    model = {k: v for k, v in over["model"].items() if k not in _HEAD_KEYS}
    return {**{k: v for k, v in over.items() if k != "model"}, **({"model": model} if model else {})}


def _every(steps: int, points: int) -> int:
    return max(1, math.ceil(steps / max(1, points)))


def _strip_locked(over: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in over.items()}
    for section, keys in _FINETUNE_LOCKED.items():
        if isinstance(out.get(section), dict):
            for k in keys:
                out[section].pop(k, None)
    return out


def pretrain_overrides(spec: AblationSpec, plan: CellPlan, seed: int) -> dict:
    budget = {"train": {"max_steps": plan.pretrain_steps, "seed": seed, "device": spec.device,
                        "val_every": _every(plan.pretrain_steps, spec.pretrain_val_points),
                        "ckpt_every": min(1000, _every(plan.pretrain_steps, 10))}}
    if spec.pretrain_lr is not None:
        budget["optim"] = {"lr": float(spec.pretrain_lr)}
    return _merge(_stage_method(spec, plan.variant, plan.method_overrides), budget)


def finetune_overrides(spec: AblationSpec, plan: CellPlan, seed: int) -> dict:
    # No validation while fine-tuning: the target's held-out takes are only touched by evaluate().
    budget = {"train": {"max_steps": plan.finetune_steps, "seed": seed, "device": spec.device, "val_every": 0,
                        "ckpt_every": min(1000, _every(plan.finetune_steps, 10))}}
    if spec.finetune_lr is not None:
        budget["optim"] = {"lr": float(spec.finetune_lr)}
    common = _strip_locked(spec.overrides if _aligns(plan.variant) else _without_head_keys(spec.overrides))
    return _merge(common, budget)


def stage_dir(out: Path, plan: CellPlan, seed: int, stage: str) -> Path:
    return Path(out) / plan.folder / f"seed{seed}" / stage


def read_done(run_dir: Path) -> dict | None:
    path = Path(run_dir) / DONE_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise ValueError(f"{path}: not valid JSON (delete it to redo this stage)") from None


def _checked_done(run_dir: Path, cfg_hash: str) -> dict | None:
    done = read_done(run_dir)
    if done is not None and done.get("config_hash") != cfg_hash:
        raise ValueError(f"{run_dir / DONE_NAME}: field config_hash = {done.get('config_hash')!r} but this command "
                         f"resolves the stage's config to {cfg_hash!r} (the code or config changed since the "
                         "stage finished); use a new --out")
    return done


def _checkpoint_step(run_dir: Path) -> int:
    path = Path(run_dir) / "checkpoint.json"
    if not path.exists():
        return 0
    try:
        return int(json.loads(path.read_text()).get("step", 0))
    except (json.JSONDecodeError, ValueError, TypeError):
        return 0


def _write_done(run_dir: Path, record: dict) -> dict:
    atomic_write_text(Path(run_dir) / DONE_NAME, json.dumps(record, indent=1))
    return record


def _eval_device(device: str) -> str:
    if device == "auto":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _pretrain_hash(spec: AblationSpec, plan: CellPlan, seed: int) -> str:
    return config_hash(pretrain_config(spec.preset, plan.variant, pretrain_overrides(spec, plan, seed)))


def _reusable_pretraining(spec: AblationSpec, plan: CellPlan, seed: int, data: AblationData,
                          cfg_hash: str | None = None) -> Path | None:
    """The --reuse-pretraining stage this cell's pretraining may copy: only into an unstarted folder."""
    d = stage_dir(spec.out, plan, seed, "pretrain")
    if not spec.reuse_pretraining or (d.exists() and any(d.iterdir())):
        return None
    return find_reusable(spec.reuse_pretraining, data.fingerprints()["pretrain"], seed,
                         cfg_hash or _pretrain_hash(spec, plan, seed))


def run_pretrain_stage(spec: AblationSpec, plan: CellPlan, seed: int, data: AblationData,
                       progress: bool = False, log: Log | None = None) -> dict:
    """Pretrain one cell (or skip it when finished); returns its ablation_cell.json record."""
    d = stage_dir(spec.out, plan, seed, "pretrain")
    over = pretrain_overrides(spec, plan, seed)
    h = _pretrain_hash(spec, plan, seed)
    done = _checked_done(d, h)
    if done is not None:
        return done
    start = _checkpoint_step(d)
    src = _reusable_pretraining(spec, plan, seed, data, h)
    if src is not None:
        if log:
            log(f"[{plan.name}{' @ ' + plan.setting if plan.setting else ''} seed {seed}] pretrain: reusing the "
                f"identical finished stage {src}")
        return adopt(src, d, {"cell": plan.name, "setting": plan.setting})
    if log:
        log(f"[{plan.name}{' @ ' + plan.setting if plan.setting else ''} seed {seed}] pretrain "
            f"{'resuming at step ' + str(start) + ' of ' if start else ''}{plan.pretrain_steps} steps -> {d}")
    res = pretrain(spec.preset, plan.variant, d, overrides=over, resume=True, progress=progress,
                   motions=data.pretrain)
    vals = [r for r in read_metrics(d) if r.get("split") == "val" and r.get("step") == plan.pretrain_steps]
    last = vals[-1] if vals else {}
    rec = {"cell": plan.name, "setting": plan.setting, "seed": seed, "stage": "pretrain", "variant": plan.variant,
           "steps": res.step, "config_hash": h, "steps_trained": res.step - start, "train_seconds": res.seconds,
           "val": {k: last.get(k) for k in ("step", "mpjpe_mm", "windows", "top1", "top5", "chance_top1",
                                             "content_top1", "chance_content_top1",
                                             "labelled_windows") if k in last}}
    return _write_done(d, rec)


def run_finetune_stage(spec: AblationSpec, plan: CellPlan, seed: int, data: AblationData,
                       progress: bool = False, log: Log | None = None) -> dict:
    """Fine-tune one cell (from its pretraining run, or from scratch), then evaluate it."""
    d = stage_dir(spec.out, plan, seed, "finetune")
    over = finetune_overrides(spec, plan, seed)
    init = "scratch" if plan.variant is None else stage_dir(spec.out, plan, seed, "pretrain")
    preset = spec.preset if plan.variant is None else None
    h = config_hash(finetune_config(init, over, preset))
    done = _checked_done(d, h)
    if done is not None:
        return done
    start = _checkpoint_step(d)
    if log:
        log(f"[{plan.name}{' @ ' + plan.setting if plan.setting else ''} seed {seed}] fine-tune "
            f"{'resuming at step ' + str(start) + ' of ' if start else ''}{plan.finetune_steps} steps -> {d}")
    res = finetune(init, d, overrides=over, resume=True, preset=preset, progress=progress, motions=data.finetune)
    t0 = time.time()
    rep = evaluate(d, motions=data.evaluate, data_info=data.eval_info, split=data.eval_split, flip=spec.flip,
                   device=_eval_device(spec.device), max_sequences=spec.eval_max_sequences, write=True)
    s = rep.summary.set_index("metric")["value"]
    per_action = rep.per_action.reset_index()
    rec = {"cell": plan.name, "setting": plan.setting, "seed": seed, "stage": "finetune", "variant": plan.variant,
           "steps": res.step, "config_hash": h, "steps_trained": res.step - start, "train_seconds": res.seconds,
           "eval_seconds": time.time() - t0,
           "metrics": {"mpjpe_mm": _f(s.get("MPJPE")), "p_mpjpe_mm": _f(s.get("P-MPJPE")),
                       "n_mpjpe_mm": _f(s.get("N-MPJPE")), "mpjve_mm_per_frame": _f(s.get("MPJVE"))},
           "recognition_top1_pct": _f(rep.recognition.get("top1_pct")) if rep.recognition else None,
           "eval_header": {k: rep.header.get(k) for k in ("dataset", "split", "2d_source", "frames_per_window",
                                                          "flip_tta", "aggregation", "sequences", "views", "frames")},
           "per_action": [{"action": str(r["action"]), "mpjpe_mm": _f(r["mpjpe_mm"]), "p_mpjpe_mm": _f(r["p_mpjpe_mm"])}
                          for _, r in per_action.iterrows()]}
    return _write_done(d, rec)


def _f(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def run_cell(spec: AblationSpec, plan: CellPlan, seed: int, data: AblationData, progress: bool = False,
             log: Log | None = None) -> dict:
    """Both stages of one cell; returns the per-seed row (see `cell_row`)."""
    pre = run_pretrain_stage(spec, plan, seed, data, progress, log) if plan.variant is not None else None
    ft = run_finetune_stage(spec, plan, seed, data, progress, log)
    return cell_row(plan, seed, pre, ft, spec.out)


def cell_row(plan: CellPlan, seed: int, pre: dict | None, ft: dict, out: Path) -> dict:
    """One per-seed row of the summary from the two stages' records."""
    val = (pre or {}).get("val", {})
    if pre is not None and "content_top1" not in val:
        val = {**_logged_content_top1(Path(out) / plan.folder / f"seed{seed}" / "pretrain", plan.pretrain_steps), **val}
    def pct(v: float | None) -> float | None:
        return None if v is None else 100.0 * v

    return {"cell": plan.name, "setting": plan.setting, "seed": seed, **ft["metrics"],
            "pretrain_top1_pct": pct(val.get("top1")), "pretrain_top5_pct": pct(val.get("top5")),
            "pretrain_chance_top1_pct": pct(val.get("chance_top1")), "pretrain_val_mpjpe_mm": val.get("mpjpe_mm"),
            "pretrain_content_top1_pct": pct(val.get("content_top1")),
            "pretrain_chance_content_top1_pct": pct(val.get("chance_content_top1")),
            "pretrain_val_windows": val.get("labelled_windows", val.get("windows")),
            "target_top1_pct": ft.get("recognition_top1_pct"),
            "pretrain_steps": plan.pretrain_steps, "finetune_steps": plan.finetune_steps,
            "seconds": (pre or {}).get("train_seconds", 0.0) + ft.get("train_seconds", 0.0) + ft.get("eval_seconds", 0.0),
            "run": str((Path(plan.folder) / f"seed{seed}" / "finetune").as_posix())}


def _logged_content_top1(run_dir: Path, step: int) -> dict:
    """Action (content) top-1 of a pretraining stage at `step`, read from its metrics.jsonl: records
    written before the record kept it (the label top-1 there counts action+style labels)."""
    if not (Path(run_dir) / "metrics.jsonl").exists():
        return {}
    vals = [r for r in read_metrics(run_dir) if r.get("split") == "val" and r.get("step") == step]
    return {k: vals[-1][k] for k in ("content_top1", "chance_content_top1") if vals and k in vals[-1]}


def finished_rows(spec: AblationSpec) -> list[dict]:
    """Rows of every finished cell under spec.out (any seed, any cell; not only this command's)."""
    rows = []
    for plan in plan_cells(spec, cells=[]):
        base = Path(spec.out) / plan.folder
        if not base.is_dir():
            continue
        seeds = sorted(int(p.name[4:]) for p in base.glob("seed*") if p.name[4:].isdigit())
        for seed in seeds:
            ft = read_done(stage_dir(spec.out, plan, seed, "finetune"))
            pre = read_done(stage_dir(spec.out, plan, seed, "pretrain")) if plan.variant else None
            if ft is None or (plan.variant and pre is None):
                continue
            rows.append(cell_row(plan, seed, pre, ft, spec.out))
    return rows


def finished_per_action(spec: AblationSpec) -> list[dict]:
    """Per-action protocol #1/#2 errors of every finished cell × seed (rows: setting, cell, seed, action, ...)."""
    out, seen = [], set()
    for plan in plan_cells(spec, cells=[]):
        base = Path(spec.out) / plan.folder
        for seed_dir in sorted(base.glob("seed*")) if base.is_dir() else []:
            if not seed_dir.name[4:].isdigit() or (plan.setting, plan.name, seed_dir) in seen:
                continue
            seen.add((plan.setting, plan.name, seed_dir))
            ft = read_done(seed_dir / "finetune")
            if ft is None or (plan.variant and read_done(seed_dir / "pretrain") is None):
                continue
            out += [{"setting": plan.setting, "cell": plan.name, "seed": int(seed_dir.name[4:]), **r}
                    for r in ft.get("per_action", [])]
    return out


def check_spec(spec: AblationSpec, data: AblationData) -> dict:
    """Write `ablation_spec.json` on the first run; refuse a re-run whose identity differs."""
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SPEC_NAME
    ident = spec.identity(data)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise ValueError(f"{path}: not valid JSON") from None
        old_ident = old.get("identity", {})
        if old_ident.get("data_fingerprints") == ident.get("data_fingerprints"):
            # the data fingerprints pin the data; a folder continued on another machine may find it
            # prepared at another path
            old_ident = {**old_ident, "pretrain_data": ident["pretrain_data"], "target_data": ident["target_data"]}
        keys = list(ident) + sorted(set(old_ident) - set(ident))  # budgets first
        diff = [f"identity.{k} = {json.dumps(old_ident.get(k))[:100]} (this command: {json.dumps(ident.get(k))[:100]})"
                for k in keys if old_ident.get(k) != ident.get(k)]
        if diff:
            raise ValueError(f"{path}: this folder holds a different ablation: " + "; ".join(diff)
                             + "; re-run with the same settings to continue it, or use a new --out")
        return old
    rec = {"format": SPEC_FORMAT, "identity": ident, "protocol": data.description, "eval_split": data.eval_split,
           "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    atomic_write_text(path, json.dumps(rec, indent=1))
    return rec


# ------------------------------------------------------------------------------------ estimate

def _measured_seconds_per_step(spec: AblationSpec) -> dict[str, float]:
    """Median train seconds per step of finished stages under --out, per stage kind."""
    per: dict[str, list[float]] = {"pretrain": [], "finetune": []}
    for p in Path(spec.out).glob(f"**/{DONE_NAME}"):
        r = read_done(p.parent)
        if r and r.get("steps_trained", 0) > 0:
            per[r["stage"]].append(r["train_seconds"] / r["steps_trained"])
    return {k: sorted(v)[len(v) // 2] for k, v in per.items() if v}


def _calibrate(spec: AblationSpec, data: AblationData, stage: str) -> float:
    """Seconds per step of a stage, timed over steps 2..4 of a throw-away run (logged throughput)."""
    steps = 4
    over = _merge(spec.overrides, {"train": {"max_steps": steps, "val_every": 0, "ckpt_every": 10**9,
                                             "log_every": 1, "device": spec.device}})
    with tempfile.TemporaryDirectory(prefix="actionpose_calib_") as tmp:
        if stage == "pretrain":
            cfg = pretrain_config(spec.preset, "actionpose", over)
            pretrain(spec.preset, "actionpose", Path(tmp) / "run", overrides=over, progress=False,
                     motions=data.pretrain)
        else:
            cfg = finetune_config("scratch", _strip_locked(over), spec.preset)
            finetune("scratch", Path(tmp) / "run", overrides=_strip_locked(over), preset=spec.preset,
                     progress=False, motions=data.finetune)
        recs = [r for r in read_metrics(Path(tmp) / "run") if r.get("split") == "train"][1:]
    rates = sorted(cfg.data.batch_size / r["clips_per_s"] for r in recs if r.get("clips_per_s"))
    return rates[len(rates) // 2] if rates else float("nan")


def pending_steps(spec: AblationSpec, plans: list[CellPlan], data: AblationData | None = None) -> dict[str, int]:
    """Training steps still to run, per stage kind, for `plans` × spec.seeds (with `data`, pretraining
    stages that --reuse-pretraining will copy count as `reused`, not as steps)."""
    todo = {"pretrain": 0, "finetune": 0, "evaluations": 0, "reused": 0}
    seen = set()
    for seed in spec.seeds:
        for plan in plans:
            if plan.variant is not None:
                d = stage_dir(spec.out, plan, seed, "pretrain")
                if d not in seen and read_done(d) is None:
                    if data is not None and _reusable_pretraining(spec, plan, seed, data) is not None:
                        todo["reused"] += 1
                    else:
                        todo["pretrain"] += plan.pretrain_steps - min(_checkpoint_step(d), plan.pretrain_steps)
                seen.add(d)
            d = stage_dir(spec.out, plan, seed, "finetune")
            if d not in seen and read_done(d) is None:
                todo["finetune"] += plan.finetune_steps - min(_checkpoint_step(d), plan.finetune_steps)
                todo["evaluations"] += 1
            seen.add(d)
    return todo


def estimate(spec: AblationSpec, data: AblationData, plans: list[CellPlan]) -> dict:
    """Pending steps and their estimated minutes (measured on finished stages, else a short timing)."""
    todo = pending_steps(spec, plans, data)
    rates = _measured_seconds_per_step(spec)
    source = "finished stages under --out"
    for stage in ("pretrain", "finetune"):
        if todo[stage] and stage not in rates:
            rates[stage] = _calibrate(spec, data, stage)
            source = "a 4-step timing run now"
    minutes = sum(todo[s] * rates.get(s, 0.0) for s in ("pretrain", "finetune")) / 60.0
    return {"pending": todo, "seconds_per_step": rates, "minutes": minutes, "source": source}


def format_estimate(est: dict) -> str:
    t, r = est["pending"], est["seconds_per_step"]
    if not t["pretrain"] and not t["finetune"] and not t["evaluations"]:
        return "estimate: nothing left to run (every selected cell is finished)"
    rate = ", ".join(f"{k} {v:.3g} s/step" for k, v in r.items())
    reused = f" ({t['reused']} pretraining stage(s) copied, not retrained)" if t.get("reused") else ""
    return (f"estimate: {t['pretrain']} pretraining + {t['finetune']} fine-tuning steps and {t['evaluations']} "
            f"evaluations left{reused}; {rate} ({est['source']}) -> about {est['minutes']:.1f} min of training, plus "
            "evaluation (not a budget: every cell runs its full step count)")


# ------------------------------------------------------------------------------------ the command

def run_ablation(spec: AblationSpec, progress: bool = False, log: Log | None = None,
                 estimate_only: bool = False) -> dict:
    """Run every selected, unfinished cell (seed-major), then write the summary of all finished cells.

    Returns the summary dict (also written as summary.json/.md/.csv, or sweep.* in sweep mode).
    """
    from .report import build_summary, write_summary
    data = load_ablation_data(spec.pretrain_data, spec.target_data)
    if spec.mode == "sweep":
        data = sweep_validation_data(data)
    spec_rec = check_spec(spec, data)
    plans = [p for p in plan_cells(spec) if spec.settings is None or p.setting in spec.settings]
    est = estimate(spec, data, plans)
    if log:
        log(format_estimate(est))
    if estimate_only:
        return {"estimate": est}
    for seed in spec.seeds:
        for plan in plans:
            with claim(Path(spec.out) / plan.folder / f"seed{seed}") as mine:
                if mine:
                    run_cell(spec, plan, seed, data, progress=progress, log=log)
                elif log:
                    log(f"[{plan.name}{' @ ' + plan.setting if plan.setting else ''} seed {seed}] skipped: "
                        f"process {(holder(Path(spec.out) / plan.folder / f'seed{seed}') or {}).get('pid', '?')} is running it")
    summary = build_summary(finished_rows(spec), spec_rec, mode=spec.mode, per_action=finished_per_action(spec))
    write_summary(spec.out, summary)
    return summary
