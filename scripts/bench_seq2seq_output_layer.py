"""Seq2seq training step with the output layer on real target tokens only (what
`Seq2SeqModel.forward` does) against the output layer on every target row (the reference
written here: the previous code path), on real answers.

Usage: python scripts/bench_seq2seq_output_layer.py --model E5_DIR --data TRAIN.json
           [--source 128] [--target 24] [--batch-size 8] [--batches 6] [--repeats 2]

The model is the folder's encoder with a new masked-LM head (word embeddings frozen, as
`--freeze_embeddings`); batches are drawn from the data file's seq2seq training examples,
so target lengths are real ones. Both paths take turns on the same batches; each figure is
the median CPU time (process time: other load counts less) of forward + backward, one
thread. Ratio = now / reference.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Dict, List

import numpy as np
import torch

from coqa.data.folders import load_tokenizer
from seq2seq.config import SourceConfig
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel, label_smoothed_loss
from seq2seq.sources import dialogue_examples


def padded(rows: List[List[int]], pad_id: int) -> tuple:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, :len(row)] = torch.tensor(row)
        mask[index, :len(row)] = 1
    return ids, mask


def pseudo_of(model: Seq2SeqModel, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.full_like(batch["target_ids"], model.config.mask_token_id).masked_fill(
        ~batch["target_mask"].bool(), model.pad_token_id)


def every_row_loss(model: Seq2SeqModel, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    """The reference: the output layer on all (batch, tgt_len) rows, padding included."""
    hidden = model.target_hidden(**batch, pseudo_ids=pseudo_of(model, batch))
    return label_smoothed_loss(model.lm_head(hidden), batch["target_ids"], batch["target_mask"],
                               model.config.label_smoothing, model.pad_token_id)


def real_rows_loss(model: Seq2SeqModel, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch, pseudo_ids=pseudo_of(model, batch))["loss"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="encoder folder (e.g. import_e5's)")
    parser.add_argument("--data", required=True, help="ConvQA_CN training file")
    parser.add_argument("--source", type=int, default=128)
    parser.add_argument("--target", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(args.model)
    config = Seq2SeqConfig(max_source_length=args.source, max_target_length=args.target,
                           mask_token_id=tokenizer.mask_token_id,
                           sep_token_id=tokenizer.sep_token_id)
    model = Seq2SeqModel.from_pretrained(args.model, config, new_head=True)
    model.mlm.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    built = dialogue_examples(args.data, tokenizer, SourceConfig(
        max_source_seq_length=args.source, max_target_seq_length=args.target, history_len=0),
        training=True, skip_invalid=True)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.batches):
        rows = rng.choice(len(built.sources), args.batch_size, replace=False)
        source_ids, source_mask = padded([built.sources[i] for i in rows], tokenizer.pad_token_id)
        target_ids, target_mask = padded([built.targets[i] for i in rows], tokenizer.pad_token_id)
        batches.append({"source_ids": source_ids, "source_mask": source_mask,
                        "target_ids": target_ids, "target_mask": target_mask})
    times: Dict[str, List[float]] = {"reference": [], "now": []}
    for _ in range(args.repeats):
        for batch in batches:
            for name, loss_of in (("reference", every_row_loss), ("now", real_rows_loss)):
                start = time.process_time()
                loss_of(model, batch).backward()
                model.zero_grad(set_to_none=True)
                times[name].append(time.process_time() - start)
    real = float(np.mean([b["target_mask"].float().mean().item() for b in batches]))
    reference, now = statistics.median(times["reference"]), statistics.median(times["now"])
    print(f"{real:.0%} of the target rows are real tokens; CPU s per forward + backward "
          f"(median of {len(times['now'])}): every row {reference:.2f}, real rows {now:.2f}, "
          f"ratio {now / reference:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
