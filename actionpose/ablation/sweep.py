"""The method-tuning sweep's declared settings: `--sweep KEY=V1,V2,...` axes (their product) or a
YAML file `{name: {section: {key: value}}}` of named settings."""
from __future__ import annotations

import itertools
from pathlib import Path

import yaml

from ..config import _merge, parse_override


def _value_list(key: str, text: str) -> list:
    vals = []
    for item in text.split(","):
        if not item.strip():
            continue
        vals.append(parse_override(f"{key}={item.strip()}"))
    if not vals:
        raise ValueError(f"--sweep {key}=: expected at least one value, e.g. {key}=0.1,0.3,1")
    return vals


def parse_sweep(axes: list[str] | None = None, config_file: str | Path | None = None) -> dict[str, dict]:
    """Settings name -> pretraining-stage overrides. Axes combine as a grid (product)."""
    settings: dict[str, dict] = {}
    if axes:
        parsed = []
        for expr in axes:
            if "=" not in expr:
                raise ValueError(f"--sweep {expr!r}: expected KEY=V1,V2,..., e.g. loss.w_align=0.1,0.3,1")
            key, vals = expr.split("=", 1)
            parsed.append([(f"{key.strip()}={v.strip()}", o) for v, o in
                           zip([x for x in vals.split(",") if x.strip()], _value_list(key.strip(), vals))])
        for combo in itertools.product(*parsed):
            over: dict = {}
            for _, o in combo:
                over = _merge(over, o)
            settings[" ".join(n for n, _ in combo)] = over
    if config_file:
        path = Path(config_file)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: cannot read the sweep settings ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict) or not data:
            raise ValueError(f"{path}: expected a mapping of setting name -> config overrides")
        for name, over in data.items():
            if not isinstance(over, dict):
                raise ValueError(f"{path}: setting {name!r}: expected a mapping of config overrides")
            settings[str(name)] = over
    return settings
