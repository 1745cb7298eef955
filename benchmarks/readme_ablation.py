"""Write the README's ablation tables from a committed summary.json (no numbers typed by hand).

    python benchmarks/readme_ablation.py [SUMMARY_JSON] [--sweep SWEEP_JSON] [--readme README.md] [--check]

Fills the blocks between `<!-- ablation-table:start/end -->` (per-cell mean ± sd) and
`<!-- ablation-paired:start/end -->` (paired differences with their 95 % interval), and, when the
method-tuning sweep's results exist (default: benchmarks/results/ablation/sweep/sweep.json),
`<!-- ablation-sweep:start/end -->` (per setting, its paired difference to motionbert-style and
the declared choice). `--check` exits 1 when the README differs from what the results give (tests use it).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from actionpose.ablation.report import _pm  # the summary.md cell format, one owner

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SUMMARY = ROOT / "benchmarks" / "results" / "ablation" / "summary.json"
DEFAULT_SWEEP = ROOT / "benchmarks" / "results" / "ablation" / "sweep" / "sweep.json"


def _signed(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1f}".replace("+-", "-")


def _delta(p: dict | None) -> str:
    if not p:
        return "—"
    if p.get("ci95_low") is None:
        return f"{_signed(p['mean'])} (one seed)"
    return f"{_signed(p['mean'])} [{_signed(p['ci95_low'])}, {_signed(p['ci95_high'])}]"


def cell_table(summary: dict) -> str:
    lines = ["| cell | seeds | MPJPE (mm) | P-MPJPE (mm) | MPJVE (mm/frame) | action top-1 after pretraining (%) | "
             "action+style top-1 after pretraining (%) | pretrain / fine-tune steps |",
             "|---|---|---|---|---|---|---|---|"]
    for a in summary["aggregate"]:
        lines.append(f"| {a['cell']} | {', '.join(str(s) for s in a['seeds'])} | {_pm(a['mpjpe_mm'], 1)} | "
                     f"{_pm(a['p_mpjpe_mm'], 1)} | {_pm(a['mpjve_mm_per_frame'], 2)} | "
                     f"{_pm(a.get('pretrain_content_top1_pct') or {'mean': None}, 1)} | {_pm(a.get('pretrain_top1_pct') or {'mean': None}, 1)} | "
                     f"{a['pretrain_steps']} / {a['finetune_steps']} |")
    return "\n".join(lines)


def paired_table(summary: dict) -> str:
    by = {}
    for p in summary["paired"]:
        by.setdefault((p["cell"], p["reference"]), {})[p["metric"]] = p
    lines = ["| cell | reference | seeds | Δ MPJPE (mm) [95 % CI] | Δ P-MPJPE (mm) [95 % CI] |", "|---|---|---|---|---|"]
    for (cell, ref), m in by.items():
        seeds = (m.get("mpjpe_mm") or m.get("p_mpjpe_mm"))["seeds"]
        lines.append(f"| {cell} | {ref} | {', '.join(str(s) for s in seeds)} | {_delta(m.get('mpjpe_mm'))} | "
                     f"{_delta(m.get('p_mpjpe_mm'))} |")
    return "\n".join(lines)


def sweep_table(sweep: dict) -> str:
    """One row per setting × text variant: validation errors, recognition, Δ to motionbert-style;
    then the declared choice and its verdict (report.select_setting)."""
    by = {(p["setting"], p["cell"], p["metric"]): p for p in sweep["paired"] if p["reference"] == "motionbert-style"}
    lines = ["| setting | cell | seeds | MPJPE (mm) | P-MPJPE (mm) | action top-1 after pretraining (%) | "
             "Δ MPJPE vs motionbert-style (mm) [95 % CI] | Δ P-MPJPE (mm) [95 % CI] |",
             "|---|---|---|---|---|---|---|---|"]
    for a in sweep["aggregate"]:
        lines.append(f"| {a['setting']} | {a['cell']} | {', '.join(str(s) for s in a['seeds'])} | "
                     f"{_pm(a['mpjpe_mm'], 1)} | {_pm(a['p_mpjpe_mm'], 1)} | "
                     f"{_pm(a.get('pretrain_content_top1_pct') or {'mean': None}, 1)} | "
                     f"{_delta(by.get((a['setting'], a['cell'], 'mpjpe_mm')))} | "
                     f"{_delta(by.get((a['setting'], a['cell'], 'p_mpjpe_mm')))} |")
    sel = sweep.get("selection") or {}
    if sel.get("best"):
        on = sel.get("selected_on_seeds")
        lines += ["", f"Chosen by the declared criterion ({sel['criterion']}"
                  + (f", over seed(s) {', '.join(map(str, on))}, the seeds every setting has" if on else "")
                  + f"): `{sel['best']['cell']}` with `{sel['best']['setting']}`; {sel['verdict']}."]
    return "\n".join(lines)


def fill(readme: str, summary: dict, sweep: dict | None = None) -> str:
    blocks = [("ablation-table", cell_table(summary)), ("ablation-paired", paired_table(summary))]
    if sweep is not None:
        blocks.append(("ablation-sweep", sweep_table(sweep)))
    for name, table in blocks:
        pat = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pat.search(readme):
            raise ValueError(f"README: no <!-- {name}:start --> ... <!-- {name}:end --> block")
        readme = pat.sub(lambda m, table=table: m.group(1) + table + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summary", nargs="?", default=str(DEFAULT_SUMMARY))
    ap.add_argument("--sweep", default=str(DEFAULT_SWEEP), help="the sweep's sweep.json (skipped when absent)")
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    ap.add_argument("--check", action="store_true", help="exit 1 if the README is not what the summary gives")
    args = ap.parse_args(argv)
    summary = json.loads(Path(args.summary).read_text())
    path = Path(args.readme)
    old = path.read_text()
    sweep_path = Path(args.sweep)
    sweep = json.loads(sweep_path.read_text()) if sweep_path.exists() else None
    try:
        new = fill(old, summary, sweep)
    except ValueError as e:
        print(str(e).replace("README", str(path), 1), file=sys.stderr)  # fill names the file "README"
        return 2
    if args.check:
        if new != old:
            print(f"{path}: the ablation tables differ from {args.summary}; run benchmarks/readme_ablation.py",
                  file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
