#!/usr/bin/env bash
# The old experiment's decode step, cn_run_predict.sh of the ConvQA_CN fork, as the users ran
# decode_seq2seq.py: the same flags, now given to run_seq2seq.py (decoding is implied by
# --model_path and --input_file without --train_file). MODEL_PATH may be one of our trained
# folders or an s2s-ft ckpt-N folder (config.json + pytorch_model.bin); the tokenizer then
# comes from TOKENIZER_DIR. Edit the paths below, or set them in the environment.
# A quick check on the sample (a model from scripts/run_seq2seq_qaqafq.sh's quick check):
#   MODEL_PATH=/tmp/s2s_out TOKENIZER_DIR=/tmp/s2s_out INPUT_FILE=data/sample/dev.json \
#   OUTPUT_FILE=/tmp/s2s_out/mlm_qaqafq.json bash scripts/run_seq2seq_predict.sh
# Beam search as the users had it commented out: BEAM="--beam_size 3 --length_penalty 0
# --forbid_duplicate_ngrams --forbid_ignore_word ." (--fp16 works on a GPU; --amp is
# accepted and named in the log as ignored).
set -euo pipefail
PYTHON=${PYTHON:-python}
MODEL_PATH=${MODEL_PATH:-Experiments/QAQAFQ_CN/ckpt-5105}
TOKENIZER_DIR=${TOKENIZER_DIR:-unilm-cn-base}               # vocab.txt of the pretrained model
# The fork's JSON lines (src, tgt, id "dialogue#turn", passages) or ConvQA_CN JSON.
INPUT_FILE=${INPUT_FILE:-ConvQA/QAQAFQ/ConvQA_dev.json}
OUTPUT_FILE=${OUTPUT_FILE:-ConvQA/CoQA_json/mlm_qaqafq.json}  # [{"id", "turn_id", "answer"}]
SPLIT=${SPLIT:-dev}
BEAM=${BEAM:-}

# shellcheck disable=SC2086  # BEAM holds several flags
"$PYTHON" run_seq2seq.py --model_type unilm \
                         --tokenizer_name "$TOKENIZER_DIR" \
                         --input_file "$INPUT_FILE" \
                         --split "$SPLIT" \
                         --do_lower_case \
                         --model_path "$MODEL_PATH" \
                         --max_seq_length 512 \
                         --max_tgt_length 42 \
                         --batch_size 96 \
                         --mode s2s \
                         --output_file "$OUTPUT_FILE" \
                         --do_rule \
                         $BEAM
echo "Answers in $OUTPUT_FILE"
