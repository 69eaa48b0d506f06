#!/usr/bin/env bash
# One command for a machine with a GPU: the CUDA path of the tests, then both benchmarks
# at full size (bert-base-chinese shape, bf16), every figure written to one folder.
# Budget: under 8 minutes on one H100/H200-class GPU (tests ~1 min, extractive benchmark
# ~2-3 min, seq2seq benchmark ~2-3 min).
#
#   bash scripts/gpu_check.sh [PYTHON] [OUT_DIR]        # default .venv/bin/python gpu_check/
#   DRY_RUN=1 bash scripts/gpu_check.sh                 # print the commands, run nothing
#
# Needs ../shared (data/drcd, models/bert-base-chinese) for the extractive benchmark; it is
# skipped, and said so, when absent.
set -euo pipefail
PY=${1:-.venv/bin/python}
OUT=${2:-gpu_check}
SHARED=${SHARED:-../shared}
run() {
    echo "+ $*"
    if [ -z "${DRY_RUN:-}" ]; then "$@"; fi
}
mkdir -p "$OUT"
if [ -z "${DRY_RUN:-}" ]; then
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" || true
fi

echo "== 1. tests that take the CUDA path (fp16 / bf16 autocast, CUDA decoding) =="
run "$PY" -m pytest -q tests/seq2seq/test_decoding.py tests/coqa/train/test_loop.py \
    tests/seq2seq/test_model.py tests/coqa/extractive/test_model.py \
    --junitxml "$OUT/tests.xml"

echo "== 2. extractive benchmark, full size (preprocessing, training step, evaluation) =="
if [ -d "$SHARED/data/drcd" ] && [ -d "$SHARED/models/bert-base-chinese" ]; then
    run "$PY" scripts/benchmark.py --shared "$SHARED" --device cuda --precision bf16 \
        --batch-size 32 --output "$OUT/benchmark_extractive.json"
else
    echo "skipped: $SHARED/data/drcd or $SHARED/models/bert-base-chinese is missing"
fi

echo "== 3. seq2seq benchmark, full size (decoding three ways, training step) =="
run "$PY" scripts/benchmark_seq2seq.py --shared "$SHARED" --device cuda --precision bf16 \
    --output "$OUT/benchmark_seq2seq.json"

echo "== figures in $OUT/ =="
ls -l "$OUT"
