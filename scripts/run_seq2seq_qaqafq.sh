#!/usr/bin/env bash
# The old UniLM seq2seq experiment "QAQAFQ_CN_1" (see ../shared/reference/old_experiment_log.md,
# 生成式模型微调): fine-tune, decode the dev set, evaluate; every flag spelled out.
# Edit the paths below, or set any of them in the environment, e.g. a quick check on the sample:
#   python -m coqa.tools.tiny --data data/sample/train.json data/sample/dev.json --out /tmp/tiny_s2s
#   MODEL_DIR=/tmp/tiny_s2s TRAIN_FILE=data/sample/train.json DEV_FILE=data/sample/dev.json \
#   OUTPUT_DIR=/tmp/s2s_out CACHE_DIR=/tmp/s2s_out/cache NUM_TRAINING_STEPS=2 SUBSET=8 \
#   bash scripts/run_seq2seq_qaqafq.sh
# Multi-GPU training: replace "$PYTHON" in the first command with "torchrun --nproc_per_node N".
# Mixed precision: add --bf16 (or --fp16 on a GPU) to the first command.
set -euo pipefail
PYTHON=${PYTHON:-python}
MODEL_DIR=${MODEL_DIR:-unilm-cn-base/}                      # local folder: config.json, vocab.txt, weights
# ConvQA_CN JSON (the QAQAFQ history is built from it, --history_format) or s2s-ft JSON lines
# with "src" / "tgt"; the dev file is scored only when it is ConvQA_CN JSON.
TRAIN_FILE=${TRAIN_FILE:-ConvQA/QAQAFQ/ConvQA_train.json}
DEV_FILE=${DEV_FILE:-ConvQA/QAQAFQ/ConvQA_dev.json}
OUTPUT_DIR=${OUTPUT_DIR:-Experiments/QAQAFQ_CN_1}           # the trained model lands here
CACHE_DIR=${CACHE_DIR:-$(dirname "$TRAIN_FILE")}            # tokenized-example caches
PREDICTION_FILE=${PREDICTION_FILE:-$OUTPUT_DIR/predictions_dev.json}  # eval_results_dev.json beside it
NUM_TRAINING_STEPS=${NUM_TRAINING_STEPS:--1}                # -1: --num_training_epochs decides
SUBSET=${SUBSET:-0}                                         # decode the first N dev turns (0: all)

"$PYTHON" run_seq2seq.py --train_file "$TRAIN_FILE" \
                         --output_dir "$OUTPUT_DIR" \
                         --cached_train_features_file "$CACHE_DIR" \
                         --model_type unilm \
                         --model_name_or_path "$MODEL_DIR" \
                         --do_lower_case \
                         --mask_way pseudo \
                         --history_format QAQAFQ \
                         --max_source_seq_length 512 \
                         --max_target_seq_length 42 \
                         --per_gpu_train_batch_size 6 \
                         --gradient_accumulation_steps 4 \
                         --learning_rate 2e-5 \
                         --weight_decay 0.01 \
                         --adam_epsilon 1e-8 \
                         --max_grad_norm 1.0 \
                         --label_smoothing 0.1 \
                         --random_prob 0.1 \
                         --keep_prob 0.1 \
                         --num_warmup_steps 2236 \
                         --num_training_epochs 15 \
                         --num_training_steps "$NUM_TRAINING_STEPS" \
                         --logging_steps 500 \
                         --save_steps 77777 \
                         --seed 42

# The source length (512) and history format come from the trained model's folder and flags;
# 512 + --max_tgt_length 42 fills the 554 positions the model was trained with.
"$PYTHON" run_seq2seq.py --do_decode \
                         --do_eval \
                         --model_path "$OUTPUT_DIR" \
                         --do_lower_case \
                         --history_format QAQAFQ \
                         --input_file "$DEV_FILE" \
                         --output_file "$PREDICTION_FILE" \
                         --cache_dir "$CACHE_DIR" \
                         --split dev \
                         --subset "$SUBSET" \
                         --batch_size 32 \
                         --beam_size 5 \
                         --length_penalty 0 \
                         --min_len 1 \
                         --forbid_duplicate_ngrams \
                         --ngram_size 3 \
                         --forbid_ignore_word "。" \
                         --max_tgt_length 42 \
                         --seed 42
echo "Predictions in $PREDICTION_FILE, scores in $(dirname "$PREDICTION_FILE")/eval_results_dev.json"
