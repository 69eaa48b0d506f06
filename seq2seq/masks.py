"""Attention masks of the UniLM sequence-to-sequence layouts, as boolean "may attend"
matrices and as the 4D additive float masks the encoder is given.

Two training layouts (right-padded source and target, `1` = real token in the masks):

- pseudo (s2s-ft's default), input `[source | target | pseudo]`:
  * a source token sees every real source token (bidirectional);
  * target token j sees the real source and the real targets 0..j;
  * pseudo token j sees the real source, the real targets 0..j-1 and itself (if real);
  * nothing else sees a pseudo token, and no padding is ever seen.
- teacher forcing, input `[source | target]`: the source as above, target token j sees the
  real source and the real targets 0..j.

Every query row keeps at least one visible key (padding queries see the real source), so
no softmax row is empty. The additive form is 0 where attending is allowed and the
dtype's minimum elsewhere, shaped (batch, 1, q_len, k_len) and in the model's dtype:
transformers passes a 4D float mask to the eager and SDPA implementations untouched, so
both compute the same thing.
"""
from __future__ import annotations

import torch


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, q_len, k_len) bool -> (batch, 1, q_len, k_len) float: 0 where allowed, the
    dtype's minimum elsewhere."""
    zeros = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return zeros.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]


def _source_rows(source_mask: torch.Tensor, key_len: int) -> torch.Tensor:
    """(batch, src_len) -> (batch, src_len, key_len) bool: every source row sees the real
    source tokens, which are the first src_len keys, and nothing after them."""
    batch, src_len = source_mask.shape
    real = source_mask.bool()  # (batch, src_len)
    rows = torch.zeros(batch, src_len, key_len, dtype=torch.bool, device=source_mask.device)
    rows[:, :, :src_len] = real[:, None, :]
    return rows  # (batch, src_len, key_len)


def _causal_target_block(target_mask: torch.Tensor, strict: bool) -> torch.Tensor:
    """(batch, tgt_len) -> (batch, tgt_len, tgt_len) bool: row j sees the real targets
    0..j (0..j-1 when `strict`)."""
    tgt_len = target_mask.shape[1]
    order = torch.arange(tgt_len, device=target_mask.device)
    earlier = order[None, :] < order[:, None] if strict else order[None, :] <= order[:, None]
    return earlier[None] & target_mask.bool()[:, None, :]  # (batch, tgt_len, tgt_len)


def pseudo_layout_allowed(source_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Boolean mask of `[source | target | pseudo]`:
    (batch, src_len), (batch, tgt_len) -> (batch, L, L) with L = src_len + 2 * tgt_len."""
    batch, src_len = source_mask.shape
    tgt_len = target_mask.shape[1]
    length = src_len + 2 * tgt_len
    real_source = source_mask.bool()[:, None, :]  # (batch, 1, src_len)
    allowed = torch.zeros(batch, length, length, dtype=torch.bool, device=source_mask.device)
    allowed[:, :src_len] = _source_rows(source_mask, length)
    targets = slice(src_len, src_len + tgt_len)
    pseudos = slice(src_len + tgt_len, length)
    allowed[:, targets, :src_len] = real_source
    allowed[:, targets, targets] = _causal_target_block(target_mask, strict=False)
    allowed[:, pseudos, :src_len] = real_source
    allowed[:, pseudos, targets] = _causal_target_block(target_mask, strict=True)
    itself = torch.diag_embed(target_mask.bool())  # (batch, tgt_len, tgt_len)
    allowed[:, pseudos, pseudos] = itself
    return allowed  # (batch, L, L)


def teacher_forcing_allowed(source_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Boolean mask of `[source | target]`:
    (batch, src_len), (batch, tgt_len) -> (batch, L, L) with L = src_len + tgt_len."""
    src_len = source_mask.shape[1]
    length = src_len + target_mask.shape[1]
    allowed = _source_rows(source_mask, length)  # (batch, src_len, L)
    target_rows = torch.cat(
        [source_mask.bool()[:, None, :].expand(-1, target_mask.shape[1], -1),
         _causal_target_block(target_mask, strict=False)], dim=2)  # (batch, tgt_len, L)
    return torch.cat([allowed, target_rows], dim=1)  # (batch, L, L)
