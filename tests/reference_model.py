"""The smallest extractive model with the project's output format, as a yardstick.

One linear span layer (a start and an end logit per token) and one linear 4-way class
layer on the final [CLS] state (yes, no, unknown, span), both with PyTorch's default
initialisation. The span class logit is added to every token logit, so the columns are
those of coqa's model: [yes, no, unknown, token 0 .. seq_len - 1] for start and end, and
the loss is the same mean of two cross-entropies. If the project's heads learn less than
this on the same data and recipe, something in them is a fault.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from coqa.extractive.model import additive_encoder_mask


class ReferenceModel(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.span = nn.Linear(hidden, 2)
        self.classes = nn.Linear(hidden, 4)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: Optional[torch.Tensor] = None,
                start_positions: Optional[torch.Tensor] = None,
                end_positions: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        mask = attention_mask.bool()  # (batch, seq_len)
        states = self.encoder(input_ids=input_ids, token_type_ids=token_type_ids,
                              attention_mask=additive_encoder_mask(mask, torch.float32)
                              ).last_hidden_state  # (batch, seq_len, hidden)
        span = self.span(states).masked_fill(~mask[..., None], -1e9)  # (batch, seq_len, 2)
        classes = self.classes(states[:, 0])  # (batch, 4): yes, no, unknown, span
        tokens = span + classes[:, 3, None, None]  # (batch, seq_len, 2)
        output = {"start_logits": torch.cat([classes[:, :3], tokens[..., 0]], dim=-1),
                  "end_logits": torch.cat([classes[:, :3], tokens[..., 1]], dim=-1)}
        if start_positions is not None and end_positions is not None:
            output["loss"] = (F.cross_entropy(output["start_logits"], start_positions)
                              + F.cross_entropy(output["end_logits"], end_positions)) / 2
        return output
