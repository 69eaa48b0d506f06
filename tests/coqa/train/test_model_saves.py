"""Saving models: a full disk inside safetensors' writer is one line naming the file, with
nothing half-written left behind; saved files get the mode the umask allows."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError

import coqa.extractive.model as extractive_model
import seq2seq.model as seq2seq_model
from coqa.data.errors import UsageError
from coqa.data.files import write_json
from coqa.extractive.model import ConvQAModel, ModelConfig
from coqa.train.checkpoints import save_final
from coqa.train.loop import train
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel
from tests.conftest import tiny_bert_config
from tests.coqa.train.conftest import ToyDataset, make_config, toy_model


def extractive():
    torch.manual_seed(0)
    return ConvQAModel.from_encoder_config(tiny_bert_config(40), ModelConfig())


def seq2seq():
    torch.manual_seed(0)
    return Seq2SeqModel.from_encoder_config(
        tiny_bert_config(40), Seq2SeqConfig(max_source_length=12, max_target_length=8,
                                            mask_token_id=4, sep_token_id=3))


MODELS = {"extractive": (extractive, extractive_model), "seq2seq": (seq2seq, seq2seq_model)}


def disk_full(monkeypatch, module):
    """safetensors' writer fails as it does on a full disk: a SafetensorError, no OSError."""
    def writer(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half")  # what a writer leaves when the disk fills up
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: "
                              "StorageFull, message: \"No space left on device (os error 28)\" })")
    monkeypatch.setattr(module, "save_file", writer)


def only_one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_disk_full_while_saving_the_final_model(kind, tmp_path, monkeypatch):
    make, module = MODELS[kind]
    model = make()
    disk_full(monkeypatch, module)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError) as err:
        save_final(lambda m, directory: m.save(directory), model, out)
    text = only_one_line(err)
    assert str(out / "model.safetensors") in text and "the disk is full" in text
    assert list(out.iterdir()) == []  # no temporary folder, no half-written file


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_disk_full_while_saving_a_checkpoint(kind, tmp_path, monkeypatch):
    make, module = MODELS[kind]
    saved = make()
    disk_full(monkeypatch, module)
    with pytest.raises(UsageError) as err:
        train(toy_model(), ToyDataset(8), make_config(tmp_path, save_steps=2),
              lambda model, directory: saved.save(directory))
    out = tmp_path / "out"
    text = only_one_line(err)
    assert str(out / "checkpoint-2" / "model.safetensors") in text and "disk is full" in text
    assert [p.name for p in out.iterdir() if p.name != "runs"] == []


def test_other_safetensors_write_errors_are_an_io_error_naming_the_file(tmp_path, monkeypatch):
    def writer(tensors, filename, *args, **kwargs):
        raise SafetensorError("Error while serializing: something else")
    monkeypatch.setattr(extractive_model, "save_file", writer)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError, match="Input/output error") as err:
        save_final(lambda m, directory: m.save(directory), extractive(), out)
    assert str(out / "model.safetensors") in only_one_line(err)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_saved_files_get_the_mode_the_umask_allows(kind, tmp_path):
    make, _ = MODELS[kind]
    out = tmp_path / "out"
    out.mkdir()
    old = os.umask(0o022)
    try:
        save_final(lambda m, directory: (m.save(directory),
                                         write_json(directory / "args.json", {"a": 1})),
                   make(), out)
        write_json(out / "eval_results.json", {"f1": 1.0})
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert "model.safetensors" in modes and "args.json" in modes
    assert modes == {name: 0o644 for name in modes}
