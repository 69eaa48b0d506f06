"""The extractive model's settings that are not the encoder's own config (torch-free:
the flags, the loaders and the middle layer read it without building a model)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from coqa.data.errors import ConfigError
from coqa.extractive.labels import FILL_LOGIT

MIDDLE_KINDS = ("none", "bilstm", "rtransformer")
# "fan_in": normal weights with std 1 / sqrt(3 * fan_in), the spread of PyTorch's default
# Linear init; 0.0208 at BERT-base's width 768, so BERT-base heads start as the published
# ones did. "bert": std = the encoder's initializer_range (0.02) at every width, which at
# width 64 makes each head layer shrink its input 4x, two layers 16x: on tiny encoders the
# heads then learn only their biases (a constant unknown score, yes == no).
HEAD_INITS = ("fan_in", "bert")


@dataclass(frozen=True)
class MiddleConfig:
    """What the middle layer (`coqa.extractive.middle.build_middle`) is built from."""

    kind: str = "none"
    lstm_hidden: int = 256
    lstm_layers: int = 2
    dropout: float = 0.3
    rtransformer_window: int = 32
    rtransformer_heads: int = 4
    rtransformer_ffn: int = 3072
    rtransformer_bidirectional: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """Everything about the model that is not the encoder's own config.

    `head_dropout` is applied between the two layers of each head (0.1, BERT's own
    hidden dropout). `exact_match` adds a learned embedding of each token's exact-match
    flag (`coqa.extractive.matching`) to its word embedding; zero at the start, so a
    pretrained encoder begins exactly as it was. `history_answer_turns` > 0 adds the
    history answer embedding (`--history_encoding hae`): history_answer_turns + 1 rows,
    row d for a passage token that answered the turn d turns ago (0: none), zero at the
    start. `half_precision_padding_logit` is the
    logit given to padding positions when the logits are float16/bfloat16: -1e4 stays finite even if a bfloat16
    value is later cast to float16 or two such logits are added; in float32 the value is
    half the dtype's minimum, which also survives adding a start and an end logit."""

    middle: str = "none"
    lstm_hidden: int = 256
    lstm_layers: int = 2
    middle_dropout: float = 0.3
    rtransformer_window: int = 32
    rtransformer_heads: int = 4
    rtransformer_ffn: int = 3072
    rtransformer_bidirectional: bool = False
    head_dropout: float = 0.1
    head_init: str = "fan_in"
    exact_match: bool = False
    history_answer_turns: int = 0
    half_precision_padding_logit: float = FILL_LOGIT  # -1e4

    def __post_init__(self):
        if self.middle not in MIDDLE_KINDS:
            raise ConfigError(
                f"middle must be one of {', '.join(MIDDLE_KINDS)}, got {self.middle!r}")
        for name in ("lstm_hidden", "lstm_layers", "rtransformer_window", "rtransformer_heads",
                     "rtransformer_ffn"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("middle_dropout", "head_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.history_answer_turns < 0:
            raise ConfigError(f"history_answer_turns must be at least 0, "
                              f"got {self.history_answer_turns}")
        if self.head_init not in HEAD_INITS:
            raise ConfigError(f"head_init must be one of {', '.join(HEAD_INITS)}, "
                             f"got {self.head_init!r}")
        if self.half_precision_padding_logit >= 0:
            raise ConfigError("half_precision_padding_logit must be negative")

    @property
    def middle_config(self) -> MiddleConfig:
        """The middle layer's own settings (saved flat, as fields of this config)."""
        return MiddleConfig(self.middle, self.lstm_hidden, self.lstm_layers, self.middle_dropout,
                            self.rtransformer_window, self.rtransformer_heads,
                            self.rtransformer_ffn, self.rtransformer_bidirectional)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "ModelConfig":
        """Build from a JSON object, refusing unknown keys (a typo must not be ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown model config keys {unknown}")
        # Checkpoints written before the exact-match (or the history answer) embedding
        # existed have no such key and no such weights; the dataclass default says so.
        return cls(**{"exact_match": False, **values})
