"""Greedy and beam-search decoding of a `Seq2SeqModel`.

The model side (how the log-probabilities of the next token are computed: key/value cache,
s2s-ft's hidden states, or full recomputation, all giving the same numbers) lives in
`seq2seq.steppers`; this module is the search, which is s2s-ft's (`BertForSeq2SeqDecoder.
beam_search`, UniLM `s2s_ft/modeling_decoding.py`), beam_size 1 being greedy:

- Every step keeps the K = beam_size best continuations of the live hypotheses, by their
  summed log-probabilities. A continuation ending in [SEP] is recorded as finished and
  leaves the live beam at the next step (s2s-ft gives its continuations -10000; here they
  are impossible), so the search goes on with K live hypotheses, not with K minus the
  finished ones.
- [SEP] is impossible before min_len tokens; n-gram blocking makes impossible a token that
  would repeat an n-gram of the hypothesis, unless that n-gram holds an ignored token.
  (s2s-ft adds -10000 in both cases; the two differ only when fewer than K possible
  continuations are left, where s2s-ft may keep a penalised one and we keep none.)
- Finished hypotheses, and the live ones after max_tgt_length steps, are ranked by
  score / ((5 + length) / 6) ** length_penalty (GNMT), the length counting the generated
  tokens including [SEP]; length_penalty 0 ranks by the summed log-probability. The best
  is the answer; with `nbest` the K best are listed.
- s2s-ft always runs max_tgt_length steps and ignores every step after the first one at
  which all K new hypotheses are finished. Here decoding stops at that step, or earlier as
  soon as no live hypothesis can enter the K best records any more: log-probabilities are
  at most 0, so a live hypothesis of score s can end no better than s divided by the
  largest length penalty still reachable. Answers and n-best lists are those of the full
  search; only `steps` is smaller.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import AbstractSet, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from coqa.data.errors import ConfigError
from coqa.train.step import warn_if_slow_cpu_bf16
from seq2seq.model import Seq2SeqModel
from seq2seq.steppers import CachedStepper, HiddenStateStepper, RecomputeStepper

STEPPERS = {"kv_cache": CachedStepper, "hidden_states": HiddenStateStepper,
            "recompute": RecomputeStepper}
DECODE_METHODS = tuple(STEPPERS)


@dataclass(frozen=True)
class DecodeConfig:
    """How to decode. forbid_ignore_word: '|'-separated tokens exempt from n-gram blocking
    (turn them into ids with `resolve_ignore_ids`)."""

    beam_size: int = 1
    max_tgt_length: int = 48
    min_len: int = 1
    length_penalty: float = 0.0
    forbid_duplicate_ngrams: bool = False
    ngram_size: int = 3
    forbid_ignore_word: Optional[str] = None
    method: str = "kv_cache"   # how the model computes each step: one of STEPPERS

    def __post_init__(self):
        if self.method not in STEPPERS:
            raise ConfigError(f"method must be one of {', '.join(STEPPERS)}, got {self.method!r}")
        if self.beam_size < 1 or self.max_tgt_length < 1 or self.ngram_size < 1:
            raise ConfigError("beam_size, max_tgt_length and ngram_size must be at least 1")
        if self.min_len < 0:
            raise ConfigError(f"min_len must be >= 0, got {self.min_len}")


@dataclass(frozen=True)
class Hypothesis:
    token_ids: Tuple[int, ...]   # without [SEP]
    score: float                 # log_prob after the length penalty: the ranking score
    log_prob: float              # summed log-probabilities, [SEP] included


@dataclass(frozen=True)
class DecodedAnswer:
    token_ids: Tuple[int, ...]
    score: float
    nbest: Tuple[Hypothesis, ...] = ()   # best first, at most beam_size; empty unless asked


@dataclass(frozen=True)
class DecodeOutput:
    answers: List[DecodedAnswer]   # one per source, in order
    steps: int                     # decoding steps run (model calls after the source)


def resolve_ignore_ids(forbid_ignore_word: Optional[str], vocab: Mapping[str, int]) -> frozenset:
    """Ids of the '|'-separated tokens (bracketed special tokens upper-cased, as s2s-ft
    does). An unknown token is an error, not silently dropped."""
    if not forbid_ignore_word:
        return frozenset()
    words = [w.upper() if w.startswith("[") and w.endswith("]") else w
             for w in forbid_ignore_word.split("|") if w]
    unknown = [w for w in words if w not in vocab]
    if unknown:
        raise ConfigError(f"forbid_ignore_word: tokens not in the vocabulary: {unknown}")
    return frozenset(vocab[w] for w in words)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's ((5 + length) / 6) ** alpha; 1 when alpha is 0."""
    return ((5.0 + length) / 6.0) ** alpha


# The weights' dtype while decoding, per precision.
DECODE_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def cast_for_decoding(model: Seq2SeqModel, precision: str,
                      device: torch.device) -> Seq2SeqModel:
    """The model on `device` with its weights in `precision`'s dtype (DECODE_DTYPES):
    decoding then runs in that dtype throughout, attention probabilities and the output
    log-probabilities in float32. bf16 on a CPU without native bf16 matrix multiplies is
    several times slower than fp32, and says so once."""
    if precision not in DECODE_DTYPES:
        raise ConfigError(f"decoding precision must be one of {', '.join(DECODE_DTYPES)}, "
                          f"got {precision!r}")
    if precision == "bf16" and device.type == "cpu":
        warn_if_slow_cpu_bf16()
    return model.to(device=device, dtype=DECODE_DTYPES[precision])


@torch.inference_mode()
def decode(model: Seq2SeqModel, source_ids: torch.Tensor, source_mask: torch.Tensor,
           config: DecodeConfig, ignore_ids: AbstractSet[int] = frozenset(),
           nbest: bool = False) -> DecodeOutput:
    """Decode a batch of right-padded sources ([CLS] ... [SEP]) (batch, src_len).
    Runs in eval mode (the model's mode is restored afterwards), on the model's device."""
    device = model.mlm.device
    source_ids, source_mask = source_ids.to(device), source_mask.to(device)
    available = model.mlm.config.max_position_embeddings
    if source_ids.shape[1] + config.max_tgt_length > available:
        raise ConfigError(f"source {source_ids.shape[1]} + max_tgt_length {config.max_tgt_length}"
                         f" exceed the model's {available} positions")
    was_training = model.training
    model.eval()
    try:
        stepper = STEPPERS[config.method](model, source_ids, source_mask, config.beam_size,
                                          config.max_tgt_length)
        return search(stepper, source_ids.shape[0], config, model.config.sep_token_id,
                      ignore_ids, nbest, device)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------- search

def ngram_bans(sequences: Sequence[Sequence[int]], n: int,
               ignore_ids: AbstractSet[int]) -> List[Tuple[int, int]]:
    """(row, token) pairs such that appending token to sequences[row] would repeat one of
    its n-grams; n-grams holding an ignored token are never blocked. Sorted, no repeats."""
    bans = set()
    for row, seq in enumerate(sequences):
        length = len(seq)
        if length < n:
            continue
        prefix = tuple(seq[length - n + 1:])
        if ignore_ids and any(t in ignore_ids for t in prefix):
            continue
        for start in range(length - n + 1):
            if tuple(seq[start:start + n - 1]) == prefix and seq[start + n - 1] not in ignore_ids:
                bans.add((row, seq[start + n - 1]))
    return sorted(bans)


def ngram_ban_mask(tokens: torch.Tensor, n: int, ignore: Optional[torch.Tensor],
                   vocab: int) -> torch.Tensor:
    """`ngram_bans` on the device, for every row at once: (hyps, length) token ids ->
    (hyps, vocab) bool, True where appending the token would repeat an n-gram of the row.
    `ignore`: the ignored ids as a 1-D tensor on the same device (None: none)."""
    hyps, length = tokens.shape
    banned = torch.zeros((hyps, vocab), dtype=torch.bool, device=tokens.device)
    if length < n:
        return banned
    windows = tokens.unfold(1, n, 1)  # (hyps, length - n + 1, n)
    prefix = tokens[:, length - n + 1:]  # (hyps, n - 1): the n-gram being extended
    repeats = (windows[..., :n - 1] == prefix[:, None, :]).all(dim=-1)  # (hyps, windows)
    following = windows[..., n - 1]  # (hyps, windows): the token that completed the n-gram
    if ignore is not None:  # compared by broadcasting: torch.isin may sort, and wait, on a GPU
        repeats &= ~(following[..., None] == ignore).any(dim=-1)
        repeats &= ~(prefix[..., None] == ignore).any(dim=-1).any(dim=-1, keepdim=True)
    # A token may follow several matching windows: count, then compare (no races).
    hits = torch.zeros((hyps, vocab), dtype=torch.int32, device=tokens.device)
    hits.scatter_add_(1, following, repeats.to(torch.int32))
    return hits > 0


def _constrain(log_probs: torch.Tensor, j: int, tokens: torch.Tensor, config: DecodeConfig,
               sep_id: int, ignore: Optional[torch.Tensor]) -> None:
    """In place on (hyps, vocab): no [SEP] before min_len, n-gram blocking; on the device."""
    if j < config.min_len:
        log_probs[:, sep_id] = -math.inf
    if config.forbid_duplicate_ngrams and j >= config.ngram_size:
        banned = ngram_ban_mask(tokens, config.ngram_size, ignore, log_probs.shape[1])
        log_probs.masked_fill_(banned, -math.inf)


def search(stepper, batch: int, config: DecodeConfig, sep_id: int,
           ignore_ids: AbstractSet[int] = frozenset(), nbest: bool = False,
           device: torch.device | str = "cpu") -> DecodeOutput:
    """Beam search (beam 1 = greedy) over `stepper`, whose `step(j, tokens, parents)`
    gives (batch * beam, vocab) log-probabilities; see the module docstring.

    Every per-step state stays on the device: the live flags, the scores, the finished
    hypotheses (kept as each step's tokens and `ended` flags, read back once at the end)
    and each source's bar to enter its K best records. The one read on the host per step
    is "is anything still live?"."""
    beam = config.beam_size
    scores = torch.full((batch, beam), -math.inf, device=device)
    scores[:, 0] = 0.0  # the beams of a source start as one hypothesis
    scores = scores.view(-1)  # (hyps,)
    live = torch.isfinite(scores)  # (hyps,) may be continued
    tokens = torch.zeros((batch * beam, 0), dtype=torch.long, device=device)
    first_hyp = torch.arange(batch, device=device)[:, None] * beam  # (batch, 1)
    ignore = (torch.tensor(sorted(ignore_ids), dtype=torch.long, device=device)
              if ignore_ids else None)
    # The K best record scores of each source after the length penalty, best first; -inf
    # fills the places of missing records. float64, as the ranking of the records.
    best = torch.full((batch, beam), -math.inf, dtype=torch.float64, device=device)
    finished: List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # per step
    parents, steps = None, 0
    for j in range(config.max_tgt_length):
        log_probs = stepper.step(j, tokens, parents).clone()  # (hyps, vocab)
        steps += 1
        vocab = log_probs.shape[1]
        _constrain(log_probs, j, tokens, config, sep_id, ignore)
        candidates = (scores[:, None] + log_probs).masked_fill(~live[:, None], -math.inf)
        top_scores, top_index = candidates.view(batch, beam * vocab).topk(beam, dim=1)
        parents = (first_hyp + top_index // vocab).view(-1)  # (hyps,)
        new_tokens = (top_index % vocab).view(-1)  # (hyps,)
        tokens = torch.cat([tokens[parents], new_tokens[:, None]], dim=1)  # (hyps, j + 1)
        scores = top_scores.view(-1)
        ended = torch.isfinite(scores) & (new_tokens == sep_id)
        live = torch.isfinite(scores) & (new_tokens != sep_id)
        finished.append((tokens, scores, ended))
        best = _best_records(best, scores, ended, j + 1, config)
        live &= _may_still_rank(best, scores, j + 1, config)
        if not live.any():  # the step's one host sync
            break
    records = _read_records(finished, live, batch, beam)
    return DecodeOutput([_answer(r, config, nbest) for r in records], steps)


def _best_records(best: torch.Tensor, scores: torch.Tensor, ended: torch.Tensor, length: int,
                  config: DecodeConfig) -> torch.Tensor:
    """`best` (batch, beam) updated with the hypotheses that `ended` (hyps,) at this step,
    all `length` tokens long ([SEP] included), ranked as `_answer` ranks records."""
    batch, beam = best.shape
    penalty = length_penalty(length, config.length_penalty)
    new = (scores.double() / penalty).masked_fill(~ended, -math.inf).view(batch, beam)
    return torch.cat([best, new], dim=1).topk(beam, dim=1).values  # (batch, beam)


def _may_still_rank(best: torch.Tensor, scores: torch.Tensor, length: int,
                    config: DecodeConfig) -> torch.Tensor:
    """(hyps,) bool: whether a hypothesis of `length` tokens and summed log-probability
    `scores` could still, continued, enter its source's `beam_size` best records (`best`,
    see `_best_records`). It can end no better than score / (the largest length penalty of
    lengths length + 1 ... max_tgt_length), since every further log-probability is at
    most 0."""
    if length >= config.max_tgt_length:
        return torch.ones_like(scores, dtype=torch.bool)  # recorded unfinished at the end
    largest = max(length_penalty(n, config.length_penalty)
                  for n in range(length + 1, config.max_tgt_length + 1))
    bar = best[:, -1:].to(scores.dtype).expand(-1, config.beam_size).reshape(-1)  # (hyps,)
    return scores / largest > bar


def _read_records(finished, live: torch.Tensor, batch: int, beam: int):
    """Each source's records, as (ids without [SEP], summed log-probability, length) in
    the order they were made: every step's ended hypotheses, then the hypotheses still
    live after the last step (max_tgt_length reached: they compete unfinished). Only the
    recorded rows cross to the host, once a batch, not once a step."""
    width = finished[-1][0].shape[1]
    tokens = torch.stack([F.pad(t, (0, width - t.shape[1]), value=-1)
                          for t, _, _ in finished])  # (steps, hyps, width)
    scores = torch.stack([s for _, s, _ in finished])  # (steps, hyps)
    ended = torch.stack([e for _, _, e in finished])  # (steps, hyps)
    step_index, row_index = ended.nonzero(as_tuple=True)  # step by step, rows ascending
    live_rows = live.nonzero().flatten()
    has_sep = torch.cat([torch.ones_like(row_index, dtype=torch.bool),
                         torch.zeros_like(live_rows, dtype=torch.bool)])
    step_index = torch.cat([step_index, torch.full_like(live_rows, len(finished) - 1)])
    row_index = torch.cat([row_index, live_rows])
    records: List[List[Tuple[Tuple[int, ...], float, int]]] = [[] for _ in range(batch)]
    for step, row, ids, value, sep in zip(step_index.tolist(), row_index.tolist(),
                                          tokens[step_index, row_index].tolist(),
                                          scores[step_index, row_index].tolist(),
                                          has_sep.tolist()):
        ids = ids[:step + 1]
        records[row // beam].append((tuple(ids[:-1] if sep else ids), value, len(ids)))
    return records


def _answer(records, config: DecodeConfig, nbest: bool) -> DecodedAnswer:
    """The best record after the length penalty, and the n-best list when asked."""
    ranked = sorted((Hypothesis(ids, value / length_penalty(length, config.length_penalty), value)
                     for ids, value, length in records), key=lambda h: -h.score)
    if not ranked:
        return DecodedAnswer((), -math.inf)
    return DecodedAnswer(ranked[0].token_ids, ranked[0].score,
                         tuple(ranked[:config.beam_size]) if nbest else ())
