"""The ablation that tests the paper's claim: does action-text pretraining lower 3D error after
fine-tuning on a different dataset without labels? (protocol, runner, statistics, report, curve, sweep)

    protocol.py  which motions each stage sees; cell names; the sweep's validation split
    runner.py    step budgets, one resumable run folder per cell × seed × stage, the spec check
    stats.py     mean ± sd, paired differences with Student-t intervals (own t quantile)
    report.py    summary.json / .md / .csv, reading it back, the figure
    curve.py     the pretraining curve that chooses P
    sweep.py     the declared method-tuning settings
"""
from .curve import first_step_reaching, pretraining_curve, run_curve, write_curve
from .protocol import (
    BASELINE,
    SCRATCH_F,
    SCRATCH_PF,
    AblationData,
    all_cells,
    load_ablation_data,
    parse_cells,
    parse_seeds,
    sweep_validation_data,
)
from .report import AblationSummary, ablation_figure, build_summary, load_ablation_summary, to_markdown, write_summary
from .runner import AblationSpec, CellPlan, estimate, format_estimate, plan_cells, run_ablation, run_cell
from .sweep import parse_sweep

__all__ = [
    "AblationSpec", "AblationData", "AblationSummary", "CellPlan", "BASELINE", "SCRATCH_F", "SCRATCH_PF",
    "all_cells", "parse_cells", "parse_seeds", "parse_sweep", "load_ablation_data", "sweep_validation_data",
    "plan_cells", "run_cell", "run_ablation", "estimate", "format_estimate", "build_summary", "write_summary",
    "to_markdown", "load_ablation_summary", "ablation_figure", "pretraining_curve", "first_step_reaching",
    "run_curve", "write_curve",
]
