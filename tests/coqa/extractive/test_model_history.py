"""The history answer embedding (`--history_encoding hae`) in ConvQAModel: zero at the start,
so the logits are exactly those of the model without it; learned from there; saved and
loaded with the model; on a BERT and an XLM-R-style (pad id 1) encoder, every middle layer."""
from __future__ import annotations

import pytest
import torch
from transformers import XLMRobertaConfig

from coqa.extractive.model import ConvQAModel
from coqa.train.optim import count_parameters
from tests.coqa.extractive.test_model import HIDDEN, SEQ_LEN, build, make_batch, tiny_bert_config

TURNS = 2


def tiny_xlmr_config() -> XLMRobertaConfig:
    return XLMRobertaConfig(vocab_size=100, hidden_size=HIDDEN, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=64,
                            max_position_embeddings=SEQ_LEN + 4, pad_token_id=1,
                            type_vocab_size=2, hidden_dropout_prob=0.0,
                            attention_probs_dropout_prob=0.0)


ENCODERS = {"bert": tiny_bert_config, "xlmr": tiny_xlmr_config}


def history_ids(batch, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, TURNS + 1, batch["input_ids"].shape, generator=generator)
    return ids * (batch["token_type_ids"] == 1) * batch["attention_mask"]


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("middle", ["none", "bilstm", "rtransformer"])
def test_zero_initialised_hae_gives_exactly_the_logits_of_all_zero_ids(encoder, middle):
    model = build(middle, ENCODERS[encoder](), history_answer_turns=TURNS)
    batch = make_batch()
    if encoder == "xlmr":  # XLM-R pads with id 1
        batch["input_ids"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, 1)
    ids = history_ids(batch)
    assert ids.any()
    with torch.no_grad():
        given = model(**batch, history_answer_ids=ids)
        zeros = model(**batch, history_answer_ids=torch.zeros_like(ids))
        without = model(**batch)
        # The same weights without the embedding: the plain input_ids path.
        plain = build(middle, ENCODERS[encoder](), history_answer_turns=0)
        state = {k: v for k, v in model.state_dict().items()
                 if not k.startswith("history_answer_embedding")}
        plain.load_state_dict(state, strict=True)
        reference = plain(**batch)
    for name in ("start_logits", "end_logits"):
        assert torch.equal(given[name], zeros[name]), name
        assert torch.equal(given[name], without[name]), name
        assert torch.equal(given[name], reference[name]), name


def test_hae_rows_are_learned_and_change_the_logits():
    model = build("none", history_answer_turns=TURNS).train()
    batch = make_batch()
    ids = history_ids(batch)
    labels = torch.tensor([5, 6])
    model(**batch, history_answer_ids=ids, start_positions=labels,
          end_positions=labels)["loss"].backward()
    grad = model.history_answer_embedding.weight.grad
    assert grad is not None and grad[1:].abs().sum() > 0
    with torch.no_grad():
        model.history_answer_embedding.weight[1:].normal_()
    model.eval()
    with torch.no_grad():
        moved = model(**batch, history_answer_ids=ids)["start_logits"]
        zero = model(**batch, history_answer_ids=torch.zeros_like(ids))["start_logits"]
        plain = model(**batch)["start_logits"]
    assert not torch.allclose(moved, zero)
    assert torch.equal(zero, plain)  # row 0 stays the "not an answer" row


def test_parameters_bf16_and_save_load(tmp_path):
    plain, hae = build("none"), build("none", history_answer_turns=TURNS)
    assert plain.history_answer_embedding is None
    assert count_parameters(hae) - count_parameters(plain) == (TURNS + 1) * HIDDEN
    batch = make_batch()
    ids = history_ids(batch)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        output = hae(**batch, history_answer_ids=ids)
    assert torch.isfinite(output["start_logits"].float()).all()
    with torch.no_grad():
        hae.history_answer_embedding.weight[1:].normal_()
        expected = hae(**batch, history_answer_ids=ids)["start_logits"]
    hae.save(tmp_path / "model")
    loaded = ConvQAModel.load(tmp_path / "model").eval()
    assert loaded.config.history_answer_turns == TURNS
    with torch.no_grad():
        assert torch.equal(loaded(**batch, history_answer_ids=ids)["start_logits"], expected)
