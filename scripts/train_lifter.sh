#!/usr/bin/env bash
# The shipped lifter's whole recipe (gaitscope/models/weights/MODEL_CARD.md, "Recipe"): three stages of
# `gaitscope train-lifter` from random weights, about an hour on 2 CPU cores. Prints each stage's wall time.
#
#   make train-lifter                       # -> runs/recipe/lifter_small.pt (the shipped file is left alone)
#   EXPORT=gaitscope/models/weights/lifter_small.pt make train-lifter      # replace the shipped lifter
#   DEVICE=cuda WORKERS=8 make train-lifter # on a GPU (bf16 autocast), clips prepared in 8 processes
#   .venv/bin/python benchmarks/lifter_accuracy.py --checkpoint runs/recipe/lifter_small.pt   # evaluate it
#
# A stage that was interrupted resumes from its run folder's last.pt when the script is run again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/recipe}
EXPORT=${EXPORT:-$OUT/lifter_small.pt}
THREADS=${THREADS:-2}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-0}
NOISE=gaitscope/data/noise
G=${GAITSCOPE:-.venv/bin/gaitscope}

stage() {  # name, then the arguments of train-lifter
    local name=$1 t0
    shift
    t0=$(date +%s)
    "$G" train-lifter --threads "$THREADS" --device "$DEVICE" --workers "$WORKERS" --no-eval "$@"
    echo "recipe: $name took $(( ($(date +%s) - t0) / 60 )) min $(( ($(date +%s) - t0) % 60 )) s"
}

start=$(date +%s)
# 1: 1500 steps, per-frame dropouts and the first noise measurement (5 views)
stage "stage 1" --out "$OUT/stage1" --no-view-occlusion --noise "$NOISE/blazepose_noise_v1.json" --no-export
# 2: view-dependent occlusion (21 rendered walks all round)
stage "stage 2" --out "$OUT/stage2" --init-from "$OUT/stage1/model.pt" --steps 1200 --lr 5e-4 --warmup 20 \
    --noise "$NOISE/blazepose_noise_v2.json" --no-export
# 3: 30 % frontal/rear cameras and the measured left/right pair gain (the default noise file)
stage "stage 3" --out "$OUT/stage3" --init-from "$OUT/stage2/model.pt" --steps 1600 --lr 4e-4 --warmup 20 \
    --frontal-share 0.3 --export "$EXPORT"
echo "recipe: all stages took $(( ($(date +%s) - start) / 60 )) min; checkpoint $EXPORT"
