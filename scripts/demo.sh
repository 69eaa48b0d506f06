#!/usr/bin/env bash
# `make demo`: train a tiny extractive model from scratch, with nothing downloaded, and
# show that it has learned.
#
# Data: 2,000 generated training dialogues and 40 generated dev dialogues
# (`python -m coqa.tools.synthetic`: invented people, one fact a sentence, span / 是的 / 不是 /
# 无法作答 questions, pronoun follow-ups), plus our hand-written sample dev set
# (data/sample/dev.json, real-style passages the model never trained on).
# Model: a tiny random BERT (hidden 64, 2 layers) whose vocabulary is the characters of
# those files, trained by run_coqa.py for 2,400 steps (about 1.5 minutes on 2 idle cores).
# It prints, per dev set, the per-domain F1 (EM) of the model next to two baselines that
# need no training, then two generated dev dialogues turn by turn.
set -euo pipefail
PY=${1:-.venv/bin/python}
OUT=demo_output
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-10}   # fewer progress-bar lines in a log
mkdir -p "$OUT"

echo "== Data: generated dialogues, and the sample set checked =="
"$PY" -m coqa.tools.synthetic --out "$OUT/generated_train.json" --dialogues 2000 --seed 1
"$PY" -m coqa.tools.synthetic --out "$OUT/generated_dev.json" --dialogues 40 --seed 2
"$PY" -m coqa.tools.validate data/sample/dev.json
"$PY" -m coqa.tools.tiny --data "$OUT/generated_train.json" "$OUT/generated_dev.json" data/sample/dev.json \
    --out "$OUT/tiny-bert" --hidden_size 64 --layers 2 --dropout 0 --overwrite

echo "== Baselines (no training) =="
for set in generated_dev sample_dev; do
    gold="$OUT/$set.json"; [ "$set" = sample_dev ] && gold=data/sample/dev.json
    for method in overlap unknown; do
        "$PY" -m coqa.tools.baseline --method "$method" --data-file "$gold" \
            --pred-file "$OUT/baseline_${method}_$set.json"
    done
done

echo "== run_coqa.py: tiny BERT trained from scratch on the generated dialogues =="
"$PY" run_coqa.py --model_type bert --model_name_or_path "$OUT/tiny-bert" \
    --do_train --do_eval --train_file "$OUT/generated_train.json" --predict_file "$OUT/generated_dev.json" \
    --max_seq_length 128 --doc_stride 64 --max_query_length 48 \
    --learning_rate 1.5e-3 --warmup_steps 50 --max_steps 2400 \
    --per_gpu_train_batch_size 32 --per_gpu_eval_batch_size 128 \
    --logging_steps 400 --save_steps 0 --output_dir "$OUT/model" --overwrite_output_dir \
    --cache_dir "$OUT/cache" --exact_match --no_cuda
# The model remembers its feature settings (128 / 64 / 48): no need to repeat them.
"$PY" run_coqa.py --model_type bert --model_name_or_path "$OUT/model" --do_predict \
    --predict_file data/sample/dev.json --per_gpu_eval_batch_size 128 --output_dir "$OUT/model_on_sample" --cache_dir "$OUT/cache" --no_cuda

echo "== Results =="
"$PY" -m scripts.demo_report \
    --set "generated dev (40 dialogues)" "$OUT/generated_dev.json" \
        "model=$OUT/model/predictions_.json" \
        "sentence overlap=$OUT/baseline_overlap_generated_dev.json" \
        "every answer 无法作答=$OUT/baseline_unknown_generated_dev.json" \
    --set "sample dev (hand-written, never trained on)" data/sample/dev.json \
        "model=$OUT/model_on_sample/predictions_.json" \
        "sentence overlap=$OUT/baseline_overlap_sample_dev.json" \
        "every answer 无法作答=$OUT/baseline_unknown_sample_dev.json"
echo
echo "Predictions, n-best lists and eval_results.json are in $OUT/model/;"
echo "for the answer-kind breakdown: $PY -m evaluate --data-file $OUT/generated_dev.json --pred-file $OUT/model/predictions_.json --breakdown"
