#!/usr/bin/env bash
# `make demo`: score the sentence-overlap baseline on the sample dev set and print the
# per-domain table. (The extractive model replaces this with real training.)
set -euo pipefail
PY=${1:-.venv/bin/python}
OUT=demo_output
mkdir -p "$OUT"
"$PY" -m coqa.validate data/sample/train.json data/sample/dev.json
"$PY" -m coqa.baseline --data-file data/sample/dev.json --pred-file "$OUT/predictions_baseline.json"
"$PY" -m evaluate --data-file data/sample/dev.json --pred-file "$OUT/predictions_baseline.json" \
    --out-file "$OUT/eval_results_baseline.json" --breakdown
