#!/usr/bin/env bash
# The old "no_middle" experiment (see ../shared/reference/old_experiment_log.md), every flag spelled out.
# Edit the paths below, or set any of them in the environment (PYTHON=.venv/bin/python,
# MODEL_DIR=..., DATA_DIR=...); multi-GPU: replace "$PYTHON" with "torchrun --nproc_per_node N".
set -euo pipefail
PYTHON=${PYTHON:-python}
MODEL_DIR=${MODEL_DIR:-./bert-base-chinese}                # local folder: config.json, vocab.txt, weights
DATA_DIR=${DATA_DIR:-data/raw_data_cn_subdomain}          # holds the two files below
TRAIN_FILE=${TRAIN_FILE:-ConvQA_CN_v3.0_train.json}
PREDICT_FILE=${PREDICT_FILE:-ConvQA_CN_v3.0_dev.json}
OUTPUT_DIR=${OUTPUT_DIR:-bert-output-v3/}

"$PYTHON" run_coqa.py --model_type bert \
                   --model_name_or_path "$MODEL_DIR" \
                   --middle none \
                   --do_train \
                   --do_eval \
                   --data_dir "$DATA_DIR" \
                   --train_file "$TRAIN_FILE" \
                   --predict_file "$PREDICT_FILE" \
                   --max_seq_length 512 \
                   --doc_stride 384 \
                   --max_query_length 64 \
                   --history_len 2 \
                   --learning_rate 3e-5 \
                   --num_train_epochs 3 \
                   --warmup_steps 2000 \
                   --output_dir "$OUTPUT_DIR" \
                   --do_lower_case \
                   --per_gpu_train_batch_size 32 \
                   --per_gpu_eval_batch_size 128 \
                   --gradient_accumulation_steps 1 \
                   --max_grad_norm -1 \
                   --weight_decay 0.01 \
                   --adam_epsilon 1e-8 \
                   --n_best_size 20 \
                   --max_answer_length 30 \
                   --logging_steps 50 \
                   --save_steps 5000 \
                   --seed 42 \
                   --threads 4
