"""Steppers: the model side of decoding. `step(j, tokens, parents)` turns the prefixes of
every hypothesis, (hyps, j) token ids, into the log-probabilities of token j, (hyps, vocab)
float32; `parents` (hyps,) says which hypothesis of the previous step each one continues.

Three ways to compute the same numbers (the search in `seq2seq.decoding` picks one with
`DecodeConfig.method`):

- `CachedStepper` ("kv_cache", the default): the source is encoded once and every layer's
  keys and values are kept. Step j feeds one new position per hypothesis, as UniLM does:
  the token decided at step j-1 (its keys and values join the cache) and a [MASK] at
  position n_source + j whose output predicts token j (its own key and value are used in
  this step only). A teacher-forcing model feeds just the previous token, whose output
  predicts the next one (the source's last real token, its [SEP], predicts token 0). The
  source keys and values are stored once per source, not once per beam, and only the small
  target part of the cache is reordered when beams change places.
- `HiddenStateStepper` ("hidden_states"): s2s-ft's own method (`BertModelIncr` with
  `prev_encoded_layers`). It keeps every layer's input hidden states of the source and of
  the decided tokens, one copy per beam, and at each step projects keys and values again
  from all of them; beams reorder the whole history, source included.
- `RecomputeStepper` ("recompute"): the training-layout forward over `[source | prefix |
  [MASK]]` at every step; slow, the reference the other two are tested against.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seq2seq.masks import additive_mask
from seq2seq.model import Seq2SeqModel


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
        self._setup(model, source_mask, beam_size)
        source_bias = additive_mask(source_mask.bool()[:, None, :], self.dtype)  # (batch, 1, 1, src)
        self.source_keys, self.source_values, hidden = self._encode_source(
            source_ids, source_bias)
        self._first_log_probs(hidden, source_mask.sum(dim=1))
        hyps = source_ids.shape[0] * beam_size
        shape = (hyps, self.heads, max_tgt_length, self.head_size)
        self.target_keys = [source_ids.new_zeros(shape, dtype=self.dtype) for _ in self.layers]
        self.target_values = [source_ids.new_zeros(shape, dtype=self.dtype) for _ in self.layers]

    def _setup(self, model: Seq2SeqModel, source_mask: torch.Tensor, beam_size: int) -> None:
        """The model's geometry, the source lengths and padding bias per hypothesis."""
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
        self.dtype = model.mlm.dtype
        self.n_source = source_mask.sum(dim=1).repeat_interleave(beam_size)  # (hyps,)
        source_bias = additive_mask(source_mask.bool()[:, None, :], self.dtype)  # (batch, 1, 1, src)
        self.hyp_source_bias = source_bias.repeat_interleave(beam_size, dim=0)  # (hyps, 1, 1, src)

    def _first_log_probs(self, hidden: torch.Tensor, n_source: torch.Tensor) -> None:
        """Teacher forcing: the source's last real token predicts token 0. hidden (batch,
        src_len, hidden) final source states, n_source (batch,)."""
        self.first_log_probs = None
        if not self.pseudo:
            last = hidden[torch.arange(hidden.shape[0], device=hidden.device), n_source - 1]
            log_probs = self.model.lm_head(last).float().log_softmax(dim=-1)  # (batch, vocab)
            self.first_log_probs = log_probs.repeat_interleave(self.beam, dim=0)

    def _new_positions(self, j: int, tokens: torch.Tensor):
        """Ids (hyps, q) and positions (hyps, q) fed at step j: token j-1 (when j > 0) and,
        for the pseudo mask way, the [MASK] predicting token j; and own_bias (q, 1), the
        [MASK]'s own key visible to the [MASK] row only (None for teacher forcing)."""
        device = tokens.device
        ids = [] if j == 0 else [tokens[:, j - 1:j]]
        if self.pseudo:
            ids.append(torch.full_like(self.n_source[:, None], self.model.config.mask_token_id))
        # Target offsets j-1 (when j > 0) and j (the [MASK]), made on the device: a tensor
        # built from a Python list would be one more host-to-device copy every step.
        offsets = torch.arange(max(j - 1, 0), j + 1 if self.pseudo else j, device=device)
        positions = self.n_source[:, None] + offsets  # (hyps, q)
        own_bias = None
        if self.pseudo:
            own_bias = torch.zeros(len(ids), 1, dtype=self.dtype, device=device)
            own_bias[:-1] = torch.finfo(self.dtype).min
        return torch.cat(ids, dim=1), positions, own_bias

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
        ids, positions, own_bias = self._new_positions(j, tokens)  # (hyps, q), (hyps, q)
        hidden = self._embed(ids, positions, self.model.target_type_id)  # (hyps, q, hidden)
        for index, layer in enumerate(self.layers):
            query, key, value = self._project(layer, hidden)  # (hyps, heads, q, hs) each
            if j > 0:
                self.target_keys[index][:, :, j - 1] = key[:, :, 0]
                self.target_values[index][:, :, j - 1] = value[:, :, 0]
            own = (key[:, :, -1:], value[:, :, -1:]) if self.pseudo else (None, None)
            context = self._attend(index, query, j, *own, own_bias)  # (hyps, q, hidden)
            hidden = self._layer_tail(layer, context, hidden)
        return self.model.lm_head(hidden[:, -1]).float().log_softmax(dim=-1)  # (hyps, vocab)


class HiddenStateStepper(CachedStepper):
    """s2s-ft's incremental decoding (see the module docstring): keys and values of the
    whole history are projected again from its hidden states at every step. Kept to measure
    what the key/value cache saves, and as a second oracle."""

    def __init__(self, model: Seq2SeqModel, source_ids: torch.Tensor, source_mask: torch.Tensor,
                 beam_size: int, max_tgt_length: int):
        self._setup(model, source_mask, beam_size)
        positions = torch.arange(source_ids.shape[1], device=source_ids.device)
        hidden = self._embed(source_ids, positions.expand_as(source_ids), model.source_type_id)
        source_bias = self.hyp_source_bias[::beam_size]  # (batch, 1, 1, src)
        # history[i]: the input of layer i at every past position, (hyps, src_len + t, hidden)
        self.history = []
        for layer in self.layers:
            self.history.append(hidden.repeat_interleave(beam_size, dim=0))
            query, key, value = self._project(layer, hidden)
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=source_bias,
                                                     scale=self.scale)  # (batch, heads, src, hs)
            hidden = self._layer_tail(layer, context.transpose(1, 2).flatten(2), hidden)
        self._first_log_probs(hidden, source_mask.sum(dim=1))

    def reorder(self, parents: torch.Tensor, length: int) -> None:
        """As s2s-ft's `select_beam_items`: the whole history, source included, moves."""
        self.history = [h.index_select(0, parents) for h in self.history]

    def step(self, j: int, tokens: torch.Tensor, parents: Optional[torch.Tensor]) -> torch.Tensor:
        if parents is not None and self.beam > 1 and j > 1:
            self.reorder(parents, j - 1)
        if j == 0 and not self.pseudo:
            return self.first_log_probs
        ids, positions, _ = self._new_positions(j, tokens)  # (hyps, q), (hyps, q)
        hidden = self._embed(ids, positions, self.model.target_type_id)  # (hyps, q, hidden)
        q, past = ids.shape[1], self.history[0].shape[1]
        new_bias = torch.zeros(q, q, dtype=self.dtype, device=ids.device)
        if self.pseudo and q == 2:  # the previous token does not see the [MASK]
            new_bias[0, 1] = torch.finfo(self.dtype).min
        hyps, src_len = ids.shape[0], self.hyp_source_bias.shape[-1]
        bias = torch.cat([self.hyp_source_bias.expand(-1, -1, q, -1),
                          new_bias.new_zeros(hyps, 1, q, past - src_len),
                          new_bias.expand(hyps, 1, q, q)], dim=-1)  # (hyps, 1, q, past + q)
        keep = 1 if j > 0 else 0  # the previous token's layer inputs join the history
        for index, layer in enumerate(self.layers):
            everything = torch.cat([self.history[index], hidden], dim=1)  # (hyps, past + q, hidden)
            if keep:
                self.history[index] = everything[:, :past + keep]
            query = self._project(layer, hidden)[0]  # (hyps, heads, q, hs)
            _, key, value = self._project(layer, everything)  # (hyps, heads, past + q, hs)
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=bias,
                                                     scale=self.scale)  # (hyps, heads, q, hs)
            hidden = self._layer_tail(layer, context.transpose(1, 2).flatten(2), hidden)
        return self.model.lm_head(hidden[:, -1]).float().log_softmax(dim=-1)  # (hyps, vocab)
