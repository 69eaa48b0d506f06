#!/usr/bin/env bash
# `make demo`: train a small extractive model from scratch on data/sample (a tiny BERT
# whose vocabulary is built from the sample data; nothing is downloaded), evaluate it on
# the sample dev set and print the per-domain table, next to a no-training baseline.
# About 1.5 minutes on 2 CPU cores.
set -euo pipefail
PY=${1:-.venv/bin/python}
OUT=demo_output
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-10}   # fewer progress-bar lines in a log
mkdir -p "$OUT"

"$PY" -m coqa.validate data/sample/train.json data/sample/dev.json
"$PY" -m coqa.tiny --data data/sample/train.json data/sample/dev.json --out "$OUT/tiny-bert" \
    --hidden_size 128 --layers 2

echo "== Baseline: the passage sentence sharing most characters with the question =="
"$PY" -m coqa.baseline --data-file data/sample/dev.json --pred-file "$OUT/predictions_baseline.json"
"$PY" -m evaluate --data-file data/sample/dev.json --pred-file "$OUT/predictions_baseline.json" \
    --out-file "$OUT/eval_results_baseline.json"

echo "== run_coqa.py: tiny BERT trained from scratch on data/sample/train.json =="
"$PY" run_coqa.py --model_type bert --model_name_or_path "$OUT/tiny-bert" \
    --do_train --do_eval --data_dir data/sample --train_file train.json --predict_file dev.json \
    --max_seq_length 256 --doc_stride 128 --learning_rate 1e-3 --num_train_epochs 15 \
    --warmup_steps 30 --per_gpu_train_batch_size 16 --per_gpu_eval_batch_size 64 \
    --logging_steps 100 --save_steps 0 --output_dir "$OUT/model" --overwrite_output_dir \
    --cache_dir "$OUT/cache"
"$PY" -m evaluate --data-file data/sample/dev.json --pred-file "$OUT/model/predictions_.json" \
    --breakdown
echo "Predictions, n-best lists and eval_results.json are in $OUT/model/"
