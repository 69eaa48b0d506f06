"""The middle layer between the encoder and the heads: `none | bilstm | rtransformer`.

Every kind is built by `build_middle` and has the same interface: token states
(batch, seq_len, hidden) and a 1/0 attention mask (batch, seq_len) in, token states of
the same shape out. A mask of None means that the batch has no padding. Batches are
right-padded (real tokens first); for real tokens the output never depends on how much
padding follows them.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from coqa.data.errors import ConfigError
from coqa.extractive.config import MIDDLE_KINDS, MiddleConfig


class IdentityMiddle(nn.Module):
    """`none`: the encoder's token states go straight to the heads."""

    def forward(self, hidden_states: torch.Tensor,
                attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Return `hidden_states` unchanged: (batch, seq_len, hidden)."""
        return hidden_states


class BiLSTMMiddle(nn.Module):
    """`bilstm`: dropout, a bidirectional LSTM over the real tokens only, LayerNorm and a
    projection back to the encoder's hidden size; padding positions come out as zeros.

    It runs in float32 under any autocast: autocast would run the LSTM (cuDNN's, on a GPU)
    in half precision, whose recurrence accumulates rounding over hundreds of steps, and
    under bf16 no loss scaling guards its gradients. The layer is small next to the
    encoder, so float32 costs little."""

    def __init__(self, hidden_size: int, lstm_hidden: int, lstm_layers: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden_size, lstm_hidden, num_layers=lstm_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if lstm_layers > 1 else 0.0)
        self.norm = nn.LayerNorm(2 * lstm_hidden)
        self.proj = nn.Linear(2 * lstm_hidden, hidden_size)

    def forward(self, hidden_states: torch.Tensor,
                attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Run the LSTM over each row's real tokens, in float32; (batch, seq_len, hidden)
        out, in the dtype of `hidden_states`."""
        seq_len = hidden_states.size(1)
        with torch.autocast(hidden_states.device.type, enabled=False):
            x = self.dropout(hidden_states.float())  # (batch, seq_len, hidden)
            if attention_mask is None:  # no padding: nothing to pack (and no lengths to read)
                output, _ = self.lstm(x)  # (batch, seq_len, 2 * lstm_hidden)
            else:
                # A row always holds [CLS]; the clamp only keeps an all-padding row from
                # crashing the packer.
                lengths = attention_mask.sum(dim=1).clamp(min=1).cpu()  # (batch,)
                packed = pack_padded_sequence(x, lengths, batch_first=True,
                                              enforce_sorted=False)
                output, _ = self.lstm(packed)
                output, _ = pad_packed_sequence(output, batch_first=True,
                                                total_length=seq_len)  # (batch, seq_len, 2 * lstm_hidden)
            output = self.proj(self.norm(output))  # (batch, seq_len, hidden)
            if attention_mask is not None:
                output = output * attention_mask.unsqueeze(-1).to(output.dtype)
        return output.to(hidden_states.dtype)  # (batch, seq_len, hidden)


def local_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """Each position's window of the `window` positions ending at it (t-window+1 .. t),
    zero-padded on the left: (batch, seq_len, hidden) -> (batch * seq_len, window, hidden)."""
    batch, seq_len, hidden = x.shape
    padded = F.pad(x, (0, 0, window - 1, 0))  # (batch, window - 1 + seq_len, hidden)
    windows = padded.unfold(1, window, 1)  # (batch, seq_len, hidden, window)
    return windows.permute(0, 1, 3, 2).reshape(batch * seq_len, window, hidden)


class LocalRNN(nn.Module):
    """The R-Transformer's local recurrence: one GRU run over every position's short
    window, all windows at once as one big batch; the last step is the position's output."""

    def __init__(self, hidden_size: int, window: int):
        super().__init__()
        self.window = window
        self.gru = nn.GRU(hidden_size, hidden_size, num_layers=1, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, seq_len, hidden) -> (batch, seq_len, hidden); position t sees only
        positions t-window+1 .. t."""
        batch, seq_len, hidden = x.shape
        windows = local_windows(x, self.window)  # (batch * seq_len, window, hidden)
        _, last = self.gru(windows)  # (1, batch * seq_len, hidden)
        return last[-1].view(batch, seq_len, hidden)  # (batch, seq_len, hidden)


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention with a key padding mask, causal unless `bidirectional`.
    Projections are sized like nn.MultiheadAttention's (in_proj 3H x H, out_proj H x H);
    scaled_dot_product_attention applies the 1/sqrt(head_dim) scaling."""

    def __init__(self, hidden_size: int, heads: int, bidirectional: bool):
        super().__init__()
        if hidden_size % heads:
            raise ConfigError(f"--middle rtransformer splits the encoder's hidden size into "
                              f"{heads} attention heads, but hidden size {hidden_size} is not "
                              f"divisible by {heads}: use --middle none or bilstm")
        self.heads = heads
        self.bidirectional = bidirectional
        self.in_proj = nn.Linear(hidden_size, 3 * hidden_size)
        self.out_proj = nn.Linear(hidden_size, hidden_size)

    def allowed(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Boolean (batch, 1, seq_len, seq_len), True where a query may attend to a key.
        Every token may always attend to itself, so no row is empty (no NaN on padding rows)."""
        seq_len = attention_mask.size(1)
        device = attention_mask.device
        allowed = attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, seq_len)
        if not self.bidirectional:
            causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
            allowed = allowed & causal  # (batch, 1, seq_len, seq_len)
        itself = torch.eye(seq_len, dtype=torch.bool, device=device)
        return allowed | itself  # (batch, 1, seq_len, seq_len)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, seq_len, hidden) and a 1/0 mask (batch, seq_len) -> (batch, seq_len, hidden)."""
        batch, seq_len, hidden = x.shape
        qkv = self.in_proj(x).view(batch, seq_len, 3, self.heads, hidden // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, seq_len, head_dim)
        allowed = self.allowed(attention_mask)  # (batch, 1, seq_len, seq_len)
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=allowed)
        # (batch, heads, seq_len, head_dim) -> (batch, seq_len, hidden)
        context = context.transpose(1, 2).reshape(batch, seq_len, hidden)
        return self.out_proj(context)  # (batch, seq_len, hidden)


class RTransformerMiddle(nn.Module):
    """`rtransformer`: one R-Transformer block (Wang et al. 2019) - local GRU, multi-head
    self-attention and a ReLU feed-forward layer, each a pre-norm residual sub-layer
    x + dropout(f(LayerNorm(x))) - followed by a hidden -> hidden projection."""

    def __init__(self, hidden_size: int, window: int, heads: int, ffn_size: int,
                 bidirectional: bool, dropout: float):
        super().__init__()
        self.local_rnn = LocalRNN(hidden_size, window)
        self.attention = MaskedSelfAttention(hidden_size, heads, bidirectional)
        self.ffn = nn.Sequential(nn.Linear(hidden_size, ffn_size), nn.ReLU(),
                                 nn.Linear(ffn_size, hidden_size))
        self.rnn_norm = nn.LayerNorm(hidden_size)
        self.attention_norm = nn.LayerNorm(hidden_size)
        self.ffn_norm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor,
                attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """(batch, seq_len, hidden) -> (batch, seq_len, hidden); padding positions come out
        as zeros."""
        if attention_mask is None:  # no padding
            attention_mask = torch.ones(hidden_states.shape[:2], dtype=torch.long,
                                        device=hidden_states.device)  # (batch, seq_len)
        keep = attention_mask.unsqueeze(-1).to(hidden_states.dtype)  # (batch, seq_len, 1)
        # Padding enters the local windows as zeros, like the left padding of the first positions.
        x = hidden_states * keep  # (batch, seq_len, hidden)
        x = x + self.dropout(self.local_rnn(self.rnn_norm(x)))  # (batch, seq_len, hidden)
        x = x + self.dropout(self.attention(self.attention_norm(x), attention_mask))
        x = x + self.dropout(self.ffn(self.ffn_norm(x)))  # (batch, seq_len, hidden)
        return self.proj(x) * keep.to(x.dtype)  # (batch, seq_len, hidden)


def build_middle(config: MiddleConfig, hidden_size: int) -> nn.Module:
    """The middle layer `config.kind`, mapping (batch, seq_len, hidden_size) and a
    (batch, seq_len) mask to (batch, seq_len, hidden_size)."""
    if config.kind == "none":
        return IdentityMiddle()
    if config.kind == "bilstm":
        return BiLSTMMiddle(hidden_size, config.lstm_hidden, config.lstm_layers, config.dropout)
    if config.kind == "rtransformer":
        return RTransformerMiddle(hidden_size, config.rtransformer_window,
                                  config.rtransformer_heads, config.rtransformer_ffn,
                                  config.rtransformer_bidirectional, config.dropout)
    raise ValueError(f"unknown middle layer {config.kind!r}; expected one of "
                     f"{', '.join(MIDDLE_KINDS)}")
