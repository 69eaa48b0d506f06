"""--head_learning_rate: the parameters a pretrained encoder lacks train at their own rate."""
from __future__ import annotations

import pytest
import torch

from coqa.data.errors import ConfigError
from coqa.extractive.config import ModelConfig
from coqa.extractive.model import ConvQAModel
from coqa.train.checkpoints import resume_mismatches
from coqa.train.loop import train
from coqa.train.optim import parameter_groups
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel
from tests.conftest import tiny_bert_config
from tests.coqa.train.conftest import ToyDataset, ToyModel, make_config, no_save, snapshot


class ToyWithHead(ToyModel):
    """The toy model whose `head` is new and everything else pretrained."""

    @staticmethod
    def head_parameter(name: str) -> bool:
        return name.startswith("head.")


def names_of(model, group):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)] for p in group["params"]}


def test_groups_without_and_with_a_head_learning_rate():
    model = ToyWithHead()
    plain = parameter_groups(model, 0.1)
    assert [names_of(model, g) for g in plain] == [
        {"word_embeddings.weight", "head.weight"},
        {"layer_norm.weight", "layer_norm.bias", "head.bias"}]
    assert all("lr" not in g for g in plain)
    groups = parameter_groups(model, 0.1, head_learning_rate=3e-3)
    assert [(names_of(model, g), g["weight_decay"], g.get("lr")) for g in groups] == [
        ({"word_embeddings.weight"}, 0.1, None),
        ({"layer_norm.weight", "layer_norm.bias"}, 0.0, None),
        ({"head.weight"}, 0.1, 3e-3), ({"head.bias"}, 0.0, 3e-3)]


def test_a_model_that_names_no_head_is_refused():
    with pytest.raises(ConfigError, match="--head_learning_rate"):
        parameter_groups(ToyModel(), 0.0, head_learning_rate=1e-3)


def test_first_adamw_step_moves_the_head_by_its_rate_and_the_rest_not_at_all(tmp_path):
    """AdamW's first step moves each weight by lr (the sign of its gradient): with the
    encoder's rate 0 only the head moves, each weight by the head rate."""
    torch.manual_seed(0)
    model = ToyWithHead()
    before = snapshot(model)
    config = make_config(tmp_path, learning_rate=0.0, head_learning_rate=0.01, weight_decay=0.0,
                         warmup_steps=0, max_steps=1, num_train_epochs=0)
    train(model, ToyDataset(8), config, no_save)
    after = snapshot(model)
    for name in ("word_embeddings.weight", "layer_norm.weight", "layer_norm.bias"):
        assert torch.equal(after[name], before[name]), name
    for name in ("head.weight", "head.bias"):
        step = (after[name] - before[name]).abs()
        assert torch.allclose(step, torch.full_like(step, 0.01), rtol=1e-3), name


def test_which_parameters_are_heads_in_both_models():
    extractive = ConvQAModel.from_encoder_config(tiny_bert_config(40),
                                                 ModelConfig(middle="bilstm", lstm_hidden=8, exact_match=True))
    heads = {n for n, _ in extractive.named_parameters() if extractive.head_parameter(n)}
    assert heads and all(not n.startswith("encoder.") for n in heads)
    assert {n.split(".")[0] for n in heads} == {
        "middle", "span_head", "unknown_head", "attention_head", "yes_no_head",
        "match_embedding"}
    seq2seq = Seq2SeqModel.from_encoder_config(
        tiny_bert_config(40), Seq2SeqConfig(max_source_length=8, max_target_length=4,
                                            mask_token_id=4, sep_token_id=3))
    heads = {n for n, _ in seq2seq.named_parameters() if seq2seq.head_parameter(n)}
    assert heads == {"mlm.cls.predictions.bias", "mlm.cls.predictions.transform.dense.weight",
                     "mlm.cls.predictions.transform.dense.bias",
                     "mlm.cls.predictions.transform.LayerNorm.weight",
                     "mlm.cls.predictions.transform.LayerNorm.bias"}
    # The output weight is the word-embedding matrix: it trains with the encoder.
    assert seq2seq.mlm.cls.predictions.decoder.weight is \
        seq2seq.mlm.bert.embeddings.word_embeddings.weight


def test_a_resume_with_another_head_rate_is_a_mismatch(tmp_path):
    config = make_config(tmp_path, head_learning_rate=1e-3)
    saved = {"config": {"learning_rate": config.learning_rate, "warmup_steps": 2}}
    assert ("head_learning_rate", None, 1e-3) in resume_mismatches(saved, config)


def test_both_entry_scripts_carry_the_flag_into_the_train_config():
    from coqa.cli import train_config_from
    from coqa.extractive.arguments import build_parser
    from seq2seq.arguments import FINE_TUNE, parse_mode_args

    coqa_args = build_parser().parse_args(
        ["--model_type", "bert", "--model_name_or_path", "m", "--output_dir", "o",
         "--do_train", "--head_learning_rate", "2e-3"])
    seq2seq_args = parse_mode_args(FINE_TUNE, ["--train_file", "t.json", "--model_name_or_path",
                                               "m", "--output_dir", "o",
                                               "--head_learning_rate", "2e-3"])
    for args in (coqa_args, seq2seq_args):
        config = train_config_from(args, "fp32", num_train_epochs=1.0, max_steps=-1,
                                   warmup_steps=0)
        assert config.head_learning_rate == 2e-3
    assert build_parser().parse_args(["--model_type", "bert", "--model_name_or_path", "m",
                                      "--output_dir", "o"]).head_learning_rate is None
