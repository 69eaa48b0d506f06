"""The beam search rule, on hand-built 'models' (tables of log-probabilities by prefix):
a worked example where s2s-ft's rule and the old 'finished hypotheses keep their slot'
rule give different answers, and an independent transcription of s2s-ft's
`BertForSeq2SeqDecoder.beam_search` as the oracle on random tables."""
from __future__ import annotations

import math
import random
from typing import Callable, Dict, List, Sequence, Tuple

import pytest
import torch

from seq2seq.decoding import DecodeConfig, search

PAD, SEP, A, B, C, D, E = range(7)
VOCAB = 7
UNLIKELY = -20.0  # every token a table does not name


class TableStepper:
    """A stepper whose log-probabilities come from `log_probs(prefix) -> list of VOCAB`."""

    def __init__(self, log_probs: Callable[[Tuple[int, ...]], Sequence[float]]):
        self.log_probs = log_probs

    def step(self, j: int, tokens: torch.Tensor, parents) -> torch.Tensor:
        return torch.tensor([list(self.log_probs(tuple(row))) for row in tokens.tolist()],
                            dtype=torch.float32)  # (hyps, vocab)


def table(entries: Dict[Tuple[int, ...], Dict[int, float]]):
    def log_probs(prefix):
        row = [UNLIKELY] * VOCAB
        for token, value in entries.get(prefix, {}).items():
            row[token] = value
        return row
    return log_probs


# The worked example, beam 2, min_len 1 (no [SEP] first), log-probabilities:
#   ()      : A -0.5, B -0.7
#   (A)     : [SEP] -0.5, C -2.0
#   (B)     : C -0.4, [SEP] -3.0
#   (B C)   : D -0.2, E -0.3, [SEP] -3.0
#   (B C D) : [SEP] -1.0, A -1.5
#   (B C E) : [SEP] -0.1
# Step 0: beam A -0.5, B -0.7.
# Step 1: candidates A[SEP] -1.0, B C -1.1, A C -2.5, B[SEP] -3.7 -> A[SEP] (finished), B C.
# Step 2, s2s-ft: A[SEP] leaves the live beam; B C's two best continuations stay:
#   B C D -1.3, B C E -1.4.
# Step 2, 'keep the slot': the frozen A[SEP] -1.0 beats B C E -1.4, so only B C D stays.
# Step 3, s2s-ft: B C E[SEP] -1.5, B C D[SEP] -2.3: all finished, the search ends.
# Step 3, 'keep the slot': A[SEP] -1.0 frozen, B C D[SEP] -2.3: all finished.
# Records, s2s-ft: A (-1.0, 2 tokens with [SEP]), B C E (-1.5, 4), B C D (-2.3, 4);
# 'keep the slot': A and B C D only.
# Length penalty 2, ((5 + length) / 6) ** 2: 49/36 for 2 tokens, 81/36 = 2.25 for 4:
#   A -1.0 / (49/36) = -0.7347, B C E -1.5 / 2.25 = -0.6667, B C D -2.3 / 2.25 = -1.0222,
# so s2s-ft answers B C E (-0.6667) where the old rule answered A (-0.7347).
# Length penalty 0 ranks by the sum: both answer A, but the 2-best lists differ:
#   s2s-ft [A -1.0, B C E -1.5], the old rule [A -1.0, B C D -2.3].
WORKED = table({(): {A: -0.5, B: -0.7}, (A,): {SEP: -0.5, C: -2.0},
                (B,): {C: -0.4, SEP: -3.0}, (B, C): {D: -0.2, E: -0.3, SEP: -3.0},
                (B, C, D): {SEP: -1.0, A: -1.5}, (B, C, E): {SEP: -0.1}})


def run(log_probs, config: DecodeConfig, nbest=True):
    return search(TableStepper(log_probs), 1, config, SEP, nbest=nbest)


def test_worked_example_length_penalty_finds_the_longer_answer():
    out = run(WORKED, DecodeConfig(beam_size=2, max_tgt_length=6, length_penalty=2.0))
    answer = out.answers[0]
    assert answer.token_ids == (B, C, E)
    assert answer.score == pytest.approx(-1.5 / 2.25, abs=1e-6)
    assert [h.token_ids for h in answer.nbest] == [(B, C, E), (A,)]
    assert answer.nbest[1].score == pytest.approx(-1.0 / (49 / 36), abs=1e-6)
    assert out.steps == 4  # every hypothesis of step 3 ended


def test_worked_example_nbest_without_length_penalty():
    answer = run(WORKED, DecodeConfig(beam_size=2, max_tgt_length=6)).answers[0]
    assert answer.token_ids == (A,) and answer.score == pytest.approx(-1.0)
    assert [(h.token_ids, round(h.log_prob, 6)) for h in answer.nbest] == [
        ((A,), -1.0), ((B, C, E), -1.5)]


def test_search_stops_once_no_live_hypothesis_can_enter_the_best():
    # Beam 1 with a [SEP] at step 1: nothing is left to continue, one step after.
    greedy = run(WORKED, DecodeConfig(beam_size=1, max_tgt_length=6))
    assert greedy.answers[0].token_ids == (A,) and greedy.steps == 2
    # Beam 2, no length penalty: after step 1 the records hold A (-1.0) only; after step
    # 2 still one record; step 3 records B C E and B C D and nothing is live: 4 steps.
    assert run(WORKED, DecodeConfig(beam_size=2, max_tgt_length=6)).steps == 4


# ---- s2s-ft's beam search, transcribed independently, as the oracle --------------------

S2S_FT_PENALTY = -10000.0


def s2s_ft_beam_search(log_probs, beam: int, max_len: int, eos: int, length_penalty: float,
                       min_len: int, ngram_size: int, ignore: frozenset, forbid: bool):
    """What s2s-ft's beam search returns for one source: the tokens up to the first [SEP]
    and the ranking score. It runs max_len steps; a slot whose last token is [SEP] gives
    its continuations -10000; banned tokens and an early [SEP] get -10000; at the end the
    frames after the first all-[SEP] frame are ignored, and the best of every [SEP] slot
    and of the last frame's slots wins (length penalty only when > 0)."""
    frames: List[Tuple[List[float], List[int], List[int]]] = []  # scores, ids, back pointers
    prefixes: List[Tuple[int, ...]] = [()]
    bans: List[set] = [set()]
    for t in range(max_len):
        rows = []
        for k, prefix in enumerate(prefixes):
            row = list(log_probs(prefix))
            for token in bans[k]:
                row[token] += S2S_FT_PENALTY
            if min_len and t + 1 <= min_len:
                row[eos] += S2S_FT_PENALTY
            rows.append(row)
        candidates = []
        for k, row in enumerate(rows):
            best = sorted(range(len(row)), key=lambda w: -row[w])[:beam]  # top K per slot
            base = 0.0 if t == 0 else frames[-1][0][k]
            ended = t > 0 and frames[-1][1][k] == eos
            for w in best:
                candidates.append((row[w] + base + (S2S_FT_PENALTY if ended else 0.0), k, w))
        candidates.sort(key=lambda c: -c[0])
        chosen = candidates[:beam]
        frames.append(([c[0] for c in chosen], [c[2] for c in chosen], [c[1] for c in chosen]))
        prefixes = [prefixes[k] + (w,) for _, k, w in chosen]
        bans = [_s2s_ft_dup_candidates(p, ngram_size, ignore) if forbid else set()
                for p in prefixes]
    last = next((f for f, (_, ids, _) in enumerate(frames) if all(w == eos for w in ids)),
                len(frames) - 1)
    best_score, best_at = -math.inf, None
    for f in range(last + 1):
        for i, w in enumerate(frames[f][1]):
            if w == eos or f == last:
                s = frames[f][0][i]
                if length_penalty > 0:
                    s /= ((5 + f + 1) / 6.0) ** length_penalty
                if s > best_score:
                    best_score, best_at = s, (f, i)
    f, i = best_at
    seq = [frames[f][1][i]]
    for g in range(f, 0, -1):
        i = frames[g][2][i]
        seq.append(frames[g - 1][1][i])
    seq.reverse()
    return tuple(seq[:seq.index(eos)] if eos in seq else seq), best_score


def _s2s_ft_dup_candidates(seq: Tuple[int, ...], n: int, ignore: frozenset) -> set:
    if len(seq) < n:
        return set()
    tail = seq[-(n - 1):]
    if any(t in ignore for t in tail):
        return set()
    return {seq[i + n - 1] for i in range(len(seq) - (n - 1))
            if seq[i:i + n - 1] == tail and seq[i + n - 1] not in ignore}


def random_model(seed: int, vocab: int, sep_bias: float):
    """Normalised log-probabilities, a fixed random function of the prefix."""
    def log_probs(prefix):
        rng = random.Random(hash((seed,) + prefix))
        logits = [rng.gauss(0.0, 2.0) for _ in range(vocab)]
        logits[SEP] += sep_bias
        top = max(logits)
        norm = top + math.log(sum(math.exp(x - top) for x in logits))
        return [x - norm for x in logits]
    return log_probs


@pytest.mark.parametrize("beam", [2, 3, 5])
@pytest.mark.parametrize("length_penalty", [0.0, 1.0, 2.0])
def test_search_equals_s2s_ft_on_random_models(beam, length_penalty):
    differing_from_freeze = 0
    for seed in range(40):
        vocab = 8
        log_probs = random_model(seed, vocab, sep_bias=1.0)
        min_len = seed % 3
        forbid = seed % 2 == 0
        ignore = frozenset({4}) if seed % 4 == 0 else frozenset()
        config = DecodeConfig(beam_size=beam, max_tgt_length=7, min_len=min_len,
                              length_penalty=length_penalty, forbid_duplicate_ngrams=forbid,
                              ngram_size=2)
        ours = search(TableStepper(log_probs), 1, config, SEP, ignore_ids=ignore)
        tokens, score = s2s_ft_beam_search(log_probs, beam, 7, SEP, length_penalty, min_len,
                                           2, ignore, forbid)
        assert ours.answers[0].token_ids == tokens, seed
        assert ours.answers[0].score == pytest.approx(score, abs=1e-4), seed
        differing_from_freeze += tokens != _freeze_rule_answer(log_probs, config, ignore)
    if length_penalty > 0:  # the tables are not all cases where the rules agree
        assert differing_from_freeze > 0


def _freeze_rule_answer(log_probs, config: DecodeConfig, ignore) -> Tuple[int, ...]:
    """The old rule, for contrast: a finished hypothesis keeps its slot, frozen."""
    beam, hyps = config.beam_size, [((), 0.0, False)]
    records = []
    for j in range(config.max_tgt_length):
        candidates = []
        for prefix, score, done in hyps:
            if done:
                candidates.append((prefix, score, True))
                continue
            row = list(log_probs(prefix))
            if j < config.min_len:
                row[SEP] = -math.inf
            if config.forbid_duplicate_ngrams:
                for token in _s2s_ft_dup_candidates(prefix, config.ngram_size, ignore):
                    row[token] = -math.inf
            candidates += [(prefix + (w,), score + row[w], w == SEP) for w in range(len(row))]
        candidates.sort(key=lambda c: -c[1])
        hyps = candidates[:beam]
        records += [h for h in hyps if h[2] and h not in records]
        if all(h[2] for h in hyps):
            break
    records += [h for h in hyps if not h[2]]
    penalty = lambda n: ((5 + n) / 6) ** config.length_penalty  # noqa: E731
    best = max(records, key=lambda h: h[1] / penalty(len(h[0])))
    return best[0][:-1] if best[2] else best[0]
