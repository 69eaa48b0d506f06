"""A plain Hugging Face extractive QA baseline, written the way run_qa.py does it: the peer
that issue 19 compares run_coqa.py with.

Usage: python scripts/hf_qa_baseline.py --model_name_or_path DIR --train_file TRAIN.json
           --predict_file DEV.json --output_dir OUT [--max_seq_length 512 --doc_stride 128 ...]

What it does, and how it differs from run_coqa.py:
- the question is the current one only (no history); questions longer than
  --max_query_length tokens keep their last tokens, as ours do;
- `AutoModelForQuestionAnswering` (a folder holding only encoder weights gets a fresh
  `qa_outputs` head), the tokenizer's own pair format (BERT `[CLS] q [SEP] p [SEP]`, the e5 /
  XLM-R template `<s> q </s></s> p </s>`), `truncation="only_second"` with overflowing windows;
- a turn whose answer is not a passage span (是的 / 不是 / 无法作答, free-form) is left out
  of training, as run_qa.py has no head for it (counted and logged); a window without the
  answer is labelled at index 0, the first token;
- run_qa.py's post-processing without a null answer: per turn the best start + end logit
  over the n_best starts and ends of every window, a passage span of at most
  max_answer_length tokens. If no span is valid the answer is "" (run_qa.py writes "empty").

Windows. HF's `stride` is the overlap of consecutive windows; our --doc_stride is the step
between window starts. A window holds W = max_seq_length - len(question) - specials passage
tokens (specials: 3 for BERT, 4 for the e5 template), so the tokenizer is called once per
question length with stride = W - doc_stride: the windows then start at 0, doc_stride,
2·doc_stride, ... up to the first that reaches the passage end, as ours do. With a BERT
tokenizer the windows are exactly ours; with the e5 template (one more special token) each
window ends one token earlier than ours, which adds a window when the passage tail falls
exactly on a window end (measured in docs/BENCHMARKS.md).

Optimisation as run_coqa.py's: AdamW (no decay on biases and LayerNorm weights), linear
warm-up then linear decay to 0 over --max_steps, gradient clipping, fp32, the examples
shuffled each epoch with torch.randperm seeded seed + epoch. Batches are padded to their
longest sequence (run_qa.py's DataCollatorWithPadding; ours pad dynamically too).

Writes OUT/args.json and OUT/predictions_.json (`[{"id", "turn_id", "answer"}]`); score it
with `python -m evaluate --data-file DEV.json --pred-file OUT/predictions_.json`.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from coqa.data.dialogue import AnswerKind  # noqa: E402
from coqa.data.readers import load_dialogues  # noqa: E402

logger = logging.getLogger("hf_qa_baseline")
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--model_name_or_path", required=True, help="local model folder (weights, tokenizer)")
    add("--train_file", default=None, help="ConvQA_CN / CoQA JSON to train on (optional)")
    add("--predict_file", default=None, help="ConvQA_CN / CoQA JSON to answer (optional)")
    add("--output_dir", required=True, help="args.json and predictions_.json go here")
    add("--max_seq_length", type=int, default=512, help="tokens per window, specials included")
    add("--doc_stride", type=int, default=128, help="tokens between window starts (not overlap)")
    add("--max_query_length", type=int, default=64, help="question tokens kept (the tail)")
    add("--per_gpu_train_batch_size", type=int, default=8, help="training batch")
    add("--per_gpu_eval_batch_size", type=int, default=8, help="prediction batch")
    add("--learning_rate", type=float, default=3e-5, help="peak AdamW learning rate")
    add("--weight_decay", type=float, default=0.01, help="AdamW weight decay")
    add("--adam_epsilon", type=float, default=1e-8, help="AdamW epsilon")
    add("--max_grad_norm", type=float, default=1.0, help="clipping norm; <= 0: none")
    add("--warmup_steps", type=int, default=2000, help="linear warm-up steps")
    add("--max_steps", type=int, default=-1, help="optimizer steps; overrides epochs")
    add("--num_train_epochs", type=float, default=2.0, help="epochs when --max_steps <= 0")
    add("--n_best_size", type=int, default=20, help="start / end tokens tried per window")
    add("--max_answer_length", type=int, default=30, help="longest answer, in tokens")
    add("--logging_steps", type=int, default=50, help="steps between log lines")
    add("--seed", type=int, default=42, help="random seed")
    add("--threads", type=int, default=None,
        help="torch CPU threads (default torch's choice; run_coqa.py's --threads are "
             "preprocessing processes, here preprocessing is batched Rust calls)")
    add("--skip_invalid", action="store_true",
        help="leave out (and log) invalid turns instead of stopping, as run_coqa.py does")
    add("--freeze_embeddings", action="store_true",
        help="do not train the word embeddings (as run_coqa.py --freeze_embeddings)")
    add("--no_cuda", action="store_true", help="run on CPU even with a GPU")
    return parser


# ---------------------------------------------------------------- features

def read(path: str, skip_invalid: bool, questions_only: bool = False):
    """The dialogues of a ConvQA_CN / CoQA file; each skipped turn is logged."""
    loaded = load_dialogues(path, skip_invalid=skip_invalid, questions_only=questions_only)
    for skipped in loaded.skipped:
        logger.warning("skipped %s", skipped.one_line())
    return loaded.dialogues


def tokenize_windows(tokenizer, questions: Sequence[str], passages: Sequence[str],
                     max_seq_length: int, doc_stride: int, max_query_length: int) -> List[dict]:
    """One dict per window, in turn order: `example` (index into questions), the model
    inputs, and `offsets` (the character range of each token, None outside the passage)."""
    encoded = tokenizer(list(questions), add_special_tokens=False, return_offsets_mapping=True)
    cut = [q if len(ids) <= max_query_length else q[offsets[-max_query_length][0]:]
           for q, ids, offsets in zip(questions, encoded["input_ids"], encoded["offset_mapping"])]
    lengths = [len(ids) for ids in tokenizer(cut, add_special_tokens=False)["input_ids"]]
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    by_length: Dict[int, List[int]] = collections.defaultdict(list)
    for index, length in enumerate(lengths):
        by_length[length].append(index)
    windows = []
    for length, members in by_length.items():
        window = max_seq_length - length - specials  # passage tokens per window
        if window < doc_stride:
            raise SystemExit(f"error: a {length}-token question leaves {window} passage tokens "
                             f"per window, fewer than --doc_stride {doc_stride}")
        enc = tokenizer([cut[i] for i in members], [passages[i] for i in members],
                        truncation="only_second", max_length=max_seq_length,
                        stride=window - doc_stride, return_overflowing_tokens=True,
                        return_offsets_mapping=True)
        for row, sample in enumerate(enc["overflow_to_sample_mapping"]):
            sequence = enc.sequence_ids(row)
            windows.append({
                "example": members[sample],
                **{name: enc[name][row] for name in MODEL_INPUTS if name in enc},
                "offsets": [tuple(o) if s == 1 else None
                            for o, s in zip(enc["offset_mapping"][row], sequence)]})
    windows.sort(key=lambda w: w["example"])  # stable: a turn's windows stay in order
    return windows


def label_window(offsets: List[Optional[tuple]], span: tuple) -> tuple:
    """(start, end) token of the character span [start, end) if the window holds all of
    it, else (0, 0), the first token, as run_qa.py labels it."""
    passage = [i for i, o in enumerate(offsets) if o is not None]
    if not (offsets[passage[0]][0] <= span[0] and offsets[passage[-1]][1] >= span[1]):
        return 0, 0
    start = next(i for i in passage if offsets[i][1] > span[0])
    end = next(i for i in reversed(passage) if offsets[i][0] < span[1])
    return start, end


def collate(windows: Sequence[dict], pad_id: int, labels: bool) -> Dict[str, torch.Tensor]:
    """Model inputs padded to the longest window of the batch."""
    length = max(len(w["input_ids"]) for w in windows)
    batch = {name: torch.tensor([w[name] + [pad_id if name == "input_ids" else 0]
                                 * (length - len(w[name])) for w in windows])
             for name in MODEL_INPUTS if name in windows[0]}
    if labels:
        batch["start_positions"] = torch.tensor([w["start"] for w in windows])
        batch["end_positions"] = torch.tensor([w["end"] for w in windows])
    return batch


# ---------------------------------------------------------------- training

def build_optimizer(model: torch.nn.Module, learning_rate: float, weight_decay: float,
                    adam_epsilon: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, no decay on biases and LayerNorm weights."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = [p for n, p in named if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in named if not (n.endswith("bias") or "LayerNorm" in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=learning_rate, eps=adam_epsilon)


def linear_schedule(optimizer, warmup_steps: int, total_steps: int):
    """Learning rate 0 → peak over warmup_steps, then linearly down to 0 at total_steps."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_step(model, optimizer, scheduler, batch: Dict[str, torch.Tensor],
               max_grad_norm: float) -> torch.Tensor:
    """Forward, backward, clipping, AdamW and schedule steps; the loss (detached)."""
    loss = model(**batch).loss
    loss.backward()
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def train(model, tokenizer, args, device: torch.device) -> None:
    dialogues = read(args.train_file, args.skip_invalid)
    turns = [(d, t) for d in dialogues for t in d.turns]
    kept = [(d, t) for d, t in turns if t.kind is AnswerKind.SPAN and t.span is not None]
    skipped = collections.Counter(t.kind.value for d, t in turns
                                  if not (t.kind is AnswerKind.SPAN and t.span is not None))
    logger.info("Training on %d of %d turns; left out (no passage span): %s", len(kept),
                len(turns), dict(skipped) or "none")
    windows = tokenize_windows(tokenizer, [t.question for _, t in kept],
                               [d.passage for d, _ in kept], args.max_seq_length,
                               args.doc_stride, args.max_query_length)
    for w in windows:
        w["start"], w["end"] = label_window(w["offsets"], kept[w["example"]][1].span)
    logger.info("%d training windows, %d of them without the answer (labelled 0)",
                len(windows), sum(w["start"] == 0 for w in windows))
    batch_size = args.per_gpu_train_batch_size
    per_epoch = -(-len(windows) // batch_size)
    total = args.max_steps if args.max_steps > 0 else max(1, int(per_epoch * args.num_train_epochs))
    optimizer = build_optimizer(model, args.learning_rate, args.weight_decay, args.adam_epsilon)
    scheduler = linear_schedule(optimizer, args.warmup_steps, total)
    model.train()
    step, epoch, seqs, tokens, losses = 0, 0, 0, 0, []
    began = time.perf_counter()
    while step < total:
        generator = torch.Generator().manual_seed(args.seed + epoch)
        order = torch.randperm(len(windows), generator=generator).tolist()
        for first in range(0, len(order), batch_size):
            batch = collate([windows[i] for i in order[first:first + batch_size]],
                            tokenizer.pad_token_id, labels=True)
            seqs += len(batch["input_ids"])
            tokens += int(batch["attention_mask"].sum())
            batch = {k: v.to(device) for k, v in batch.items()}
            losses.append(train_step(model, optimizer, scheduler, batch, args.max_grad_norm))
            step += 1
            if step % args.logging_steps == 0 or step == total:
                seconds = time.perf_counter() - began
                logger.info("step %d/%d epoch %d loss %.4f lr %.3g %.2f seq/s %.0f tokens/s",
                            step, total, epoch, torch.stack(losses).mean().item(),
                            scheduler.get_last_lr()[0], seqs / seconds, tokens / seconds)
                seqs, tokens, losses, began = 0, 0, [], time.perf_counter()
            if step >= total:
                break
        epoch += 1


# ---------------------------------------------------------------- prediction

def best_answer(windows: Sequence[dict], starts: Sequence[np.ndarray],
                ends: Sequence[np.ndarray], passage: str, n_best: int,
                max_answer_length: int) -> str:
    """The passage span with the highest start + end logit over the turn's windows."""
    best_score, best_text = -np.inf, ""
    for window, start_logits, end_logits in zip(windows, starts, ends):
        offsets = window["offsets"]
        top_ends = np.argsort(end_logits)[::-1][:n_best]
        for s in np.argsort(start_logits)[::-1][:n_best]:
            for e in top_ends:
                if offsets[s] is None or offsets[e] is None or e < s \
                        or e - s + 1 > max_answer_length:
                    continue
                score = start_logits[s] + end_logits[e]
                if score > best_score:
                    best_score, best_text = score, passage[offsets[s][0]:offsets[e][1]]
    return best_text


@torch.inference_mode()
def predict(model, tokenizer, args, device: torch.device) -> List[dict]:
    dialogues = read(args.predict_file, args.skip_invalid, questions_only=True)
    turns = [(d, t) for d in dialogues for t in d.turns]
    windows = tokenize_windows(tokenizer, [t.question for _, t in turns],
                               [d.passage for d, _ in turns], args.max_seq_length,
                               args.doc_stride, args.max_query_length)
    logger.info("Predicting %d turns (%d windows)", len(turns), len(windows))
    model.eval()
    starts, ends = [], []
    for first in range(0, len(windows), args.per_gpu_eval_batch_size):
        part = windows[first:first + args.per_gpu_eval_batch_size]
        batch = collate(part, tokenizer.pad_token_id, labels=False)
        out = model(**{k: v.to(device) for k, v in batch.items()})
        for row, w in enumerate(part):
            starts.append(out.start_logits[row, :len(w["input_ids"])].float().cpu().numpy())
            ends.append(out.end_logits[row, :len(w["input_ids"])].float().cpu().numpy())
    of_turn: Dict[int, List[int]] = collections.defaultdict(list)
    for index, w in enumerate(windows):
        of_turn[w["example"]].append(index)
    predictions = []
    for example, (dialogue, turn) in enumerate(turns):
        rows = of_turn[example]
        answer = best_answer([windows[i] for i in rows], [starts[i] for i in rows],
                             [ends[i] for i in rows], dialogue.passage, args.n_best_size,
                             args.max_answer_length)
        predictions.append({"id": dialogue.id, "turn_id": turn.turn_id, "answer": answer})
    return predictions


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
                        datefmt="%H:%M:%S", level=logging.INFO)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps(vars(args), indent=2, ensure_ascii=False))
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    device = torch.device("cuda" if torch.cuda.is_available() and not args.no_cuda else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    model = AutoModelForQuestionAnswering.from_pretrained(args.model_name_or_path).to(device)
    if args.freeze_embeddings:  # as run_coqa.py --freeze_embeddings: the word embeddings only
        model.get_input_embeddings().weight.requires_grad_(False)
    if args.train_file:
        train(model, tokenizer, args, device)
    if args.predict_file:
        predictions = predict(model, tokenizer, args, device)
        path = out / "predictions_.json"
        path.write_text(json.dumps(predictions, indent=2, ensure_ascii=False), encoding="utf-8")
        logger.info("Wrote %d predictions to %s", len(predictions), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
