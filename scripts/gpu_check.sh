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
# safetensors, tensorboardX, numpy, tqdm, pytest) are installed with pip, into that Python,
# or, when it refuses (a distribution's system Python, PEP 668 "externally managed") or has
# no pip, into OUT_DIR/venv, made with --system-site-packages so that torch stays the
# system's; the parts after deps then run with OUT_DIR/venv/bin/python. pip gets one retry
# and 15 s per connection (at most 150 s): without network the deps part fails soon.
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
# A function runs in this shell (what it sets, such as PY, stays set) and limits its own
# commands.
part() {
    local name=$1 limit=$2 start status
    shift 2
    echo "== $name: $* =="
    start=$(date +%s)
    local limited=()
    if [ -n "$TIMEOUT" ] && [ "$(type -t "$1")" != function ]; then limited=("$TIMEOUT" "$limit"); fi
    # ${a[@]+"${a[@]}"}: an empty array under set -u is an error in bash before 4.4.
    if ${limited[@]+"${limited[@]}"} "$@" > "$OUT/$name.log" 2>&1; then
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
# use_venv: PY becomes OUT/venv/bin/python, a venv (made once) that sees PY's packages.
use_venv() {
    local venv
    venv="$(cd "$OUT" && pwd)/venv"
    if [ ! -x "$venv/bin/python" ]; then
        # Without ensurepip (Debian's python3-venv not installed) the venv borrows PY's pip.
        ${TIMEOUT:+$TIMEOUT 60} "$PY" -m venv --system-site-packages "$venv" ||
            ${TIMEOUT:+$TIMEOUT 60} "$PY" -m venv --system-site-packages --without-pip "$venv" ||
            return 1
    fi
    "$venv/bin/python" -c "import torch" || return 1
    PY=$venv/bin/python
}
install_missing() {
    local missing state
    missing=$("$PY" scripts/gpu_check_helper.py missing) || return 1
    if [ -z "$missing" ]; then echo "nothing missing ($PY)"; return 0; fi
    state=$("$PY" scripts/gpu_check_helper.py pip) || return 1
    if [ "$state" != ok ]; then
        echo "$PY: $state; installing into a venv that sees its packages (torch included)"
        use_venv || return 1
        missing=$("$PY" scripts/gpu_check_helper.py missing) || return 1
        if [ -z "$missing" ]; then echo "nothing missing ($PY)"; return 0; fi
    fi
    echo "installing with $PY: $missing"
    # shellcheck disable=SC2086  # one argument per requirement
    ${TIMEOUT:+$TIMEOUT 150} "$PY" -m pip install --disable-pip-version-check --retries 1 \
        --timeout 15 $missing
}
part deps 210 install_missing
"$PY" -c "import sys, torch; print(sys.executable, sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)" > "$OUT/python.txt" 2>&1

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
