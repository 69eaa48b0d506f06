"""Steps of run_seq2seq.py: loading, the training set, batched decoding to answers."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from tqdm.auto import tqdm

from coqa.data.errors import UsageError
from coqa.data.folders import check_weights_file
from coqa.train.dataset import TrainDataset
from seq2seq.answer_text import AnswerText
from seq2seq.examples import Seq2SeqData
from seq2seq.decoding import DecodeConfig, decode
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel, keyed_pseudo_ids

logger = logging.getLogger(__name__)


def load_seq2seq_model(path: str, config: Seq2SeqConfig, trained: bool,
                       config_file: Optional[str] = None) -> Seq2SeqModel:
    """A fine-tuned model (`trained`: written by `save`, or an s2s-ft ckpt-N folder, read
    with `config`) or a pretrained encoder folder."""
    if not Path(path).is_dir():
        raise UsageError(f"model folder {path} does not exist (models load from local folders only)")
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (Path(path) / name).is_file():
            check_weights_file(Path(path) / name)
    try:
        if trained:
            return Seq2SeqModel.load(path, fallback=config, config_file=config_file)
        return Seq2SeqModel.from_pretrained(path, config, config_file=config_file, new_head=True)
    except (ValueError, FileNotFoundError, OSError) as err:
        raise UsageError(str(err).splitlines()[0]) from None


class PseudoTokenTrainingSet(TrainDataset):
    """`data` as `coqa.train.loop.train` takes it, each batch with its `pseudo_ids`.

    Example i's pseudo tokens in epoch e come from a generator seeded by (seed, e, i), not
    from the global random state as the model's own draw would: a DDP run with batch b per
    process then trains on exactly what one process with batch world·b does, and a resumed
    run on what the uninterrupted run did. The loop calls `set_epoch` before every epoch.
    """

    def __init__(self, data: Seq2SeqData, model: Seq2SeqModel, seed: int):
        self.data = data
        self.config = model.config
        self.vocab_size = model.vocab_size
        self.pad_token_id = model.pad_token_id
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.data)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def loss_weight(self, batch: Dict[str, torch.Tensor]) -> float:
        return self.data.loss_weight(batch)

    def count_tokens(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.data.count_tokens(batch)

    def batch(self, indices: List[int]) -> Dict[str, torch.Tensor]:
        batch = self.data.batch(indices)
        keys = [(self.seed, self.epoch, int(i)) for i in indices]
        config = self.config
        batch["pseudo_ids"] = keyed_pseudo_ids(
            batch["target_ids"], batch["target_mask"], keys, config.mask_token_id,
            self.vocab_size, config.keep_prob, config.random_prob,
            self.pad_token_id)  # (batch, tgt_len)
        return batch


def training_set(data: Seq2SeqData, model: Seq2SeqModel,
                 seed: int) -> "PseudoTokenTrainingSet | Seq2SeqData":
    """What the training loop iterates: with pseudo tokens for the pseudo mask way."""
    return PseudoTokenTrainingSet(data, model, seed) if model.config.mask_way == "pseudo" else data


def decode_answers(model: Seq2SeqModel, data: Seq2SeqData, tokenizer, config: DecodeConfig,
                   batch_size: int, ignore_ids, nbest: bool,
                   passages: Optional[Sequence[str]] = None
                   ) -> Tuple[List[str], List[Dict[str, Any]]]:
    """Answer text for every example (in order) and, with `nbest`, scores and n-best lists.
    With `passages` (one per example) an answer found in its passage takes the passage's
    spelling, its UNK tokens the characters they stood for (`AnswerText.in_passage`)."""
    answer_text = AnswerText.of(tokenizer)

    def text(ids, index: int) -> str:
        return answer_text.in_passage(ids, passages[index]) if passages else answer_text.text(ids)

    answers: List[str] = []
    details: List[Dict[str, Any]] = []
    began, steps = time.perf_counter(), 0
    for first in tqdm(range(0, len(data.source_ids), batch_size), desc="Decoding"):
        batch = data.batch(list(range(first, min(first + batch_size, len(data.source_ids)))))
        output = decode(model, batch["source_ids"], batch["source_mask"], config, ignore_ids, nbest)
        steps += output.steps
        for index, answer in enumerate(output.answers, start=first):
            answers.append(text(answer.token_ids, index))
            if nbest:
                details.append({"score": answer.score, "nbest": [
                    {"text": text(h.token_ids, index), "score": h.score} for h in answer.nbest]})
    seconds = time.perf_counter() - began
    logger.info("Decoded %d answers in %.1f s (%.1f answers/s, %d decoding steps)",
                len(answers), seconds, len(answers) / max(seconds, 1e-9), steps)
    return answers, details


def check_lengths(model: Seq2SeqModel, source_length: int, max_tgt_length: int) -> None:
    available = model.mlm.config.max_position_embeddings
    if source_length + max_tgt_length > available:
        raise UsageError(f"source length {source_length} + --max_tgt_length {max_tgt_length} "
                         f"exceeds the model's {available} positions")
    if max_tgt_length < 1:
        raise UsageError("--max_tgt_length must be at least 1")
