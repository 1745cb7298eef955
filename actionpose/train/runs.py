"""Run folders (design §3): `config.yaml`, `metrics.jsonl`, `checkpoint.safetensors` + `.json`,
`eval.json`, `embeddings.npz`. Everything downstream reads run folders, never globals."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..config import RunConfig, load_yaml, save_yaml
from .checkpoint import CKPT_NAME, atomic_write_text

DEMO_NAME = "demo"
# Runs shipped with the package, by the name every `--run` accepts: the fine-tuned demo model and the
# pretraining run it was fine-tuned from (actionpose/assets/, read-only; see actionpose/demo.py).
SHIPPED_RUNS = {"demo": "demo_run", "demo-pretrain": "demo_pretrain_run"}


def shipped_run_dir(name: str = DEMO_NAME) -> Path:
    """The folder of a shipped run (`'demo'` or `'demo-pretrain'`) inside the package."""
    if name not in SHIPPED_RUNS:
        raise ValueError(f"shipped run {name!r}: expected one of {', '.join(SHIPPED_RUNS)}")
    return Path(str(resources.files("actionpose") / "assets" / SHIPPED_RUNS[name]))


def demo_run_dir() -> Path:
    """The run folder shipped with the package (a tiny pretrained + fine-tuned model)."""
    return shipped_run_dir(DEMO_NAME)


def shipped_name(run_dir: str | Path) -> str | None:
    """`'demo'` / `'demo-pretrain'` when `run_dir` is a shipped run's folder, else None."""
    here = Path(run_dir).resolve()
    for name in SHIPPED_RUNS:
        if here == shipped_run_dir(name).resolve():
            return name
    return None


def resolve_run(run: str | Path) -> Path:
    """`'demo'` / `'demo-pretrain'` -> the shipped runs (unless a folder of that name exists here);
    anything else must be a run folder (has config.yaml)."""
    if str(run) in SHIPPED_RUNS and not Path(run).exists():
        path = shipped_run_dir(str(run))
    else:
        path = Path(run)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such run folder")
    if not (path / "config.yaml").exists():
        raise ValueError(f"{path}: not a run folder (expected config.yaml inside; create one with "
                         f"`actionpose pretrain`, `finetune` or `import-motionbert`)")
    return path


def load_run_config(run_dir: Path) -> RunConfig:
    return load_yaml(Path(run_dir) / "config.yaml")


def init_run_dir(run_dir: Path, cfg: RunConfig) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(cfg, run_dir / "config.yaml")
    return run_dir


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / CKPT_NAME).exists()


def append_metrics(run_dir: Path, record: dict) -> None:
    with open(Path(run_dir) / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


# A run built in stages (the shipped `demo`: fine-tuned, then its embedding head re-fitted on the frozen
# lifter) is the folder of its last stage, with the log of the stage that trained its lifter beside its own.
FINETUNE_LOG = "finetune_metrics.jsonl"


def read_metrics(run_dir: Path, name: str = "metrics.jsonl") -> list[dict]:
    """The run's training log, one record per line; `name` picks another log in the folder (a run built
    in stages ships its earlier stage's too, e.g. `demo`'s `finetune_metrics.jsonl`)."""
    path = Path(run_dir) / name
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            # A kill mid-append leaves at most one partial last line; anything else is corruption.
            if i == len(path.read_text().splitlines()) - 1:
                continue
            raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
    return out


def truncate_metrics(run_dir: Path, max_step: int) -> None:
    """Drop records logged after `max_step` (they belong to work lost by a kill before a checkpoint)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return
    keep = [r for r in read_metrics(run_dir) if r.get("step", 0) <= max_step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def write_json(run_dir: Path, name: str, obj: dict) -> Path:
    path = Path(run_dir) / name
    atomic_write_text(path, json.dumps(obj, indent=1, default=float))
    return path
