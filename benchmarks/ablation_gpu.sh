#!/usr/bin/env bash
# The ablation's GPU protocol (issue 10): the same cells, data protocol and statistics as the CPU
# run, with the `lite` preset (dim 256, depth 5, T = 243 frames, 16.0 M parameters) on one CUDA GPU.
#
#   benchmarks/ablation_gpu.sh PREPARED_BANDAI_DIR [OUT]
#
# PREPARED_BANDAI_DIR: `actionpose prepare bandai --source <folder with both Bandai-Namco archives>
# --out prepared/bandai` (datasets 1 and 2: pretrain on dataset-2's training takes, fine-tune on
# dataset-1's training takes, evaluate on dataset-1's held-out takes, GT 2D, 4 fixed views).
#
# Environment (defaults in brackets):
#   P [6000]  pretraining steps per pretrained cell      F [3000]  fine-tuning steps per cell
#   BATCH [32] clips per step                            SEEDS [3] seeds of the five main cells
#   CURVE [1]  first write the pretraining curve (recognition top-1 and MPJPE vs step) under OUT-curve
#   REDUCED [0] =1: a smoke version (P=200, F=100, 1 seed, no curve) to check the setup in minutes
#   POOL [joints] model.embed_pool of every cell (the CPU ablation's head: frames pooled per joint)
#   AP [actionpose] the CLI to call (e.g. .venv/bin/actionpose)
#
# Expected wall time (estimated, not yet measured on a GPU): training a lite step of 32 x 243-frame
# clips is ~14 TFLOP; at the 0.1-0.2 s/step this implies on an H100/H200-class GPU (bf16 autocast,
# the 2D synthesis of each batch on the CPU), the default run is 135,000 steps ≈ 4-7.5 h plus
# evaluation, the curve ≈ 10-20 min. Every `ablate` call prints its own estimate, measured on the
# machine, before it starts (`--estimate-only` prints it and exits). The run is resumable: run the
# same script again after an interruption and finished cells are skipped.
set -euo pipefail

DATA=${1:?usage: benchmarks/ablation_gpu.sh PREPARED_BANDAI_DIR [OUT]}
OUT=${2:-results/ablation-gpu}
AP=${AP:-actionpose}
P=${P:-6000}
F=${F:-3000}
BATCH=${BATCH:-32}
SEEDS=${SEEDS:-3}
CURVE=${CURVE:-1}
if [ "${REDUCED:-0}" = 1 ]; then
  P=200 F=100 SEEDS=1 CURVE=0 OUT=${OUT}-reduced
fi

COMMON=(--preset lite --device cuda --batch-size "$BATCH" --pretrain-data "$DATA" --set "model.embed_pool=${POOL:-joints}"
        --no-progress)
BUDGET=(--pretrain-steps "$P" --finetune-steps "$F")

if [ "$CURVE" = 1 ]; then
  "$AP" ablate-curve "${COMMON[@]}" --pretrain-steps "$P" --every $(( P / 12 > 0 ? P / 12 : 1 )) \
    --variants actionpose,motionbert-style --out "${OUT}-curve"
fi
# The five main cells with SEEDS seeds, then the two mask ablations with one seed (seed 0).
"$AP" ablate "${COMMON[@]}" "${BUDGET[@]}" --seeds "$SEEDS" \
  --variants scratch,motionbert-style,actionpose,onehot --out "$OUT"
"$AP" ablate "${COMMON[@]}" "${BUDGET[@]}" --seeds 0, --variants no-part-mask,no-window-mask --out "$OUT"
echo "results: $OUT/summary.md (copy summary.* and ablation_spec.json to benchmarks/results/ablation/gpu/)"
