"""Decoding reads the device from the host once a step: the "is anything still live?"
check. Counted on the CPU by wrapping every Tensor method that hands a value to Python
(on a GPU each of them waits for the device) and `torch.tensor` (a host-to-device copy)."""
from __future__ import annotations

import pytest
import torch

from seq2seq.decoding import DecodeConfig, decode, ngram_ban_mask, ngram_bans
from tests.seq2seq.test_decoding import build, sources

READS = ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "nonzero", "cpu",
         "numpy")


@pytest.fixture
def host_reads(monkeypatch):
    """counts[name]: calls of each host read since the fixture started."""
    counts = {name: 0 for name in (*READS, "torch.tensor")}

    def counting(name, original):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)
        return wrapper

    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    monkeypatch.setattr(torch, "tensor", counting("torch.tensor", torch.tensor))
    return counts


def reads_of(counts, model, config, ids, mask):
    before = sum(counts.values())
    out = decode(model, ids, mask, config)
    return sum(counts.values()) - before, out.steps


@pytest.mark.parametrize("method", ["kv_cache", "hidden_states"])
@pytest.mark.parametrize("mask_way", ["pseudo", "teacher_forcing"])
@pytest.mark.parametrize("ngrams", [False, True])
def test_beam_search_reads_the_host_once_a_step(host_reads, method, mask_way, ngrams):
    model = build(mask_way=mask_way, dropout=0.0)
    ids, mask = sources()
    # min_len = max_tgt_length: no hypothesis can end early, so every step runs.
    runs = [reads_of(host_reads, model, DecodeConfig(
        beam_size=5, max_tgt_length=length, min_len=length, method=method,
        forbid_duplicate_ngrams=ngrams, ngram_size=2), ids, mask) for length in (3, 7)]
    (short_reads, short_steps), (long_reads, long_steps) = runs
    assert (short_steps, long_steps) == (3, 7)
    assert long_reads - short_reads == long_steps - short_steps, runs  # one a step
    assert short_reads <= short_steps + 8, runs  # and a few once a batch (the results)


def test_device_ngram_bans_equal_the_host_rule():
    generator = torch.Generator().manual_seed(3)
    for trial in range(40):
        rows, length, n = 6, int(torch.randint(0, 9, (), generator=generator)), trial % 4 + 1
        tokens = torch.randint(0, 4, (rows, length), generator=generator)  # many repeats
        for ignore in (frozenset(), frozenset({1}), frozenset({0, 3})):
            ignore_tensor = torch.tensor(sorted(ignore)) if ignore else None
            mask = ngram_ban_mask(tokens, n, ignore_tensor, vocab=5)
            expected = torch.zeros(rows, 5, dtype=torch.bool)
            for row, token in ngram_bans(tokens.tolist(), n, ignore):
                expected[row, token] = True
            assert torch.equal(mask, expected), (tokens, n, ignore)
