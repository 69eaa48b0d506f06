"""The UniLM seq2seq model: masks, causality, loss and training (tiny random backbones)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seq2seq.masks import pseudo_layout_allowed, teacher_forcing_allowed
from seq2seq.model import draw_pseudo_ids, keyed_pseudo_ids, label_smoothed_loss
from tests.seq2seq.tiny_model import (ATOL, MASK, PAD, SEP, VOCAB, build, layout_states,
                                      make_batch, padded, tiny_bert_config)


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


def test_training_mode_returns_the_loss_only():
    """The training loop reads the loss; no (batch, tgt_len, vocab) logits are built."""
    model, batch = build().train(), make_batch()
    assert set(model(**batch)) == {"loss"}
    assert set(model.eval()(**batch)) == {"loss", "logits"}
