#!/usr/bin/env bash
# The three old extractive experiments (scripts/run_coqa_{no_middle,bilstm,rtransformer}.sh,
# every flag as there) run once per seed with python -m coqa.tools.sweep, into
# $SWEEP_DIR/{none,bilstm,rtransformer}/seed-N/, then compared as groups (mean, std, min, max
# per domain; bootstrap over dialogues and seeds) with python -m evaluate.compare.
# Run it again after a crash or Ctrl-C: seeds already done are skipped, the others run again.
# One dev file scores all three, so all three train on $DATA_DIR (the old no_middle run used
# data/raw_data_cn_subdomain).
# Edit the paths below, or set any of them in the environment, e.g. a quick check on the sample:
#   python -m coqa.tools.tiny --data data/sample/train.json data/sample/dev.json --out /tmp/tiny_bert
#   MODEL_DIR=/tmp/tiny_bert DATA_DIR=data/sample TRAIN_FILE=train.json PREDICT_FILE=dev.json \
#   SWEEP_DIR=/tmp/sweeps CACHE_DIR=/tmp/sweeps/cache SEEDS="1 2" MAX_STEPS=2 \
#   bash scripts/sweep_old_experiments.sh
# (with PYTHON=.venv/bin/python unless the venv is active). Not instant even so: the old
# flags keep 512-token windows and batch 32, and two such steps through the BiLSTM took
# 2.5 minutes a seed; the whole check took 6 min 45 s (OMP_NUM_THREADS=1, busy 2-core CPU).
# Several runs at once on a machine with cores to spare: PARALLEL=N (each run then gets
# OMP_NUM_THREADS = cores // N unless it is set). Every run uses the GPU that torch picks.
set -euo pipefail
PYTHON=${PYTHON:-python}
MODEL_DIR=${MODEL_DIR:-./bert-base-chinese}        # local folder: config.json, vocab.txt, weights
DATA_DIR=${DATA_DIR:-data/raw_data_cn_v3_sub}      # holds the two files below
TRAIN_FILE=${TRAIN_FILE:-ConvQA_CN_v3.0_train.json}
PREDICT_FILE=${PREDICT_FILE:-ConvQA_CN_v3.0_dev.json}
CACHE_DIR=${CACHE_DIR:-$DATA_DIR}                  # feature caches, shared by all runs
SWEEP_DIR=${SWEEP_DIR:-sweeps}                     # one sweep folder per experiment in it
COMPARE_DIR=${COMPARE_DIR:-$SWEEP_DIR/compare}
SEEDS=${SEEDS:-1 2 3 4 5}
PARALLEL=${PARALLEL:-1}
MAX_STEPS=${MAX_STEPS:--1}                         # -1: --num_train_epochs decides

# sweep NAME FLAGS...: the flags the three experiments share, then NAME's own.
sweep() {
    local name=$1
    shift
    # shellcheck disable=SC2086  # $SEEDS is a list
    "$PYTHON" -m coqa.tools.sweep --seeds $SEEDS --out "$SWEEP_DIR/$name" --parallel "$PARALLEL" -- \
        run_coqa.py --model_type bert \
                    --model_name_or_path "$MODEL_DIR" \
                    --do_train \
                    --do_eval \
                    --data_dir "$DATA_DIR" \
                    --cache_dir "$CACHE_DIR" \
                    --train_file "$TRAIN_FILE" \
                    --predict_file "$PREDICT_FILE" \
                    --max_seq_length 512 \
                    --doc_stride 384 \
                    --max_query_length 64 \
                    --history_len 2 \
                    --learning_rate 3e-5 \
                    --num_train_epochs 3 \
                    --max_steps "$MAX_STEPS" \
                    --warmup_steps 2000 \
                    --do_lower_case \
                    --max_grad_norm -1 \
                    --weight_decay 0.01 \
                    --adam_epsilon 1e-8 \
                    --n_best_size 20 \
                    --max_answer_length 30 \
                    --logging_steps 50 \
                    --save_steps 5000 \
                    --threads 4 \
                    "$@"
}

# A failed seed does not stop the other experiments; compare leaves it out and says so.
status=0
sweep none --middle none \
           --per_gpu_train_batch_size 32 \
           --per_gpu_eval_batch_size 128 \
           --gradient_accumulation_steps 1 || status=1
sweep bilstm --middle bilstm \
             --per_gpu_train_batch_size 32 \
             --per_gpu_eval_batch_size 256 \
             --gradient_accumulation_steps 1 || status=1
sweep rtransformer --middle rtransformer \
                   --per_gpu_train_batch_size 16 \
                   --per_gpu_eval_batch_size 128 \
                   --gradient_accumulation_steps 2 || status=1

"$PYTHON" -m evaluate.compare "$DATA_DIR/$PREDICT_FILE" base="$SWEEP_DIR/none" \
    bilstm="$SWEEP_DIR/bilstm" rtrans="$SWEEP_DIR/rtransformer" --out "$COMPARE_DIR"
exit $status
