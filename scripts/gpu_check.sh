#!/usr/bin/env bash
# One command for the day a GPU is lent: on a bare copy of this tree (no .venv, no
# ../shared), it checks the CUDA path and measures everything docs/BENCHMARKS.md lists
# under "GPU readiness", in under 8 minutes on one H100, and prints one summary table.
#
#   bash scripts/gpu_check.sh [OUT_DIR]           # default gpu_check/ (ignored by git)
#   GPU_CHECK_ALLOW_CPU=1 bash scripts/gpu_check.sh [OUT_DIR]
#                                                 # every part on the CPU at tiny sizes:
#                                                 # the whole flow in about a minute (CI)
#
# Python: .venv/bin/python when present, else $PYTHON, else python3. It needs torch (a
# CUDA build) and never installs one; other missing packages (transformers, tokenizers,
# safetensors, tensorboardX, numpy, tqdm, pytest) are installed with plain pip.
# Generated, not downloaded (scripts/gpu_check_helper.py assets), into OUT_DIR/assets/:
# synthetic dialogues, a DRCD-like file of long passages, and a random model folder of
# the bert-base-chinese shape. Reuse them with GPU_CHECK_ASSETS=DIR.
#
# Parts, each guarded (a failure is recorded, the next part runs), each with a log in
# OUT_DIR/<part>.log: deps, assets, tests (CUDA tests + the CUDA path of the model tests),
# benchmark_extractive (scripts/benchmark.py), benchmark_seq2seq, e2e_extractive
# (run_coqa.py train + evaluate, bf16), e2e_seq2seq (run_seq2seq.py fine-tune + beam-5
# decode, bf16), e2e_extractive_ddp (torchrun, with more than one GPU). scripts/bench_peer.py
# is a CPU benchmark (e5-small shape) and is not run here.
#
# Each part has a time limit (coreutils timeout), a guard against a hang; the sizes are
# chosen for about 6 minutes in all on one H100 (an estimate: not yet measured).
# PEAK_TFLOPS=N gives the MFU peak of a GPU the benchmarks do not know.
#
# Exit status: 0 every part ran (or no GPU: one line says so, nothing is run); 1 a part
# failed (the table names it); 4 torch is missing (one line).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check}
ASSETS=${GPU_CHECK_ASSETS:-$OUT/assets${GPU_CHECK_ALLOW_CPU:+-tiny}}
CPU_MODE=${GPU_CHECK_ALLOW_CPU:-}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=${PYTHON:-python3}; fi

if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "gpu_check: $PY cannot import torch; install your CUDA build of torch first (this script never installs torch)"
    exit 4
fi
if [ -z "$CPU_MODE" ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA GPU visible to torch ($PY): nothing to measure (GPU_CHECK_ALLOW_CPU=1 runs the flow on the CPU)"
    exit 0
fi

mkdir -p "$OUT"
: > "$OUT/status.tsv"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
TIMEOUT=$(command -v timeout || true)

# part NAME SECONDS COMMAND...: run with a time limit, log to OUT/NAME.log, record the status.
part() {
    local name=$1 limit=$2 start status
    shift 2
    echo "== $name: $* =="
    start=$(date +%s)
    local limited=(${TIMEOUT:+$TIMEOUT "$limit"})
    [ "$(type -t "$1")" = function ] && limited=()  # a function limits its own commands
    if "${limited[@]}" "$@" > "$OUT/$name.log" 2>&1; then
        status=ok
    else
        status=FAILED
        tail -n 5 "$OUT/$name.log" | sed 's/^/   | /'
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - start ))" "log: $OUT/$name.log" >> "$OUT/status.tsv"
}
skip() {
    echo "== $1: skipped ($2) =="
    printf '%s\tskipped\t-\t%s\n' "$1" "$2" >> "$OUT/status.tsv"
}

if [ -n "$CPU_MODE" ]; then
    DEVICE=cpu; GPUS=0; TINY=--tiny; PRECISION=fp32
else
    DEVICE=cuda; GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())"); TINY=; PRECISION=bf16
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>/dev/null || true
fi
"$PY" -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)" > "$OUT/python.txt" 2>&1

install_missing() {
    local missing
    missing=$("$PY" - <<'EOF'
import importlib.util
wanted = {"transformers": "transformers>=5.0,<6", "tokenizers": "tokenizers>=0.21",
          "safetensors": "safetensors>=0.4", "tensorboardX": "tensorboardX>=2.6",
          "numpy": "numpy>=1.26", "tqdm": "tqdm>=4.66", "pytest": "pytest>=8.0"}
print(" ".join(spec for module, spec in wanted.items() if importlib.util.find_spec(module) is None))
EOF
)
    if [ -z "$missing" ]; then echo "nothing missing"; return 0; fi
    echo "installing: $missing"
    # shellcheck disable=SC2086  # one argument per requirement
    ${TIMEOUT:+$TIMEOUT 150} "$PY" -m pip install $missing ||
        ${TIMEOUT:+$TIMEOUT 150} "$PY" -m pip install --user $missing
}
part deps 120 install_missing

if [ -f "$ASSETS/shared/models/bert-base-chinese/model.safetensors" ]; then
    skip assets "reusing $ASSETS"
else
    part assets 90 "$PY" scripts/gpu_check_helper.py assets --out "$ASSETS" $TINY
fi
MODEL="$ASSETS/shared/models/bert-base-chinese"

TESTS=(tests/coqa/train/test_devices.py tests/test_bench_common.py)
[ -d tests/cuda ] && TESTS+=(tests/cuda)
[ -z "$CPU_MODE" ] && TESTS+=(tests/seq2seq/test_decoding.py tests/coqa/train/test_loop.py
                              tests/seq2seq/test_model.py tests/seq2seq/test_model_checkpoints.py
                              tests/coqa/extractive/test_model.py)
part tests 90 "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" --junitxml "$OUT/tests.xml"

if [ -n "$CPU_MODE" ]; then
    BENCH=(--device cpu --precision fp32 --seq-len 256 --batch-size 2 --steps 1 --warmup-steps 0
           --eval-batches 1 --eval-passes 1 --preprocess-repeats 1 --threads 1)
    BENCH_S2S=(--device cpu --precision fp32 --source-len 32 --max-tgt-length 5 --target-len 4
               --decode-batch-size 2 --decode-answers 3 --uncached-answers 2 --batch-size 2
               --steps 1 --warmup-steps 0 --threads 1)
else
    BENCH=(--device cuda --precision bf16 --batch-size 32 --eval-batch-size 128 ${PEAK_TFLOPS:+--peak-tflops $PEAK_TFLOPS})
    BENCH_S2S=(--device cuda --precision bf16 --uncached-answers 32 ${PEAK_TFLOPS:+--peak-tflops $PEAK_TFLOPS})
fi
part benchmark_extractive 120 "$PY" scripts/benchmark.py --shared "$ASSETS/shared" "${BENCH[@]}" \
    --output "$OUT/benchmark_extractive.json"
part benchmark_seq2seq 150 "$PY" scripts/benchmark_seq2seq.py --shared "$ASSETS/shared" "${BENCH_S2S[@]}" \
    --output "$OUT/benchmark_seq2seq.json"

if [ -n "$CPU_MODE" ]; then
    SIZE=(--max_seq_length 128 --doc_stride 32 --per_gpu_train_batch_size 4 --max_steps 2
          --save_steps 2 --threads 1 --no_cuda)
    S2S_SIZE=(--max_source_seq_length 64 --max_target_seq_length 8 --per_gpu_train_batch_size 4
              --num_training_steps 2 --save_steps 2 --no_cuda)
    DECODE_SIZE=(--max_tgt_length 8 --beam_size 5 --no_cuda --batch_size 4)
else
    SIZE=(--max_seq_length 512 --doc_stride 128 --per_gpu_train_batch_size 32 --max_steps 30
          --save_steps 30 --threads 8 --bf16)
    S2S_SIZE=(--max_source_seq_length 464 --max_target_seq_length 48 --per_gpu_train_batch_size 32
              --num_training_steps 30 --save_steps 30 --bf16)
    DECODE_SIZE=(--max_tgt_length 48 --beam_size 5)  # the batch: chosen by free memory
fi
COQA=(run_coqa.py --model_type bert --model_name_or_path "$MODEL" --do_train --do_eval
      --data_dir "$ASSETS/data" --train_file train.json --predict_file dev.json
      --learning_rate 5e-5 --warmup_steps 0 --logging_steps 10 --overwrite_output_dir
      --cache_dir "$ASSETS/cache" "${SIZE[@]}")
part e2e_extractive 75 "$PY" "${COQA[@]}" --output_dir "$OUT/e2e_extractive"
e2e_seq2seq() {
    ${TIMEOUT:+$TIMEOUT 60} "$PY" run_seq2seq.py --train_file "$ASSETS/data/train.json" --model_name_or_path "$MODEL" \
        --output_dir "$OUT/e2e_seq2seq" --overwrite_output_dir --logging_steps 10 \
        --cached_train_features_file "$ASSETS/cache" "${S2S_SIZE[@]}" &&
    ${TIMEOUT:+$TIMEOUT 45} "$PY" run_seq2seq.py --do_decode --model_path "$OUT/e2e_seq2seq" \
        --input_file "$ASSETS/data/dev.json" --output_file "$OUT/e2e_seq2seq/predictions.json" \
        --cache_dir "$ASSETS/cache" --do_eval "${DECODE_SIZE[@]}"
}
part e2e_seq2seq 150 e2e_seq2seq
if [ "${GPUS:-0}" -gt 1 ]; then
    part e2e_extractive_ddp 150 "$PY" -m torch.distributed.run --nproc_per_node "$GPUS" \
        "${COQA[@]}" --output_dir "$OUT/e2e_extractive_ddp"
else
    skip e2e_extractive_ddp "needs more than one GPU"
fi

"$PY" scripts/gpu_check_helper.py summary --out "$OUT"
