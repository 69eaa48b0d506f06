"""The extractive conversational-QA model: tensors in, logits and loss out.

One class serves every BERT-family backbone (BERT, RoBERTa-wwm-ext, MacBERT, ELECTRA
discriminator), loaded from a local folder through transformers' Auto classes with SDPA
attention. The encoder's token states pass through a middle layer (`coqa.extractive.middle`) and
four small heads score the answer:

- span head: a start and an end logit for every token;
- unknown head: one logit from the pooled [CLS] state;
- attention head: one score per token, softmax over the real tokens, pooling the token
  states into one vector, on which the yes/no head gives two logits.

`start_logits` and `end_logits` are both (batch, 3 + seq_len) with the columns
[yes, no, unknown, token 0 .. token seq_len - 1]; the three class logits are the same in
both. Labels are class indices into those columns, and the loss is the mean of the start
and end cross-entropies.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, Optional, Union

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel

from coqa.data.files import writing_weights
from coqa.extractive.labels import NUM_SPECIAL, UNKNOWN_CLASS
from coqa.extractive.matching import NUM_MATCH_KINDS, exact_match_flags
from coqa.data.folders import first_shape_mismatch
from coqa.extractive.config import ModelConfig
from coqa.extractive.encoder_weights import load_pretrained_encoder
from coqa.extractive.middle import build_middle

# Columns of start_logits / end_logits (coqa.extractive.labels); token j of the sequence
# is column TOKEN_OFFSET + j.
UNKNOWN_COLUMN = UNKNOWN_CLASS
TOKEN_OFFSET = NUM_SPECIAL

WEIGHTS_NAME = "model.safetensors"
ENCODER_CONFIG_NAME = "config.json"
MODEL_CONFIG_NAME = "convqa_config.json"
ATTN_IMPLEMENTATION = "sdpa"
class MLPHead(nn.Module):
    """Linear(hidden, hidden), ReLU, dropout, Linear(hidden, k)."""

    def __init__(self, hidden_size: int, outputs: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                                    nn.Dropout(dropout), nn.Linear(hidden_size, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., hidden) -> (..., k)."""
        return self.layers(x)


def padding_logit(dtype: torch.dtype, config: ModelConfig) -> float:
    """The very negative logit written over padding positions, safe in `dtype`."""
    if torch.finfo(dtype).bits <= 16:
        return config.half_precision_padding_logit
    return torch.finfo(dtype).min / 2


def additive_encoder_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, seq_len) 1/0 -> (batch, 1, 1, seq_len) float: 0 for real tokens, the dtype's
    minimum for padding. transformers passes a 4D mask through untouched, and a float
    additive one means the same to the eager and SDPA attention implementations.

    Any mask rules out SDPA's flash-attention kernel (memory-efficient or math only), so
    a batch without padding should pass none at all: `ConvQAModel.forward` with
    `attention_mask=None`."""
    padding = ~attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, seq_len)
    zeros = torch.zeros(padding.shape, dtype=dtype, device=attention_mask.device)
    return zeros.masked_fill(padding, torch.finfo(dtype).min)  # (batch, 1, 1, seq_len)


class ConvQAModel(nn.Module):
    """Encoder, middle layer and the span / unknown / attention / yes-no heads."""

    def __init__(self, encoder: PreTrainedModel, config: ModelConfig):
        super().__init__()
        self.encoder = encoder
        self.config = config
        hidden = encoder.config.hidden_size
        self.middle = build_middle(config.middle_config, hidden)
        self.span_head = MLPHead(hidden, 2, config.head_dropout)
        self.unknown_head = MLPHead(hidden, 1, config.head_dropout)
        self.attention_head = MLPHead(hidden, 1, config.head_dropout)
        self.yes_no_head = MLPHead(hidden, 2, config.head_dropout)
        self._init_heads(encoder.config.initializer_range)
        # RoBERTa / XLM-R checkpoints have one token type: the query / window segments
        # (token type 1) still drive the exact-match flags, but the encoder gets none.
        self.encoder_takes_segments = getattr(encoder.config, "type_vocab_size", 2) > 1
        width = encoder.get_input_embeddings().embedding_dim
        self.match_embedding = None
        if config.exact_match:
            self.match_embedding = nn.Embedding(NUM_MATCH_KINDS, width)
            nn.init.zeros_(self.match_embedding.weight)
        # History answer embedding (Qu et al. 2019): row d for a passage token that
        # answered the turn d turns ago, row 0 for every other token; zero, so that a
        # pretrained encoder starts as it was.
        self.history_answer_embedding = None
        if config.history_answer_turns:
            self.history_answer_embedding = nn.Embedding(config.history_answer_turns + 1, width)
            nn.init.zeros_(self.history_answer_embedding.weight)

    @staticmethod
    def head_parameter(name: str) -> bool:
        """Whether a parameter (named as by `named_parameters`) is outside the pretrained
        encoder: middle layer, heads, match and history-answer embeddings. These train at
        --head_learning_rate when it is given."""
        return not name.startswith("encoder.")

    def _init_heads(self, initializer_range: float) -> None:
        """Normal weights (std per `config.head_init`, see HEAD_INITS) and zero biases."""
        for head in (self.span_head, self.unknown_head, self.attention_head, self.yes_no_head):
            for module in head.modules():
                if isinstance(module, nn.Linear):
                    std = initializer_range if self.config.head_init == "bert" \
                        else (3 * module.in_features) ** -0.5
                    nn.init.normal_(module.weight, std=std)
                    nn.init.zeros_(module.bias)

    @classmethod
    def from_encoder_config(cls, encoder_config: PreTrainedConfig,
                            config: ModelConfig) -> "ConvQAModel":
        """A randomly initialised model around the backbone described by `encoder_config`."""
        encoder = AutoModel.from_config(encoder_config, attn_implementation=ATTN_IMPLEMENTATION)
        return cls(encoder, config)

    @classmethod
    def from_pretrained_encoder(cls, path: Union[str, Path], config: ModelConfig) -> "ConvQAModel":
        """Pretrained encoder weights from a local folder; middle layer and heads random."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(
                f"{path}: no such model folder (models are loaded from local folders only)")
        return cls(load_pretrained_encoder(path, ATTN_IMPLEMENTATION), config)

    def pooled_cls(self, encoder_output) -> torch.Tensor:
        """The encoder's pooled [CLS] vector (batch, hidden); the raw final [CLS] state for
        backbones without a pooler, such as ELECTRA."""
        pooled = getattr(encoder_output, "pooler_output", None)
        if pooled is None:
            pooled = encoder_output.last_hidden_state[:, 0]  # (batch, hidden)
        return pooled

    def _encoder_inputs(self, input_ids: torch.Tensor, token_type_ids: Optional[torch.Tensor],
                        attention_mask: torch.Tensor,
                        history_answer_ids: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """`input_ids`, or the word embeddings plus the match embedding of each token's
        flag (`exact_match`) and / or the history answer embedding of its id as
        `inputs_embeds` (batch, seq_len, embedding width). `attention_mask`: (batch,
        seq_len) bool, all True when the batch has no padding."""
        use_history = self.history_answer_embedding is not None and history_answer_ids is not None
        if self.match_embedding is None and not use_history:
            return {"input_ids": input_ids}
        words = self.encoder.get_input_embeddings()(input_ids)  # (batch, seq_len, width)
        if self.match_embedding is not None:
            if token_type_ids is None:
                raise ValueError("exact_match needs token_type_ids (the query / window segments)")
            flags = exact_match_flags(input_ids, token_type_ids, attention_mask)  # (batch, seq_len)
            words = words + self.match_embedding(flags).to(words.dtype)  # (batch, seq_len, width)
        if use_history:
            history = self.history_answer_embedding(history_answer_ids)  # (batch, seq_len, width)
            words = words + history.to(words.dtype)
        return {"inputs_embeds": words}

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                token_type_ids: Optional[torch.Tensor] = None,
                start_positions: Optional[torch.Tensor] = None,
                end_positions: Optional[torch.Tensor] = None,
                history_answer_ids: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Logits over [yes, no, unknown, token 0 .. seq_len - 1] for the answer's start and
        end, and their mean cross-entropy `loss` when both label tensors (batch,) are given.
        `history_answer_ids` (batch, seq_len) int, 0 .. history_answer_turns: how many
        turns ago each token was an answer (`--history_encoding hae`; None: all 0).
        `attention_mask` (batch, seq_len) 1/0; None when the batch has no padding: the
        encoder then gets no mask, and SDPA may pick flash attention. (The model does not
        look for itself: on a GPU that would wait for the device at every call.)"""
        if attention_mask is None:
            mask = torch.ones(input_ids.shape, dtype=torch.bool, device=input_ids.device)
            encoder_mask = None
        else:
            mask = attention_mask.bool()  # (batch, seq_len)
            encoder_mask = additive_encoder_mask(mask, self.encoder.dtype)  # (batch, 1, 1, seq_len)
        encoder_output = self.encoder(
            **self._encoder_inputs(input_ids, token_type_ids, mask, history_answer_ids),
            token_type_ids=token_type_ids if self.encoder_takes_segments else None,
            attention_mask=encoder_mask)
        tokens = encoder_output.last_hidden_state  # (batch, seq_len, hidden)
        states = self.middle(tokens, attention_mask)  # (batch, seq_len, hidden)

        span = self.span_head(states)  # (batch, seq_len, 2)
        fill = padding_logit(span.dtype, self.config)
        start_tokens = span[..., 0].masked_fill(~mask, fill)  # (batch, seq_len)
        end_tokens = span[..., 1].masked_fill(~mask, fill)  # (batch, seq_len)

        unknown = self.unknown_head(self.pooled_cls(encoder_output))  # (batch, 1)
        scores = self.attention_head(states).squeeze(-1)  # (batch, seq_len)
        scores = scores.float().masked_fill(~mask, torch.finfo(torch.float32).min)
        weights = scores.softmax(dim=-1).to(states.dtype)  # (batch, seq_len)
        pooled = torch.einsum("bl,blh->bh", weights, states)  # (batch, hidden)
        yes_no = self.yes_no_head(pooled)  # (batch, 2)

        classes = torch.cat([yes_no, unknown], dim=-1)  # (batch, 3): yes, no, unknown
        classes = classes.to(start_tokens.dtype)
        output = {
            "start_logits": torch.cat([classes, start_tokens], dim=-1),  # (batch, 3 + seq_len)
            "end_logits": torch.cat([classes, end_tokens], dim=-1),  # (batch, 3 + seq_len)
        }
        if start_positions is not None and end_positions is not None:
            losses = [F.cross_entropy(output["start_logits"].float(), start_positions),
                      F.cross_entropy(output["end_logits"].float(), end_positions)]
            output["loss"] = torch.stack(losses).mean()  # ()
        return output

    def save(self, directory: Union[str, Path]) -> None:
        """Write model.safetensors, the encoder's config.json and convqa_config.json."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with writing_weights(directory / WEIGHTS_NAME):  # mode; disk full: an OSError
            save_file(_unshared_state(self.state_dict()), str(directory / WEIGHTS_NAME))
        self.encoder.config.save_pretrained(directory)
        (directory / MODEL_CONFIG_NAME).write_text(
            json.dumps(dataclasses.asdict(self.config), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Union[str, Path], map_location: str = "cpu") -> "ConvQAModel":
        """Rebuild a model written by `save` and load its weights strictly."""
        directory = Path(directory)
        for name in (WEIGHTS_NAME, ENCODER_CONFIG_NAME, MODEL_CONFIG_NAME):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory}: not a ConvQAModel checkpoint (no {name})")
        config_path = directory / MODEL_CONFIG_NAME
        config = ModelConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")),
                                       source=str(config_path))
        encoder_config = AutoConfig.from_pretrained(directory, local_files_only=True)
        model = cls.from_encoder_config(encoder_config, config)
        state = load_file(str(directory / WEIGHTS_NAME), device=str(map_location))
        _check_state(directory, model.state_dict(), state)
        model.load_state_dict(state, strict=True)
        return model.to(map_location)


def _unshared_state(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Contiguous tensors, with a private copy of any tensor whose storage an earlier key
    already uses: safetensors refuses tied tensors, and every key stays in the file so
    that loading can be strict."""
    seen, result = set(), {}
    for key, tensor in state.items():
        storage = tensor.untyped_storage().data_ptr()
        tensor = tensor.detach()
        result[key] = tensor.clone() if storage in seen else tensor.contiguous()
        seen.add(storage)
    return result


def _check_state(directory: Path, expected: Dict[str, torch.Tensor],
                 found: Dict[str, torch.Tensor]) -> None:
    """Raise a ValueError naming the folder and the first key whose tensor is missing,
    unexpected or of another shape."""
    mismatch = first_shape_mismatch(expected, found)
    if mismatch is not None:
        raise ValueError(f"{directory}: checkpoint does not match the model built from its "
                         f"config files; first mismatching {mismatch}")
