"""The UniLM seq2seq model's type ids, position table and checkpoints (tiny random
backbones)."""
from __future__ import annotations

import json
import re

import pytest
import torch
from transformers import BertConfig

from seq2seq.model import Seq2SeqConfig, Seq2SeqModel, resolve_type_ids
from tests.seq2seq.tiny_model import VOCAB, build, make_batch, tiny_bert_config, tiny_config


# ---- type ids, positions, checkpoints --------------------------------------------------

def test_type_ids_follow_the_encoder_config():
    assert resolve_type_ids(tiny_bert_config(type_vocab_size=2), tiny_config()) == (0, 1)
    assert resolve_type_ids(tiny_bert_config(type_vocab_size=6), tiny_config()) == (4, 5)
    fields = tiny_bert_config(type_vocab_size=6, source_type_id=2, target_type_id=3)
    assert resolve_type_ids(fields, tiny_config()) == (2, 3)
    with pytest.raises(ValueError, match="type_vocab_size 3"):
        resolve_type_ids(tiny_bert_config(type_vocab_size=3), tiny_config())


def test_position_table_is_extended_by_copying_rows(tmp_path, caplog):
    caplog.set_level("INFO", logger="seq2seq.model")
    torch.manual_seed(0)
    from transformers import BertForMaskedLM
    mlm = BertForMaskedLM._from_config(tiny_bert_config(), attn_implementation="sdpa")
    old = mlm.bert.embeddings.position_embeddings.weight.detach().clone()  # (64, hidden)
    model = Seq2SeqModel(mlm, tiny_config(max_source_length=60, max_target_length=30)).eval()
    table = model.mlm.bert.embeddings.position_embeddings.weight
    assert table.shape == (90, 32) and model.mlm.config.max_position_embeddings == 90
    assert torch.equal(table[:64], old) and torch.equal(table[64:], old[:26])
    grown = [r.getMessage() for r in caplog.records if "Position table" in r.getMessage()]
    assert len(grown) == 1 and "from 64 to 90 rows" in grown[0]
    caplog.clear()
    batch = make_batch(src_len=60, tgt_len=30, source_lengths=(60, 6), target_lengths=(30, 3))
    with torch.no_grad():
        before = model(**batch)["logits"]
        model.save(tmp_path / "saved")
        loaded = Seq2SeqModel.load(tmp_path / "saved").eval()
        after = loaded(**batch)["logits"]
    assert loaded.mlm.config.max_position_embeddings == 90
    assert not any("Position table" in r.getMessage() for r in caplog.records)  # saved grown
    assert torch.equal(before, after)
    saved = json.loads((tmp_path / "saved" / "seq2seq_config.json").read_text())
    assert (saved["source_type_id"], saved["target_type_id"]) == (0, 1)


def legacy_state(model: Seq2SeqModel, prefix: bool) -> dict:
    """The model's weights under old names, as pre-2020 BERT and UniLM checkpoints have them."""
    state = {}
    for key, tensor in model.mlm.state_dict().items():
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                          "LayerNorm.beta")
        if not prefix:
            key = key.removeprefix("bert.")
        state[key] = tensor.clone()
    state["cls.seq_relationship.weight"] = torch.zeros(2, 32)  # unused pre-training head
    state["bert.pooler.dense.weight" if prefix else "pooler.dense.weight"] = torch.zeros(32, 32)
    return state


@pytest.mark.parametrize("prefix", [True, False])
def test_legacy_checkpoint_with_gamma_beta_loads_and_gives_identical_logits(tmp_path, prefix):
    model, batch = build(seed=5), make_batch()
    tiny_bert_config().save_pretrained(tmp_path)
    torch.save(legacy_state(model, prefix), tmp_path / "pytorch_model.bin")
    assert any(k.endswith("LayerNorm.gamma") for k in torch.load(tmp_path / "pytorch_model.bin"))
    loaded = Seq2SeqModel.from_pretrained(tmp_path, tiny_config()).eval()
    with torch.no_grad():
        assert torch.equal(model(**batch)["logits"], loaded(**batch)["logits"])
    assert loaded.mlm.cls.predictions.decoder.weight is \
        loaded.mlm.bert.embeddings.word_embeddings.weight


def test_mismatching_checkpoint_names_folder_and_key(tmp_path):
    model = build()
    tiny_bert_config(intermediate_size=48).save_pretrained(tmp_path)
    torch.save(legacy_state(model, prefix=True), tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"(?s)" + re.escape(str(tmp_path)) + r".*encoder\.layer\.0\."
                                         r"intermediate\.dense\.bias.*\[64\].*\[48\]"):
        Seq2SeqModel.from_pretrained(tmp_path, tiny_config())


def test_checkpoint_missing_a_key_is_refused(tmp_path):
    model = build()
    tiny_bert_config().save_pretrained(tmp_path)
    state = legacy_state(model, prefix=True)
    del state["cls.predictions.transform.dense.weight"]
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="cls.predictions.transform.dense.weight.*missing"):
        Seq2SeqModel.from_pretrained(tmp_path, tiny_config())


def test_save_and_load_round_trip(tmp_path):
    model, batch = build(seed=2, mask_way="teacher_forcing", label_smoothing=0.0), make_batch()
    model.save(tmp_path)
    loaded = Seq2SeqModel.load(tmp_path).eval()
    assert loaded.config == Seq2SeqConfig(**{**model.config.__dict__, "source_type_id": 0,
                                             "target_type_id": 1})
    with torch.no_grad():
        assert torch.equal(model(**batch)["loss"], loaded(**batch)["loss"])
    (tmp_path / "seq2seq_config.json").write_text(json.dumps({"mask_wya": "pseudo"}))
    with pytest.raises(ValueError, match="mask_wya"):
        Seq2SeqModel.load(tmp_path)


def s2s_ft_checkpoint(model: Seq2SeqModel, folder, config: BertConfig):
    """A `ckpt-N` folder as s2s-ft's run_seq2seq.py writes it (save_pretrained of its
    BertForSequenceToSequence): config.json with its extra fields, pytorch_model.bin whose
    tied output weight is `cls.predictions.decoder_weight`, no pooler, the label-smoothing
    buffer, and no seq2seq_config.json."""
    folder.mkdir(parents=True)
    values = {**config.to_dict(), "label_smoothing": 0.1, "source_type_id": 0,
              "target_type_id": 1}
    (folder / "config.json").write_text(json.dumps(values), encoding="utf-8")
    state = {}
    for key, tensor in model.mlm.state_dict().items():
        if key.startswith("cls.predictions.decoder."):
            continue
        state[key] = tensor.clone()
    state["cls.predictions.decoder_weight"] = state["bert.embeddings.word_embeddings.weight"]
    state["crit_mask_lm_smoothed.one_hot"] = torch.full((1, VOCAB), 0.1 / (VOCAB - 2))
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_s2s_ft_checkpoint_loads_with_its_key_names(tmp_path):
    model, batch = build(seed=7), make_batch()
    folder = s2s_ft_checkpoint(model, tmp_path / "ckpt-5105", tiny_bert_config())
    assert "cls.predictions.decoder_weight" in torch.load(folder / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="seq2seq_config.json"):
        Seq2SeqModel.load(folder)  # without settings to assume
    loaded = Seq2SeqModel.load(folder, fallback=tiny_config()).eval()
    with torch.no_grad():
        assert torch.equal(model(**batch)["logits"], loaded(**batch)["logits"])
    assert loaded.mlm.cls.predictions.decoder.weight is \
        loaded.mlm.bert.embeddings.word_embeddings.weight


def test_config_file_elsewhere(tmp_path):
    model = build(seed=3)
    model.save(tmp_path / "m")
    (tmp_path / "m" / "config.json").rename(tmp_path / "encoder.json")
    loaded = Seq2SeqModel.load(tmp_path / "m", config_file=tmp_path / "encoder.json")
    assert torch.equal(loaded.mlm.cls.predictions.bias, model.mlm.cls.predictions.bias)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        Seq2SeqModel.load(tmp_path / "m", config_file=tmp_path / "nope.json")


def test_encoder_only_checkpoint_gets_a_new_tied_head(tmp_path, caplog):
    """A retrieval encoder (BertModel weights, no masked-LM head) can be fine-tuned: the
    head is created, its output tied to the word embeddings, and the log says so; a trained
    model's load (Seq2SeqModel.load) stays strict."""
    import logging

    from transformers import BertModel

    encoder = BertModel(tiny_bert_config())
    encoder.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        model = Seq2SeqModel.from_pretrained(tmp_path, tiny_config(), new_head=True)
    assert any("has no masked-LM head" in r.getMessage() for r in caplog.records)
    words = model.mlm.bert.embeddings.word_embeddings.weight
    assert model.mlm.cls.predictions.decoder.weight.data_ptr() == words.data_ptr()
    assert torch.equal(model.mlm.bert.encoder.layer[0].attention.self.query.weight,
                       encoder.encoder.layer[0].attention.self.query.weight)
    with pytest.raises(ValueError, match="cls.predictions"):
        Seq2SeqModel.from_pretrained(tmp_path, tiny_config())
