#!/usr/bin/env bash
# How the dialogue history is given to the extractive model (run_coqa.py --history_encoding
# concat | hae | markers), measured where the history matters, with gold and with
# predicted history:
#   synthetic  python -m coqa.tools.synthetic: facts about invented people, pronoun
#              follow-ups ("他喜欢吃什么水果？") that the previous turn resolves;
#   chain      python -m coqa.tools.synthetic_chain: a listed sequence walked turn by turn,
#              the answer to "再往后呢？" being the item next to the previous answer.
# For each: 2,000 training and $DEV_DIALOGUES dev dialogues, one tiny random BERT (the
# learning tests' recipe: hidden 64, 2 layers, no dropout, lr 1.5e-3, batch 32,
# --exact_match), one run_coqa.py training per encoding with --history_len 2 (same steps
# and seed), plus concat with --history_len 0, the history-blind reference. Every run is
# scored on the dev set with gold and with predicted history (--history_source both);
# python -m evaluate.compare sets each against the history-blind run (differences with
# their paired bootstrap intervals), and one table sums it up.
#
# Usage: bash scripts/history_encodings.sh [OUT_DIR]           (default history-encodings/)
# Settings from the environment: STEPS (2400), DEV_DIALOGUES (100), SEED (42),
# ENCODINGS ("concat hae markers"), GENERATORS ("synthetic chain"), JOBS (2 trainings at
# a time, one thread each). About 15 minutes on 2 idle cores (2.5 CPU-minutes a training),
# 41 on a busy one; results in docs/MODEL.md,
# "History encodings".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${1:-history-encodings}
STEPS=${STEPS:-2400}; DEV_DIALOGUES=${DEV_DIALOGUES:-100}; SEED=${SEED:-42}
ENCODINGS=${ENCODINGS:-concat hae markers}
GENERATORS=${GENERATORS:-synthetic chain}
JOBS=${JOBS:-2}
export OMP_NUM_THREADS=1 TQDM_MININTERVAL=${TQDM_MININTERVAL:-30}
mkdir -p "$OUT"

# One training and its two evaluations: $1 generator, $2 run name, then run_coqa.py flags.
train() {
    local gen=$1 name=$2; shift 2
    local dir="$OUT/$gen"
    "$PY" run_coqa.py --model_type bert --model_name_or_path "$dir/tiny-bert" \
        --do_train --do_eval --history_source both \
        --train_file "$dir/train.json" --predict_file "$dir/dev.json" \
        --max_seq_length 128 --doc_stride 64 --max_query_length 48 \
        --per_gpu_train_batch_size 32 --per_gpu_eval_batch_size 128 \
        --learning_rate 1.5e-3 --warmup_steps 50 --max_steps "$STEPS" --seed "$SEED" \
        --logging_steps 400 --save_steps 0 --exact_match --no_cuda \
        --output_dir "$dir/$name" --overwrite_output_dir --cache_dir "$dir/cache" "$@" \
        > "$dir/$name.log" 2>&1 || { echo "error: $gen $name failed, see $dir/$name.log" >&2; return 1; }
    echo "  $gen $name: done ($(grep -c 'Step:' "$dir/$name.log" || true) step lines)"
}

# Queue the runs and keep $JOBS of them going.
pids=()
wait_for_slot() {
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 2; done
}
began=$(date +%s)
for gen in $GENERATORS; do
    dir="$OUT/$gen"; mkdir -p "$dir"
    echo "== $gen: data and a tiny BERT =="
    case $gen in
        synthetic) module=coqa.tools.synthetic ;;
        chain) module=coqa.tools.synthetic_chain ;;
        *) echo "error: unknown generator $gen (synthetic, chain)" >&2; exit 2 ;;
    esac
    "$PY" -m "$module" --out "$dir/train.json" --dialogues 2000 --seed 1
    "$PY" -m "$module" --out "$dir/dev.json" --dialogues "$DEV_DIALOGUES" --seed 2
    "$PY" -m coqa.tools.tiny --data "$dir/train.json" "$dir/dev.json" --out "$dir/tiny-bert" \
        --hidden_size 64 --layers 2 --dropout 0 --overwrite > "$dir/tiny-bert.log" 2>&1 \
        || { cat "$dir/tiny-bert.log" >&2; exit 1; }
done
for gen in $GENERATORS; do
    echo "== $gen: training (${STEPS} steps each, $JOBS at a time) =="
    wait_for_slot
    train "$gen" none --history_len 0 --history_encoding concat & pids+=($!)
    for enc in $ENCODINGS; do
        wait_for_slot
        train "$gen" "$enc" --history_len 2 --history_encoding "$enc" & pids+=($!)
    done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ "$status" = 0 ] || { echo "error: a run failed" >&2; exit 1; }
echo "trainings took $(( ($(date +%s) - began) / 60 )) min"

for gen in $GENERATORS; do
    dir="$OUT/$gen"
    runs=("history-blind=$dir/none/predictions_.json")
    for enc in $ENCODINGS; do
        runs+=("$enc/gold=$dir/$enc/predictions_.json" "$enc/predicted=$dir/$enc/predictions_predicted_.json")
    done
    echo "== $gen: each run against the history-blind one (python -m evaluate.compare) =="
    "$PY" -m evaluate.compare "$dir/dev.json" "${runs[@]}" --no-progress > "$dir/compare.md"
    grep -E '^\| (domain|overall) \|' "$dir/compare.md"
done

echo "== Summary: F1 / EM on the dev set (${DEV_DIALOGUES} dialogues a generator) =="
# Follow-ups: the turns whose question leans on the previous one (question type
# coreference: a pronoun; omitting: nothing named), scored apart.
"$PY" - "$OUT" "$GENERATORS" "$ENCODINGS" <<'EOF'
import sys
from pathlib import Path
from evaluate import EvalConfig, evaluate_files
out, generators, encodings = Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split()

def scores(gen, predictions):
    results = evaluate_files(out / gen / "dev.json", predictions, EvalConfig(breakdown=True))
    follow = [row for kind, row in results["breakdown"]["question_type"].items()
              if kind in ("coreference", "omitting")]
    turns = sum(row["turns"] for row in follow)
    f1 = sum(row["f1"] * row["turns"] for row in follow) / max(1, turns)
    overall = results["overall"]
    return f"{overall['f1']:.1f} / {overall['em']:.1f} | {f1:.1f} ({turns})"

print("| generator | encoding | history_len | gold history: F1 / EM | follow-ups F1 (turns) "
      "| predicted history: F1 / EM | follow-ups F1 (turns) |")
print("|---|---|---|---|---|---|---|")
for gen in generators:
    for name in ["none"] + encodings:
        run = out / gen / name
        label, history = ("concat (history-blind)", 0) if name == "none" else (name, 2)
        print(f"| {gen} | {label} | {history} | {scores(gen, run / 'predictions_.json')} "
              f"| {scores(gen, run / 'predictions_predicted_.json')} |")
EOF
echo "Done: $OUT/<generator>/compare.md, $OUT/<generator>/<run>/eval_results.json"
