"""A pretrained encoder's load is said in our own lines, not transformers' report table."""
from __future__ import annotations

import logging

from safetensors.torch import load_file, save_file
from transformers import BertForMaskedLM
from transformers.utils import logging as hf_logging

from coqa.extractive.config import ModelConfig
from coqa.extractive.model import ConvQAModel
from tests.conftest import tiny_bert_config


def test_pretraining_head_and_pooler_said_in_one_line_each(tmp_path, caplog, capsys):
    BertForMaskedLM(tiny_bert_config(40)).save_pretrained(tmp_path)  # no pooler, a cls head
    verbosity = hf_logging.get_verbosity()
    with caplog.at_level(logging.INFO):
        ConvQAModel.from_pretrained_encoder(tmp_path, ModelConfig())
    said = [r.getMessage() for r in caplog.records if r.name == "coqa.extractive.encoder_weights"]
    assert len(said) == 2
    assert "5 checkpoint tensors not used by the encoder (cls.predictions.bias" in said[0]
    assert "no pooler" in said[1]
    assert all(r.levelno == logging.INFO for r in caplog.records
               if r.name == "coqa.extractive.encoder_weights")
    captured = capsys.readouterr()
    assert "LOAD REPORT" not in captured.out + captured.err + caplog.text
    assert hf_logging.get_verbosity() == verbosity  # put back


def test_a_missing_encoder_tensor_is_a_warning_naming_it(tmp_path, caplog):
    BertForMaskedLM(tiny_bert_config(40)).save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    missing = "bert.encoder.layer.1.output.dense.weight"
    del weights[missing]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with caplog.at_level(logging.INFO):
        ConvQAModel.from_pretrained_encoder(tmp_path, ModelConfig())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "1 encoder tensors missing" in warnings[0]
    assert "encoder.layer.1.output.dense.weight" in warnings[0]
