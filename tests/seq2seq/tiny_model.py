"""A tiny random seq2seq model and batches for the model tests (test_model*.py)."""
from __future__ import annotations

import torch
from transformers import BertConfig

from seq2seq.model import Seq2SeqConfig, Seq2SeqModel
from tests.conftest import tiny_bert_config as shared_bert_config

VOCAB, PAD, SEP, MASK = 60, 0, 3, 4
ATOL = 1e-5


def tiny_bert_config(**overrides) -> BertConfig:
    return shared_bert_config(VOCAB, **overrides)


def tiny_config(**overrides) -> Seq2SeqConfig:
    values = dict(max_source_length=12, max_target_length=8, mask_token_id=MASK,
                  sep_token_id=SEP)
    values.update(overrides)
    return Seq2SeqConfig(**values)


def build(seed=0, attn="sdpa", encoder=None, **overrides) -> Seq2SeqModel:
    torch.manual_seed(seed)
    return Seq2SeqModel.from_encoder_config(encoder or tiny_bert_config(),
                                            tiny_config(**overrides), attn).eval()


def padded(lengths, width, seed):
    """Right-padded random ids in [5, VOCAB) and their 1/0 mask."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (len(lengths), width), generator=generator)
    mask = (torch.arange(width)[None] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def make_batch(source_lengths=(10, 6), target_lengths=(6, 3), src_len=10, tgt_len=6):
    source_ids, source_mask = padded(source_lengths, src_len, seed=1)
    target_ids, target_mask = padded(target_lengths, tgt_len, seed=2)
    return {"source_ids": source_ids, "source_mask": source_mask,
            "target_ids": target_ids, "target_mask": target_mask}


def layout_states(model, batch, pseudo_ids=None):
    """Final hidden states of every position of the training layout."""
    pseudo = pseudo_ids if pseudo_ids is not None else torch.full_like(batch["target_ids"], MASK)
    if model.config.mask_way == "teacher_forcing":
        pseudo = None
    inputs = model.layout_inputs(**batch, pseudo_ids=pseudo)
    with torch.no_grad():
        return model.mlm.bert(**inputs).last_hidden_state


