"""Decoding: the key/value cache and s2s-ft's hidden-state method against the
training-layout forward and the recomputing reference, search constraints, early stopping
(tiny random backbones). The search rule itself is tested in test_search.py."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from seq2seq.decoding import (DecodeConfig, DecodedAnswer, _answer, decode, length_penalty,
                              ngram_bans, resolve_ignore_ids)
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel
from seq2seq.steppers import CachedStepper, HiddenStateStepper, RecomputeStepper
from tests.conftest import tiny_bert_config

VOCAB, PAD, CLS, SEP, MASK = 60, 0, 2, 3, 4
ATOL = 1e-5
MASK_WAYS = ("pseudo", "teacher_forcing")


def build(seed=0, mask_way="pseudo", dropout=0.1) -> Seq2SeqModel:
    torch.manual_seed(seed)
    encoder = tiny_bert_config(VOCAB, dropout)
    config = Seq2SeqConfig(max_source_length=12, max_target_length=10, mask_way=mask_way,
                           mask_token_id=MASK, sep_token_id=SEP)
    return Seq2SeqModel.from_encoder_config(encoder, config).eval()


def sources(lengths=(10, 6, 8), width=10, seed=1):
    """Right-padded [CLS] ... [SEP] sources and their mask."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (len(lengths), width), generator=generator)
    positions = torch.arange(width)[None]
    length = torch.tensor(lengths)[:, None]
    ids = torch.where(positions == 0, CLS, torch.where(positions == length - 1, SEP, ids))
    mask = (positions < length).long()
    return ids * mask, mask


def same_answers(a, b):
    assert a.steps == b.steps
    for x, y in zip(a.answers, b.answers):
        assert x.token_ids == y.token_ids
        assert x.score == pytest.approx(y.score, abs=ATOL)
        assert [h.token_ids for h in x.nbest] == [h.token_ids for h in y.nbest]
        for hx, hy in zip(x.nbest, y.nbest):
            assert hx.score == pytest.approx(hy.score, abs=ATOL)
            assert hx.log_prob == pytest.approx(hy.log_prob, abs=ATOL)


# ---- the cache against the training-layout forward -------------------------------------

@pytest.mark.parametrize("mask_way", MASK_WAYS)
def test_cached_steps_fed_the_gold_prefix_equal_training_layout_logits(mask_way):
    model = build(mask_way=mask_way)
    source_ids, source_mask = sources()
    target = torch.randint(5, VOCAB, (3, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        layout = model(source_ids=source_ids, source_mask=source_mask, target_ids=target,
                       target_mask=torch.ones_like(target))["logits"]
    with torch.inference_mode():
        stepper = CachedStepper(model, source_ids, source_mask, beam_size=1, max_tgt_length=7)
        for j in range(7):
            cached = stepper.step(j, target[:, :j], parents=None)
            expected = layout[:, j].log_softmax(-1)
            assert torch.allclose(cached, expected, atol=ATOL), j


@pytest.mark.parametrize("stepper_class", [RecomputeStepper, HiddenStateStepper])
@pytest.mark.parametrize("mask_way", MASK_WAYS)
def test_other_steppers_equal_training_layout_logits(mask_way, stepper_class):
    model = build(mask_way=mask_way)
    source_ids, source_mask = sources()
    target = torch.randint(5, VOCAB, (3, 5), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        layout = model(source_ids=source_ids, source_mask=source_mask, target_ids=target,
                       target_mask=torch.ones_like(target))["logits"]
        stepper = stepper_class(model, source_ids, source_mask, beam_size=1, max_tgt_length=5)
        for j in range(5):
            assert torch.allclose(stepper.step(j, target[:, :j], None),
                                  layout[:, j].log_softmax(-1), atol=ATOL)


# ---- cached equals uncached ------------------------------------------------------------

@pytest.mark.parametrize("method", ["recompute", "hidden_states"])
@pytest.mark.parametrize("mask_way", MASK_WAYS)
@pytest.mark.parametrize("beam_size", [1, 3])
def test_cached_decoding_equals_the_other_methods(mask_way, beam_size, method):
    model = build(mask_way=mask_way)
    source_ids, source_mask = sources()
    config = DecodeConfig(beam_size=beam_size, max_tgt_length=9, min_len=2, length_penalty=0.8,
                          forbid_duplicate_ngrams=True, ngram_size=2)
    cached = decode(model, source_ids, source_mask, config, ignore_ids={7}, nbest=True)
    uncached = decode(model, source_ids, source_mask, dataclasses.replace(config, method=method),
                      ignore_ids={7}, nbest=True)
    same_answers(cached, uncached)
    for answer in cached.answers:
        assert len(answer.token_ids) >= 2 and SEP not in answer.token_ids
        assert len(answer.nbest) == beam_size and answer.nbest[0].score == answer.score
        bigrams = [g for g in zip(answer.token_ids, answer.token_ids[1:]) if 7 not in g]
        assert len(bigrams) == len(set(bigrams))


def test_a_source_decodes_the_same_alone_and_in_a_padded_batch():
    model = build()
    source_ids, source_mask = sources(lengths=(10, 5, 7))
    config = DecodeConfig(beam_size=3, max_tgt_length=6)
    together = decode(model, source_ids, source_mask, config).answers
    for k in range(3):
        length = int(source_mask[k].sum())
        alone = decode(model, source_ids[k:k + 1, :length], source_mask[k:k + 1, :length], config)
        assert alone.answers[0].token_ids == together[k].token_ids
        assert alone.answers[0].score == pytest.approx(together[k].score, abs=ATOL)


# ---- search: stopping, constraints, ranking --------------------------------------------

def force_sep(model: Seq2SeqModel) -> None:
    """Make [SEP] by far the likeliest output everywhere."""
    with torch.no_grad():
        model.mlm.cls.predictions.bias[SEP] += 100.0


@pytest.mark.parametrize("beam_size", [1, 3])
@pytest.mark.parametrize("method", ["kv_cache", "hidden_states", "recompute"])
def test_decoding_stops_when_every_hypothesis_has_ended(beam_size, method):
    model = build()
    force_sep(model)
    source_ids, source_mask = sources()
    config = DecodeConfig(beam_size=beam_size, max_tgt_length=10, min_len=3, method=method)
    out = decode(model, source_ids, source_mask, config)
    assert out.steps == 4  # three forced tokens, then [SEP] everywhere
    assert [len(a.token_ids) for a in out.answers] == [3, 3, 3]
    # without min_len, greedy ends at once; a beam records [SEP] (log-prob about 0) and
    # holds two other tokens (about -100) after the first step; at the second these two
    # end (about -100 each) and the third live one, about -200, can no longer enter the
    # 3 best records
    unconstrained = decode(model, source_ids, source_mask, dataclasses.replace(config, min_len=0))
    assert unconstrained.steps == (1 if beam_size == 1 else 2)
    assert all(a.token_ids == () for a in unconstrained.answers)


def test_unfinished_decoding_runs_to_max_length():
    model = build()
    with torch.no_grad():
        model.mlm.cls.predictions.bias[SEP] -= 100.0
    out = decode(model, *sources(), DecodeConfig(beam_size=2, max_tgt_length=5), nbest=True)
    assert out.steps == 5 and all(len(a.token_ids) == 5 for a in out.answers)


def test_ngram_bans_by_hand():
    sequences = [[5, 6, 7, 5, 6], [5, 6, 9, 5], [5, 6], [8, 8, 8]]
    assert ngram_bans(sequences, 3, frozenset()) == [(0, 7), (3, 8)]
    assert ngram_bans(sequences, 2, frozenset()) == [(0, 7), (1, 6), (3, 8)]
    assert ngram_bans(sequences, 2, frozenset({6})) == [(3, 8)]  # (6, 7) and (5, 6) hold 6
    assert ngram_bans([[5, 6, 5]], 1, frozenset({6})) == [(0, 5)]


def test_ngram_blocking_changes_a_repetitive_greedy_answer():
    model = build(seed=4)
    with torch.no_grad():
        model.mlm.cls.predictions.bias[SEP] -= 100.0
        model.mlm.cls.predictions.bias[9] += 8.0  # a model that loves token 9
    source_ids, source_mask = sources()
    plain = decode(model, source_ids, source_mask, DecodeConfig(max_tgt_length=6))
    assert all(a.token_ids.count(9) >= 3 for a in plain.answers)
    for ignore, most in ((frozenset(), 1), (frozenset({9}), 6)):
        config = DecodeConfig(max_tgt_length=6, forbid_duplicate_ngrams=True, ngram_size=1)
        blocked = decode(model, source_ids, source_mask, config, ignore_ids=ignore)
        assert all(a.token_ids.count(9) <= most for a in blocked.answers)
        assert all(len(set(a.token_ids) - {9}) == len([t for t in a.token_ids if t != 9])
                   for a in blocked.answers)


def test_length_penalty_ranks_finished_hypotheses():
    assert length_penalty(7, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    records = [((5,), -2.0, 2), ((5, 6, 7, 8, 9, 10), -3.0, 7)]
    assert _answer(records, DecodeConfig(beam_size=2), nbest=False).token_ids == (5,)
    longer = _answer(records, DecodeConfig(beam_size=2, length_penalty=1.0), nbest=True)
    assert longer.token_ids == (5, 6, 7, 8, 9, 10) and longer.score == pytest.approx(-1.5)
    assert [h.log_prob for h in longer.nbest] == [-3.0, -2.0]
    assert _answer([], DecodeConfig(), nbest=False) == DecodedAnswer((), -math.inf)


def test_resolve_ignore_ids():
    vocab = {"[UNK]": 100, "。": 511, "，": 8024}
    assert resolve_ignore_ids("。|，|[unk]", vocab) == {511, 8024, 100}
    assert resolve_ignore_ids(None, vocab) == frozenset()
    with pytest.raises(ValueError, match="！"):
        resolve_ignore_ids("。|！", vocab)


def test_decoding_keeps_the_training_mode_and_checks_positions():
    model = build().train()
    source_ids, source_mask = sources()
    decode(model, source_ids, source_mask, DecodeConfig(max_tgt_length=3))
    assert model.training
    with pytest.raises(ValueError, match="positions"):
        decode(model, source_ids, source_mask, DecodeConfig(max_tgt_length=60))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_decoding_equals_cpu():
    model = build()
    source_ids, source_mask = sources()
    config = DecodeConfig(beam_size=3, max_tgt_length=8, forbid_duplicate_ngrams=True,
                          ngram_size=2, length_penalty=0.6)
    cpu = decode(model, source_ids, source_mask, config, nbest=True)
    gpu = decode(model.cuda(), source_ids, source_mask, config, nbest=True)
    same_answers(cpu, gpu)


# ---- end to end: learn to reverse the source, then decode it ---------------------------

def test_a_trained_model_decodes_the_reversed_source():
    model = build(dropout=0.0).train()
    body = torch.randint(5, VOCAB, (8, 5), generator=torch.Generator().manual_seed(0))
    source_ids = torch.cat([torch.full((8, 1), CLS), body, torch.full((8, 1), SEP)], 1)
    source_mask = torch.ones_like(source_ids)
    target_ids = torch.cat([body.flip(1), torch.full((8, 1), SEP)], 1)
    batch = {"source_ids": source_ids, "source_mask": source_mask,
             "target_ids": target_ids, "target_mask": torch.ones_like(target_ids)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(100):
        optimizer.zero_grad()
        model(**batch)["loss"].backward()
        optimizer.step()
    for beam_size in (1, 3):
        out = decode(model, source_ids, source_mask, DecodeConfig(beam_size=beam_size,
                                                                  max_tgt_length=9))
        assert [list(a.token_ids) for a in out.answers] == body.flip(1).tolist()
        assert out.steps == 6
