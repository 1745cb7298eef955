"""The gate (issues 21 and 23): a cell that has not learned to lift is not compared with anything.

Every cell × seed is evaluated through `evaluate.evaluate`, whose report carries the floors measured
on the same frames (`header["floors"]`, `report.floors`) and `header["trained_vs_floor"]` (the model's
MPJPE below the flat + mean-depth floor's). `gate_record` turns that into the cell's verdict, with an
optional second condition: within `mlp_margin_mm` of the MLP floor. `require_trained` is the check
every comparison runs first: it raises `NotTrainedError` when any record it is given failed the gate.
"""
from __future__ import annotations

from ..baselines import FLAT, MEAN_DEPTH, MLP, NOT_TRAINED


class NotTrainedError(ValueError):
    """A comparison was asked to use a cell that did not pass the gate."""


def gate_record(floors: list[dict], model_mpjpe_mm: float, trained_vs_floor: bool | None,
                mlp_margin_mm: float | None) -> dict:
    """The gate verdict of one evaluated cell: {passed, reasons, model_mpjpe_mm, floors_mpjpe_mm, ...}.

    floors: `report.floors` rows (predictor, mpjpe_mm, p_mpjpe_mm). Passing needs the flat + mean-depth
    floor to be measured and beaten (`trained_vs_floor` True) and, when `mlp_margin_mm` is set, the
    MLP floor to be measured and the model's MPJPE <= MLP floor + margin."""
    by = {r["predictor"]: r for r in floors}
    reasons = []
    if trained_vs_floor is None:
        reasons.append(f"no {MEAN_DEPTH} floor was measured, so the cell cannot be shown to have learned")
    elif not trained_vs_floor:
        reasons.append(f"{NOT_TRAINED}: {model_mpjpe_mm:.1f} mm against {by[MEAN_DEPTH]['mpjpe_mm']:.1f} mm")
    if mlp_margin_mm is not None:
        if MLP not in by:
            reasons.append(f"the gate needs the {MLP} (gate.mlp_margin_mm is set) but none was measured")
        elif model_mpjpe_mm > by[MLP]["mpjpe_mm"] + mlp_margin_mm:
            reasons.append(f"{model_mpjpe_mm:.1f} mm is more than {mlp_margin_mm:g} mm above the {MLP} "
                           f"({by[MLP]['mpjpe_mm']:.1f} mm)")
    return {"passed": not reasons, "reasons": reasons, "model_mpjpe_mm": model_mpjpe_mm,
            "mlp_margin_mm": mlp_margin_mm,
            "floors_mpjpe_mm": {k: by[k]["mpjpe_mm"] for k in (FLAT, MEAN_DEPTH, MLP) if k in by}}


def require_trained(records: list[dict], what: str = "comparison") -> None:
    """Raise `NotTrainedError` naming the first record (cell, seed) whose gate did not pass (or is missing)."""
    for r in records:
        g = r.get("gate") or {}
        if not g.get("passed"):
            why = "; ".join(g.get("reasons") or ["no gate verdict recorded"])
            raise NotTrainedError(f"{what}: cell {r.get('cell')!r} seed {r.get('seed')} is not trained ({why}); "
                                  "it is excluded from every comparison")
