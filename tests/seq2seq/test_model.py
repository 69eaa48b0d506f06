"""The UniLM seq2seq model: masks, loss, training, checkpoints (tiny random backbones)."""
from __future__ import annotations

import json
import math
import re

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig

from seq2seq.masks import pseudo_layout_allowed, teacher_forcing_allowed
from seq2seq.model import (Seq2SeqConfig, Seq2SeqModel, draw_pseudo_ids, keyed_pseudo_ids,
                           label_smoothed_loss, resolve_type_ids)
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


# ---- masks -----------------------------------------------------------------------------

def test_pseudo_layout_mask_by_hand():
    # source: 2 real + 1 padding; target: 2 real + 1 padding -> L = 3 + 3 + 3
    allowed = pseudo_layout_allowed(torch.tensor([[1, 1, 0]]), torch.tensor([[1, 1, 0]]))[0]
    expected = [
        # s0 s1 s2 | t0 t1 t2 | p0 p1 p2
        "1 1 0  0 0 0  0 0 0",  # source rows: the real source
        "1 1 0  0 0 0  0 0 0",
        "1 1 0  0 0 0  0 0 0",
        "1 1 0  1 0 0  0 0 0",  # target j: source + targets <= j
        "1 1 0  1 1 0  0 0 0",
        "1 1 0  1 1 0  0 0 0",  # padding target: never seen, sees only real tokens
        "1 1 0  0 0 0  1 0 0",  # pseudo j: source + targets < j + itself
        "1 1 0  1 0 0  0 1 0",
        "1 1 0  1 1 0  0 0 0",  # padding pseudo: not even itself
    ]
    want = torch.tensor([[int(x) for x in row.split()] for row in expected], dtype=torch.bool)
    assert torch.equal(allowed, want)


def test_teacher_forcing_mask_by_hand():
    allowed = teacher_forcing_allowed(torch.tensor([[1, 0]]), torch.tensor([[1, 1, 0]]))[0]
    want = torch.tensor([[1, 0, 0, 0, 0], [1, 0, 0, 0, 0],
                         [1, 0, 1, 0, 0], [1, 0, 1, 1, 0], [1, 0, 1, 1, 0]], dtype=torch.bool)
    assert torch.equal(allowed, want)


def test_every_row_sees_something_and_padding_is_never_seen():
    batch = make_batch()
    allowed = pseudo_layout_allowed(batch["source_mask"], batch["target_mask"])
    assert allowed.any(dim=-1).all()
    real = torch.cat([batch["source_mask"], batch["target_mask"], batch["target_mask"]], 1).bool()
    assert not allowed[~real[:, None, :].expand_as(allowed)].any()


# ---- causality of the model's outputs --------------------------------------------------

def test_changing_a_target_token_changes_only_later_positions():
    model, batch = build(), make_batch(source_lengths=(10, 10), target_lengths=(6, 6))
    before = layout_states(model, batch)
    k = 2
    changed = dict(batch, target_ids=batch["target_ids"].clone())
    changed["target_ids"][:, k] = 7
    after = layout_states(model, changed)
    src, tgt = 10, 6
    same = lambda a, b: torch.allclose(a, b, atol=ATOL)  # noqa: E731
    assert same(before[:, :src + k], after[:, :src + k])               # source, targets < k
    assert not same(before[:, src + k:src + tgt], after[:, src + k:src + tgt])
    assert same(before[:, src + tgt:src + tgt + k + 1], after[:, src + tgt:src + tgt + k + 1])
    for j in range(k + 1, tgt):  # pseudo j > k sees target k
        assert not same(before[:, src + tgt + j], after[:, src + tgt + j])


def test_changing_a_pseudo_token_changes_only_its_own_output():
    model, batch = build(), make_batch(source_lengths=(10, 10), target_lengths=(6, 6))
    pseudo = torch.full_like(batch["target_ids"], MASK)
    before = layout_states(model, batch, pseudo)
    pseudo[:, 3] = 9
    after = layout_states(model, batch, pseudo)
    differs = ~torch.isclose(before, after, atol=ATOL).all(dim=-1)  # (batch, L)
    expected = torch.zeros_like(differs)
    expected[:, 10 + 6 + 3] = True
    assert torch.equal(differs, expected)


@pytest.mark.parametrize("mask_way", ["pseudo", "teacher_forcing"])
def test_padding_changes_nothing(mask_way):
    model, batch = build(mask_way=mask_way), make_batch()
    with torch.no_grad():
        short = model(**batch)
        noisy = {k: F.pad(v, (0, 2)) for k, v in batch.items()}  # more padding columns
        for key in ("source_ids", "target_ids"):  # and garbage under every padding
            noisy[key] = noisy[key].masked_fill(noisy[key.replace("ids", "mask")] == 0, 11)
        long = model(**noisy)
    real = batch["target_mask"].bool()
    assert torch.allclose(short["logits"][real], long["logits"][:, :6][real], atol=ATOL)
    assert torch.allclose(short["loss"], long["loss"], atol=ATOL)


@pytest.mark.parametrize("mask_way", ["pseudo", "teacher_forcing"])
def test_output_layer_on_real_targets_only_equals_the_full_one(mask_way):
    """forward runs the output layer on real target tokens only: its loss and logits
    equal those of the output layer run on every row, and padding rows are 0."""
    model, batch = build(mask_way=mask_way), make_batch(target_lengths=(6, 2))
    with torch.no_grad():
        out = model(**batch)
        hidden = model.target_hidden(**batch)  # (batch, tgt_len, hidden)
        full = model.lm_head(hidden)  # (batch, tgt_len, vocab)
        loss = label_smoothed_loss(full, batch["target_ids"], batch["target_mask"],
                                   model.config.label_smoothing, model.pad_token_id)
    real = batch["target_mask"].bool()
    assert torch.allclose(out["logits"][real], full[real], atol=ATOL)
    assert torch.equal(out["logits"][~real], torch.zeros_like(full[~real]))
    assert torch.allclose(out["loss"], loss, atol=ATOL)


def test_teacher_forcing_logits_come_from_the_previous_position():
    model, batch = build(mask_way="teacher_forcing"), make_batch(target_lengths=(6, 6))
    states = layout_states(model, batch)  # (batch, src + tgt, hidden)
    with torch.no_grad():
        logits = model(**batch)["logits"]
        last_source = batch["source_mask"].sum(1) - 1
        first = model.lm_head(states[torch.arange(2), last_source])
        rest = model.lm_head(states[:, 10:10 + 5])
    assert torch.allclose(logits[:, 0], first, atol=ATOL)
    assert torch.allclose(logits[:, 1:], rest, atol=ATOL)


def test_sdpa_and_eager_are_identical():
    batch = make_batch()
    outputs = []
    for attn in ("sdpa", "eager"):
        model = build(seed=0, attn=attn)
        assert model.mlm.config._attn_implementation == attn
        with torch.no_grad():
            outputs.append(model(**batch))
    assert torch.allclose(outputs[0]["logits"], outputs[1]["logits"], atol=1e-6)
    assert torch.allclose(outputs[0]["loss"], outputs[1]["loss"], atol=1e-6)


# ---- loss, pseudo tokens, training -----------------------------------------------------

def test_label_smoothed_loss_by_hand():
    # vocabulary of 4 with padding 0; one real token (label 2) and one padding position
    logits = torch.tensor([[[1.0, 2.0, 0.5, -1.0], [3.0, 0.0, 0.0, 0.0]]])
    labels, mask = torch.tensor([[2, 1]]), torch.tensor([[1, 0]])
    z = math.log(math.exp(1.0) + math.exp(2.0) + math.exp(0.5) + math.exp(-1.0))
    log_q = [1.0 - z, 2.0 - z, 0.5 - z, -1.0 - z]
    p = [0.0, 0.1 / 2, 0.9, 0.1 / 2]  # 1 - ε on the label, ε / (V - 2) elsewhere, 0 on padding
    expected = sum(pi * (math.log(pi) - lq) for pi, lq in zip(p, log_q) if pi > 0)
    got = label_smoothed_loss(logits, labels, mask, smoothing=0.1, pad_token_id=0)
    assert got.item() == pytest.approx(expected, abs=1e-6)
    kl = F.kl_div(logits[0, :1].log_softmax(-1), torch.tensor([p]), reduction="sum")
    assert got.item() == pytest.approx(kl.item(), abs=1e-6)
    plain = label_smoothed_loss(logits, labels, mask, smoothing=0.0, pad_token_id=0)
    assert plain.item() == pytest.approx(-log_q[2], abs=1e-6)


def test_pseudo_tokens_mix_mask_random_and_true():
    target = torch.randint(5, VOCAB, (200, 50), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(target)
    mask[:, 40:] = 0
    pseudo = draw_pseudo_ids(target, mask, MASK, VOCAB, keep_prob=0.1, random_prob=0.1,
                             generator=torch.Generator().manual_seed(1))
    real = mask.bool()
    assert (pseudo[~real] == PAD).all()
    masked = (pseudo[real] == MASK).float().mean().item()
    kept = (pseudo[real] == target[real]).float().mean().item()
    assert 0.77 < masked < 0.83 and 0.09 < kept < 0.13  # random draws hit the target 1/60


def test_keyed_pseudo_tokens_depend_only_on_the_key_and_the_example():
    target, mask = padded([6, 3, 5, 40, 40], 40, seed=0)
    keys = [(42, 0, i) for i in range(5)]

    def draw(rows, width, keys):
        return keyed_pseudo_ids(target[rows, :width], mask[rows, :width], keys, MASK, VOCAB,
                                keep_prob=0.1, random_prob=0.1)

    whole = draw([0, 1, 2, 3, 4], 40, keys)
    assert (whole[~mask.bool()] == PAD).all()
    # Another batch, another padding width: the same tokens for the same example.
    assert torch.equal(draw([2, 1], 6, [keys[2], keys[1]]), whole[[2, 1], :6])
    assert not torch.equal(draw([3], 40, [(42, 1, 3)]), whole[[3]])  # next epoch: new draws
    real = mask[3:].bool()
    masked = (whole[3:][real] == MASK).float().mean().item()
    assert 0.65 < masked < 0.95  # 80 % expected, of 80 tokens


def test_training_draws_new_pseudo_tokens_each_call():
    model, batch = build(encoder=tiny_bert_config(hidden_dropout_prob=0.0,
                                                  attention_probs_dropout_prob=0.0)), make_batch()
    model.train()
    torch.manual_seed(3)
    losses = {model(**batch)["loss"].item() for _ in range(4)}
    assert len(losses) > 1
    model.eval()
    assert len({model(**batch)["loss"].item() for _ in range(2)}) == 1


def test_loss_falls_when_learning_to_reverse_the_source():
    model = build(encoder=tiny_bert_config(hidden_dropout_prob=0.0,
                                           attention_probs_dropout_prob=0.0)).train()
    generator = torch.Generator().manual_seed(0)
    body = torch.randint(5, VOCAB, (8, 5), generator=generator)
    cls = torch.full((8, 1), 2)
    sep = torch.full((8, 1), SEP)
    batch = {"source_ids": torch.cat([cls, body, sep], 1), "source_mask": torch.ones(8, 7).long(),
             "target_ids": torch.cat([body.flip(1), sep], 1),
             "target_mask": torch.ones(8, 6).long()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(50):
        loss = model(**batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


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
