"""Greedy and beam-search decoding of a `Seq2SeqModel`, with a key/value cache.

The source is encoded once and the keys and values of every layer are kept. Step j then
feeds one new position per hypothesis, as UniLM does: the token decided at step j-1 (its
keys and values join the cache) and a [MASK] at position n_source + j whose output
predicts token j (its own key and value are used in this step only). A teacher-forcing
model feeds just the previous token, whose output predicts the next one (the source's last
real token, its [SEP], predicts token 0). The attention is computed here over the BERT
module weights, so the cache is ours; the source keys and values are stored once per
source, not once per beam, and only the small target part of the cache is reordered
(index_select) when beams change places.

`DecodeConfig.use_cache=False` recomputes the whole `[source | prefix | [MASK]]` layout
with the training-time forward at every step: slow, but the reference the cached path is
tested against (same tokens, same scores).

Search (beam_size 1 is greedy; both share the code): a hypothesis that produces [SEP] is
recorded as finished and keeps its place in the beam with a frozen score, as in s2s-ft;
decoding stops as soon as every hypothesis of every source has finished, or after
max_tgt_length steps. Beams are pruned by their summed log-probabilities; the finished
hypotheses are then ranked by score / ((5 + length) / 6) ** length_penalty (GNMT), the
length counting the generated tokens including [SEP]; length_penalty 0 ranks by the sum.
[SEP] is forbidden before min_len tokens. N-gram blocking forbids a token that would
repeat an n-gram already in the hypothesis, unless that n-gram holds an ignored token.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import AbstractSet, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from seq2seq.masks import additive_mask
from seq2seq.model import Seq2SeqModel


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
    use_cache: bool = True

    def __post_init__(self):
        if self.beam_size < 1 or self.max_tgt_length < 1 or self.ngram_size < 1:
            raise ValueError("beam_size, max_tgt_length and ngram_size must be at least 1")
        if self.min_len < 0:
            raise ValueError(f"min_len must be >= 0, got {self.min_len}")


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
        raise ValueError(f"forbid_ignore_word: tokens not in the vocabulary: {unknown}")
    return frozenset(vocab[w] for w in words)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's ((5 + length) / 6) ** alpha; 1 when alpha is 0."""
    return ((5.0 + length) / 6.0) ** alpha


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
        raise ValueError(f"source {source_ids.shape[1]} + max_tgt_length {config.max_tgt_length}"
                         f" exceed the model's {available} positions")
    was_training = model.training
    model.eval()
    try:
        stepper_class = CachedStepper if config.use_cache else RecomputeStepper
        stepper = stepper_class(model, source_ids, source_mask, config.beam_size,
                                config.max_tgt_length)
        return _search(stepper, source_ids.shape[0], model, config, ignore_ids, nbest)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------- steppers

class RecomputeStepper:
    """The reference: every step runs the training-layout forward over the source, the
    whole prefix and a [MASK] (a placeholder in the teacher-forcing layout)."""

    def __init__(self, model: Seq2SeqModel, source_ids: torch.Tensor, source_mask: torch.Tensor,
                 beam_size: int, max_tgt_length: int):
        self.model = model
        self.source_ids = source_ids.repeat_interleave(beam_size, dim=0)  # (hyps, src_len)
        self.source_mask = source_mask.repeat_interleave(beam_size, dim=0)  # (hyps, src_len)

    def step(self, j: int, tokens: torch.Tensor, parents: Optional[torch.Tensor]) -> torch.Tensor:
        """Prefix (hyps, j) -> log-probabilities of token j (hyps, vocab) in float32."""
        mask_column = torch.full((tokens.shape[0], 1), self.model.config.mask_token_id,
                                 dtype=torch.long, device=tokens.device)
        target = torch.cat([tokens, mask_column], dim=1)  # (hyps, j + 1)
        hidden = self.model.target_hidden(self.source_ids, self.source_mask, target,
                                          torch.ones_like(target))  # (hyps, j + 1, hidden)
        return self.model.lm_head(hidden[:, j]).float().log_softmax(dim=-1)  # (hyps, vocab)


class CachedStepper:
    """Incremental decoding over a key/value cache (see the module docstring)."""

    def __init__(self, model: Seq2SeqModel, source_ids: torch.Tensor, source_mask: torch.Tensor,
                 beam_size: int, max_tgt_length: int):
        bert = model.mlm.bert
        self.model = model
        self.layers: Sequence[nn.Module] = bert.encoder.layer
        self.embeddings = bert.embeddings
        self.beam = beam_size
        self.pseudo = model.config.mask_way == "pseudo"
        first_attention = self.layers[0].attention.self
        self.heads = first_attention.num_attention_heads
        self.head_size = first_attention.attention_head_size
        self.scale = self.head_size ** -0.5
        dtype = model.mlm.dtype
        self.dtype = dtype
        n_source = source_mask.sum(dim=1)  # (batch,)
        self.n_source = n_source.repeat_interleave(beam_size)  # (hyps,)
        source_bias = additive_mask(source_mask.bool()[:, None, :], dtype)  # (batch, 1, 1, src)
        self.hyp_source_bias = source_bias.repeat_interleave(beam_size, dim=0)  # (hyps, 1, 1, src)
        self.source_keys, self.source_values, hidden = self._encode_source(
            source_ids, source_bias)
        self.first_log_probs = None
        if not self.pseudo:  # teacher forcing: the source's last real token predicts token 0
            last = hidden[torch.arange(hidden.shape[0], device=hidden.device), n_source - 1]
            log_probs = model.lm_head(last).float().log_softmax(dim=-1)  # (batch, vocab)
            self.first_log_probs = log_probs.repeat_interleave(beam_size, dim=0)
        hyps = source_ids.shape[0] * beam_size
        shape = (hyps, self.heads, max_tgt_length, self.head_size)
        self.target_keys = [source_ids.new_zeros(shape, dtype=dtype) for _ in self.layers]
        self.target_values = [source_ids.new_zeros(shape, dtype=dtype) for _ in self.layers]

    def _embed(self, ids: torch.Tensor, positions: torch.Tensor, type_id: int) -> torch.Tensor:
        """(n, len) ids and positions -> (n, len, hidden), as BertEmbeddings in eval mode."""
        emb = self.embeddings
        types = torch.full_like(ids, type_id)
        hidden = emb.word_embeddings(ids) + emb.token_type_embeddings(types)
        return emb.LayerNorm(hidden + emb.position_embeddings(positions))

    def _project(self, layer: nn.Module, hidden: torch.Tensor):
        """(n, len, hidden) -> query, key, value, each (n, heads, len, head_size)."""
        attention = layer.attention.self
        shape = (hidden.shape[0], hidden.shape[1], self.heads, self.head_size)
        return tuple(linear(hidden).view(shape).transpose(1, 2)
                     for linear in (attention.query, attention.key, attention.value))

    @staticmethod
    def _layer_tail(layer: nn.Module, context: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Attention output, residual and LayerNorm, then the feed-forward block.
        (n, len, hidden) context and input -> (n, len, hidden)."""
        attention_output = layer.attention.output
        hidden = attention_output.LayerNorm(attention_output.dense(context) + hidden)
        inner = layer.intermediate(hidden)  # (n, len, intermediate)
        return layer.output.LayerNorm(layer.output.dense(inner) + hidden)

    def _encode_source(self, source_ids: torch.Tensor, source_bias: torch.Tensor):
        """Bidirectional pass over the sources; keeps every layer's keys, transposed for the
        score matmul, (batch, heads, head_size, src_len) and values (batch, heads, src_len,
        head_size), both contiguous so that no decoding step copies them again, and returns
        the final states (batch, src_len, hidden)."""
        positions = torch.arange(source_ids.shape[1], device=source_ids.device)
        hidden = self._embed(source_ids, positions.expand_as(source_ids), self.model.source_type_id)
        keys, values = [], []
        for layer in self.layers:
            query, key, value = self._project(layer, hidden)
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=source_bias,
                                                     scale=self.scale)  # (batch, heads, src, hs)
            context = context.transpose(1, 2).flatten(2)  # (batch, src_len, hidden)
            hidden = self._layer_tail(layer, context, hidden)
            keys.append(key.transpose(-1, -2).contiguous())
            values.append(value.contiguous())
        return keys, values, hidden

    def _by_source(self, x: torch.Tensor) -> torch.Tensor:
        """(hyps, heads, q, d) -> (batch, heads, beam * q, d): a source's beams side by side."""
        hyps, heads, q, d = x.shape
        x = x.view(hyps // self.beam, self.beam, heads, q, d).transpose(1, 2)
        return x.reshape(hyps // self.beam, heads, self.beam * q, d)

    def _by_hypothesis(self, x: torch.Tensor, q: int) -> torch.Tensor:
        """The inverse of `_by_source`: (batch, heads, beam * q, d) -> (hyps, heads, q, d)."""
        batch, heads, _, d = x.shape
        x = x.view(batch, heads, self.beam, q, d).transpose(1, 2)
        return x.reshape(batch * self.beam, heads, q, d)

    def _attend(self, index: int, query: torch.Tensor, length: int,
                own_key: Optional[torch.Tensor], own_value: Optional[torch.Tensor],
                own_bias: Optional[torch.Tensor]) -> torch.Tensor:
        """Attention of the new positions over [source | cached targets 0..length-1 | own].
        query (hyps, heads, q, hs); own key/value (hyps, heads, 1, hs), own_bias (q, 1)
        -> context (hyps, q, hidden)."""
        q = query.shape[2]
        target_keys = self.target_keys[index][:, :, :length]  # (hyps, heads, length, hs)
        target_values = self.target_values[index][:, :, :length]
        source_scores = self._by_hypothesis(
            self._by_source(query) @ self.source_keys[index], q)
        parts = [source_scores * self.scale + self.hyp_source_bias,  # (hyps, heads, q, src)
                 (query @ target_keys.transpose(-1, -2)) * self.scale]  # (hyps, heads, q, length)
        if own_key is not None:
            parts.append((query @ own_key.transpose(-1, -2)) * self.scale + own_bias)
        probs = torch.cat(parts, dim=-1).float().softmax(dim=-1).to(query.dtype)
        src_len = source_scores.shape[-1]
        source_probs = self._by_source(probs[..., :src_len])  # (batch, heads, beam * q, src)
        context = self._by_hypothesis(source_probs @ self.source_values[index], q)
        context = context + probs[..., src_len:src_len + length] @ target_values
        if own_value is not None:
            context = context + probs[..., src_len + length:] @ own_value
        return context.transpose(1, 2).flatten(2)  # (hyps, q, hidden)

    def reorder(self, parents: torch.Tensor, length: int) -> None:
        """Hypothesis h now continues hypothesis parents[h]: move its cached targets."""
        for cache in (*self.target_keys, *self.target_values):
            cache[:, :, :length] = cache[:, :, :length].index_select(0, parents)

    def step(self, j: int, tokens: torch.Tensor, parents: Optional[torch.Tensor]) -> torch.Tensor:
        """Prefix (hyps, j) -> log-probabilities of token j (hyps, vocab) in float32.
        Only the last prefix token is new to the cache; `parents` (hyps,) says which
        hypothesis of the previous step each one continues."""
        if parents is not None and self.beam > 1 and j > 1:
            self.reorder(parents, j - 1)
        if j == 0 and not self.pseudo:
            return self.first_log_probs
        device = tokens.device
        offsets = [] if j == 0 else [j - 1]
        ids = [] if j == 0 else [tokens[:, j - 1:j]]
        if self.pseudo:
            offsets.append(j)
            ids.append(torch.full_like(self.n_source[:, None], self.model.config.mask_token_id))
        ids = torch.cat(ids, dim=1)  # (hyps, q)
        positions = self.n_source[:, None] + torch.tensor(offsets, device=device)  # (hyps, q)
        hidden = self._embed(ids, positions, self.model.target_type_id)  # (hyps, q, hidden)
        own_bias = None
        if self.pseudo:  # only the [MASK] (last row) sees its own key
            own_bias = torch.zeros(len(offsets), 1, dtype=self.dtype, device=device)
            own_bias[:-1] = torch.finfo(self.dtype).min
        for index, layer in enumerate(self.layers):
            query, key, value = self._project(layer, hidden)  # (hyps, heads, q, hs) each
            if j > 0:
                self.target_keys[index][:, :, j - 1] = key[:, :, 0]
                self.target_values[index][:, :, j - 1] = value[:, :, 0]
            own = (key[:, :, -1:], value[:, :, -1:]) if self.pseudo else (None, None)
            context = self._attend(index, query, j, *own, own_bias)  # (hyps, q, hidden)
            hidden = self._layer_tail(layer, context, hidden)
        return self.model.lm_head(hidden[:, -1]).float().log_softmax(dim=-1)  # (hyps, vocab)


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


def _constrain(log_probs: torch.Tensor, j: int, tokens: torch.Tensor, finished: torch.Tensor,
               config: DecodeConfig, sep_id: int, pad_id: int,
               ignore_ids: AbstractSet[int]) -> None:
    """In place on (hyps, vocab): no [SEP] before min_len, n-gram blocking, and a finished
    hypothesis may only 'continue' with padding at no cost."""
    if j < config.min_len:
        log_probs[:, sep_id] = -math.inf
    if config.forbid_duplicate_ngrams and j >= config.ngram_size:
        bans = ngram_bans(tokens.tolist(), config.ngram_size, ignore_ids)
        if bans:
            rows, columns = torch.tensor(bans, device=log_probs.device).unbind(dim=1)
            log_probs[rows, columns] = -math.inf
    log_probs.masked_fill_(finished[:, None], -math.inf)
    log_probs[:, pad_id].masked_fill_(finished, 0.0)


def _search(stepper, batch: int, model: Seq2SeqModel, config: DecodeConfig,
            ignore_ids: AbstractSet[int], nbest: bool) -> DecodeOutput:
    """Beam search (beam 1 = greedy) over `stepper`; see the module docstring."""
    beam, device = config.beam_size, model.mlm.device
    sep_id, pad_id = model.config.sep_token_id, model.pad_token_id
    scores = torch.full((batch, beam), -math.inf, device=device)
    scores[:, 0] = 0.0  # the beams of a source start as one hypothesis
    scores = scores.view(-1)  # (hyps,)
    tokens = torch.zeros((batch * beam, 0), dtype=torch.long, device=device)
    finished = torch.zeros(batch * beam, dtype=torch.bool, device=device)
    first_hyp = torch.arange(batch, device=device)[:, None] * beam  # (batch, 1)
    records: List[List[Tuple[Tuple[int, ...], float, int]]] = [[] for _ in range(batch)]
    parents, steps = None, 0
    for j in range(config.max_tgt_length):
        log_probs = stepper.step(j, tokens, parents)  # (hyps, vocab)
        steps += 1
        vocab = log_probs.shape[1]
        log_probs = log_probs.clone()
        _constrain(log_probs, j, tokens, finished, config, sep_id, pad_id, ignore_ids)
        candidates = (scores[:, None] + log_probs).view(batch, beam * vocab)
        top_scores, top_index = candidates.topk(beam, dim=1)  # (batch, beam)
        parents = (first_hyp + top_index // vocab).view(-1)  # (hyps,)
        new_tokens = (top_index % vocab).view(-1)  # (hyps,)
        tokens = torch.cat([tokens[parents], new_tokens[:, None]], dim=1)  # (hyps, j + 1)
        scores = top_scores.view(-1)
        ended = ~finished[parents] & (new_tokens == sep_id) & torch.isfinite(scores)
        finished = finished[parents] | ended | ~torch.isfinite(scores)
        if ended.any():
            _record(records, tokens, scores, ended, beam, ended=True)
        if finished.all():
            break
    live = ~finished
    if live.any():
        _record(records, tokens, scores, live, beam, ended=False)
    return DecodeOutput([_answer(r, config, nbest) for r in records], steps)


def _record(records, tokens: torch.Tensor, scores: torch.Tensor, which: torch.Tensor,
            beam: int, ended: bool) -> None:
    """Add hypotheses `which` (hyps,) bool to their source's list as (ids without [SEP],
    summed log-probability, length). `ended`: their last token is [SEP], which is left
    out of the ids but counted in the length."""
    rows = which.nonzero().flatten().tolist()
    for row, ids, value in zip(rows, tokens[rows].tolist(), scores[rows].tolist()):
        records[row // beam].append((tuple(ids[:-1] if ended else ids), value, len(ids)))


def _answer(records, config: DecodeConfig, nbest: bool) -> DecodedAnswer:
    """The best record after the length penalty, and the n-best list when asked."""
    ranked = sorted((Hypothesis(ids, value / length_penalty(length, config.length_penalty), value)
                     for ids, value, length in records), key=lambda h: -h.score)
    if not ranked:
        return DecodedAnswer((), -math.inf)
    return DecodedAnswer(ranked[0].token_ids, ranked[0].score,
                         tuple(ranked[:config.beam_size]) if nbest else ())
