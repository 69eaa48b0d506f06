"""The Python half of scripts/gpu_check.sh: what it generates, and its summary table.

    python scripts/gpu_check_helper.py assets --out DIR [--tiny]
        DIR/data/{train,dev}.json   synthetic ConvQA_CN dialogues (coqa.tools.synthetic)
        DIR/shared/data/drcd/DRCD_dev.json
                                    a DRCD-like SQuAD file: several synthetic passages
                                    joined into each long passage, so that windows of 512
                                    tokens fill up (scripts/benchmark.py's input)
        DIR/shared/models/bert-base-chinese/
                                    config.json of the bert-base-chinese shape (hidden 768,
                                    12 layers, 12 heads, FFN 3072, vocabulary 21128),
                                    vocab.txt (its special tokens, the data's characters and
                                    words, [unused] to 21128), tokenizer files, random weights
        --tiny: a few dialogues and a hidden-64, 2-layer BERT (the CPU smoke test).
    python scripts/gpu_check_helper.py summary --out OUT_DIR
        one table of every part's status (OUT_DIR/status.tsv) and figures (OUT_DIR/*.json),
        beside the targets of docs/BENCHMARKS.md; also written to OUT_DIR/summary.txt.
    python scripts/gpu_check_helper.py missing
        the pip requirements of what this interpreter lacks (torch aside), on one line
    python scripts/gpu_check_helper.py pip
        whether pip may install into this interpreter: "ok", "externally-managed" (PEP 668:
        a distribution's system Python refuses a plain `pip install`) or "no-pip"

Nothing is downloaded: the model is random, the data invented. Figures of speed need no
trained weights.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import sysconfig
from pathlib import Path
from typing import List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BERT_BASE_CHINESE = dict(vocab_size=21128, hidden_size=768, num_hidden_layers=12,
                         num_attention_heads=12, intermediate_size=3072,
                         max_position_embeddings=512, type_vocab_size=2, pad_token_id=0)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
            max_position_embeddings=512, type_vocab_size=2, pad_token_id=0)
# (train dialogues, dev dialogues, DRCD-like dialogues, dialogues joined per passage)
SIZES = {"full": (2000, 200, 1000, 8), "tiny": (60, 8, 48, 8)}
# What the check needs besides torch (which it never installs): module -> pip requirement.
REQUIREMENTS = {"transformers": "transformers>=5.0,<6", "tokenizers": "tokenizers>=0.21",
                "safetensors": "safetensors>=0.4", "tensorboardX": "tensorboardX>=2.6",
                "numpy": "numpy>=1.26", "tqdm": "tqdm>=4.66", "pytest": "pytest>=8.0"}
# Targets of issue 17 (docs/BENCHMARKS.md, "GPU readiness").
EVAL_FEATURES, EVAL_SECONDS = 13405, 15.0
DECODE_TURNS, DECODE_SPEEDUP = 5504, 10.0
TRAIN_MFU, TRAIN_RATIO = 0.45, 1.05


def drcd_like(dialogues, per_passage: int) -> dict:
    """A SQuAD-style object whose passages each join `per_passage` dialogues' passages; the
    span turns become questions with their offsets moved accordingly."""
    paragraphs = []
    for first in range(0, len(dialogues), per_passage):
        context, qas = "", []
        for dialogue in dialogues[first:first + per_passage]:
            offset = len(context)
            context += dialogue.passage
            for turn in dialogue.turns:
                if turn.span is None or not turn.answers:
                    continue
                start, end = turn.span
                if dialogue.passage[start:end] != turn.answers[0]:
                    continue  # a free-form answer labelled with its best span
                qas.append({"id": f"{dialogue.id}-{turn.turn_id}", "question": turn.question,
                            "answers": [{"text": turn.answers[0], "answer_start": offset + start}]})
        paragraphs.append({"id": f"p{first // per_passage}", "context": context, "qas": qas})
    return {"version": "DRCD-like, synthetic", "data": [{"title": "synthetic",
                                                         "paragraphs": paragraphs}]}


def full_vocab(words: List[str], size: int) -> List[str]:
    """bert-base-chinese's layout: [PAD], [unused1-99], [UNK] [CLS] [SEP] [MASK], then the
    data's tokens, then more [unused] up to `size` entries."""
    special = ["[PAD]", *(f"[unused{i}]" for i in range(1, 100)), "[UNK]", "[CLS]", "[SEP]",
               "[MASK]"]
    vocab = special + [w for w in words if w not in special][:size - len(special)]
    vocab += [f"[unused{i}]" for i in range(100, 100 + size - len(vocab))]
    return vocab


def write_model(folder: Path, texts, tiny: bool) -> None:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    from coqa.tools.tiny import build_vocab

    folder.mkdir(parents=True, exist_ok=True)
    words = build_vocab(texts)
    vocab = words if tiny else full_vocab(words, BERT_BASE_CHINESE["vocab_size"])
    (folder / "tokenizer.json").unlink(missing_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast.from_pretrained(str(folder), do_lower_case=True).save_pretrained(str(folder))
    shape = dict(TINY, vocab_size=len(vocab)) if tiny else BERT_BASE_CHINESE
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(**shape)).save_pretrained(str(folder))


def assets(out: Path, tiny: bool) -> None:
    from coqa.data.readers import load_dialogues
    from coqa.tools.synthetic import write_dataset
    from coqa.tools.tiny import dialogue_texts

    train_n, dev_n, drcd_n, per_passage = SIZES["tiny" if tiny else "full"]
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    write_dataset(data / "train.json", train_n, seed=0)
    write_dataset(data / "dev.json", dev_n, seed=1)
    write_dataset(data / "drcd_source.json", drcd_n, seed=2)
    drcd = out / "shared" / "data" / "drcd" / "DRCD_dev.json"
    drcd.parent.mkdir(parents=True, exist_ok=True)
    source = load_dialogues(str(data / "drcd_source.json")).dialogues
    drcd.write_text(json.dumps(drcd_like(source, per_passage), ensure_ascii=False),
                    encoding="utf-8")
    files = [str(data / name) for name in ("train.json", "dev.json", "drcd_source.json")]
    write_model(out / "shared" / "models" / "bert-base-chinese", dialogue_texts(files), tiny)
    print(f"assets in {out}: {train_n} training and {dev_n} dev dialogues, a DRCD-like file "
          f"of {len(source) // per_passage} long passages, a "
          f"{'tiny' if tiny else 'bert-base-chinese-shaped'} random model")


# ---------------------------------------------------------------- dependencies

def missing_requirements(find=importlib.util.find_spec) -> List[str]:
    """The pip requirements of the REQUIREMENTS modules this interpreter cannot import."""
    return [spec for module, spec in REQUIREMENTS.items() if find(module) is None]


def pip_state(stdlib: Optional[str] = None, in_venv: Optional[bool] = None,
              has_pip: Optional[bool] = None) -> str:
    """"ok", "externally-managed" (PEP 668: an EXTERNALLY-MANAGED file in the stdlib folder
    of an interpreter outside any venv, as on Debian / Ubuntu 23.04+, where `pip install`
    fails) or "no-pip". The arguments default to this interpreter's."""
    stdlib = sysconfig.get_path("stdlib") if stdlib is None else stdlib
    in_venv = sys.prefix != sys.base_prefix if in_venv is None else in_venv
    has_pip = importlib.util.find_spec("pip") is not None if has_pip is None else has_pip
    if not in_venv and (Path(stdlib) / "EXTERNALLY-MANAGED").is_file():
        return "externally-managed"
    return "ok" if has_pip else "no-pip"


# ---------------------------------------------------------------- summary

def _read(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def figure_lines(out: Path) -> List[tuple[str, str, str]]:
    """(figure, value, target) rows from the benchmarks' JSON files."""
    rows = []
    extractive = _read(out / "benchmark_extractive.json")
    if extractive:
        train, ev = extractive["train"], extractive["eval"]
        rows.append(("extractive training MFU (ours)", _pct(train.get("ours_mfu")),
                     f">= {TRAIN_MFU:.0%}"))
        rows.append(("extractive training time ours / bare", f"{train['ratio']:.3f}",
                     f"<= {TRAIN_RATIO}"))
        rows.append(("extractive training seq/s (ours, bare)",
                     f"{train['ours_seq_per_s']:.1f}, {train['bare_seq_per_s']:.1f}", ""))
        seconds = EVAL_FEATURES / ev["ours_seq_per_s"]
        rows.append((f"evaluation of {EVAL_FEATURES} features (estimated)", f"{seconds:.1f} s",
                     f"< {EVAL_SECONDS:g} s"))
        rows.append(("evaluation time ours / bare", f"{ev['ratio']:.3f}", ""))
        rows.append(("preprocessing time ours / bare", f"{extractive['preprocess']['ratio']:.3f}",
                     ""))
    seq2seq = _read(out / "benchmark_seq2seq.json")
    if seq2seq:
        beam5 = seq2seq["beams"]["beam_5"]
        rows.append((f"beam-5 decoding of {DECODE_TURNS} turns (estimated)",
                     f"{DECODE_TURNS / beam5['answers_per_s']:.1f} s", ""))
        slowdown = seq2seq["methods"]["beam_5"]["slowdown"]["hidden_states"]
        rows.append(("beam 5: s2s-ft's method time / ours", f"{slowdown:.1f}x",
                     f">= {DECODE_SPEEDUP:g}x"))
        rows.append(agreement_row(seq2seq))
        if seq2seq.get("train"):
            rows.append(("seq2seq training MFU", _pct(seq2seq["train"].get("mfu")), ""))
    for name in ("e2e_extractive", "e2e_extractive_ddp"):
        results = _read(out / name / "eval_results.json")
        if results:
            rows.append((f"{name}: dev F1 (random model, a smoke test)",
                         f"{results.get('overall', results).get('f1', 'n/a')}", ""))
    return rows


def agreement_row(seq2seq: dict) -> tuple[str, str, str]:
    """Whether the three decoding methods gave the same tokens. Under TF32 (the benchmark's
    default on a GPU, as run_seq2seq.py's) a random model's near ties can fall either way
    between methods whose matmuls differ in shape: a disagreement is then said to be that,
    not taken for a wrong cache (the CUDA tests compare decoding in full float32)."""
    methods = seq2seq["methods"].values()
    agree = all(m["tokens_equal"] for m in methods)
    value = str(agree)
    if not agree and seq2seq.get("machine", {}).get("tf32"):
        largest = max(m.get("max_score_difference", 0.0) for m in methods)
        value = f"False under TF32 (scores within {largest:.1e})"
    return "decoding methods agree", value, "True (full fp32: --no-tf32)"


def summary(out: Path) -> int:
    parts = []
    status_file = out / "status.tsv"
    if status_file.is_file():
        parts = [line.split("\t") for line in status_file.read_text().splitlines() if line]
    lines = ["", f"== gpu_check summary ({out}) ==", f"{'part':<24} {'status':<8} {'seconds':>8}  note"]
    for name, status, seconds, *note in parts:
        lines.append(f"{name:<24} {status:<8} {seconds:>8}  {' '.join(note)}")
    rows = figure_lines(out)
    if rows:
        bench = {name: _read(out / f"benchmark_{name}.json") for name in ("extractive", "seq2seq")}
        measured = [f"{name}: {figures['machine']['device']}, {figures['config']['precision']}"
                    for name, figures in bench.items() if figures]
        on_cpu = any(figures["config"]["device"] == "cpu" for figures in bench.values() if figures)
        lines += ["", f"benchmarks measured on {'; '.join(measured) or 'n/a'}"
                      + (" (tiny CPU sizes: a smoke test, not the targets' conditions)"
                         if on_cpu else "")]
        lines += [f"{'figure':<46} {'value':>14}  target (issue 17)"]
        lines += [f"{name:<46} {value:>14}  {target}" for name, value, target in rows]
    failed = [p[0] for p in parts if p[1] == "FAILED"]
    lines += ["", f"{len(parts)} parts, {len(failed)} failed"
                  + (f": {', '.join(failed)}" if failed else "") + f"; figures in {out}/"]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    (out / "summary.txt").write_text(text, encoding="utf-8")
    return 1 if failed else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("assets", "summary", "missing", "pip"),
                        help="what to do")
    parser.add_argument("--out", help="assets folder, or gpu_check's output folder")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the CPU smoke test)")
    args = parser.parse_args(argv)
    if args.command == "missing":
        print(" ".join(missing_requirements()))
        return 0
    if args.command == "pip":
        print(pip_state())
        return 0
    if args.out is None:
        parser.error(f"{args.command} needs --out")
    if args.command == "assets":
        assets(Path(args.out), args.tiny)
        return 0
    return summary(Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
