"""`SourceConfig`: every setting that shapes the seq2seq examples (the cache key holds
all of it); the layouts are described in `seq2seq.examples`."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

from coqa.data.errors import ConfigError
from coqa.data.query import (HISTORY_FORMATS, QUERY_SPECIAL_TOKENS, HistoryConfig,
                             check_window_room, min_window_length)

# Bump when the layout of an example changes (source order, target, window rule...).
FORMAT_VERSION = "s2s-cls-history-sep-window-sep/answer-sep/v4"  # v4: span targets = passage pieces
# [CLS], the [SEP] after the history and the [SEP] after the window.
SOURCE_SPECIAL_TOKENS = QUERY_SPECIAL_TOKENS
# How the user knows the window settings (flags), for the room check's errors.
WINDOW_SETTING_NAMES = ("max_source_seq_length",
                        "max_query_length (--history_tokens)", "--window_stride")
# Defaults of the history and window settings for long sources (the fixed values of v1).
HISTORY_TOKENS, WINDOW_STRIDE = 60, 128
# The history format of a seq2seq model unless told otherwise (training, and chat with a
# model whose args.json names none).
DEFAULT_HISTORY_FORMAT = "QAQAFQ"


@dataclass(frozen=True)
class SourceConfig:
    """Every setting that shapes the examples (all of it goes into the cache key).
    `max_query_length` and `doc_stride` None mean the defaults that scale with the
    source length (module docstring); they are resolved here, once."""

    max_source_seq_length: int = 464  # source tokens, [CLS] and both [SEP]s included
    max_target_seq_length: int = 48   # target tokens, the final [SEP] included
    history_format: str = DEFAULT_HISTORY_FORMAT  # one of HISTORY_FORMATS
    max_query_length: Optional[int] = None  # history + question keeps its last this many tokens
    doc_stride: Optional[int] = None   # step between the starts of two passage windows
    history_len: int = 2            # previous turns in the history

    def __post_init__(self):
        if self.history_format not in HISTORY_FORMATS:
            raise ConfigError(f"history_format must be one of {', '.join(HISTORY_FORMATS)}, "
                              f"got {self.history_format!r}")
        if self.max_source_seq_length < 3:
            raise ConfigError(f"max_source_seq_length must be at least 3 ([CLS], a source token "
                              f"and [SEP]), got {self.max_source_seq_length}")
        if self.max_query_length is None:
            room = (self.max_source_seq_length - SOURCE_SPECIAL_TOKENS) // 2
            object.__setattr__(self, "max_query_length", max(1, min(HISTORY_TOKENS, room)))
        if self.doc_stride is None:
            half = self.min_window_length // 2
            object.__setattr__(self, "doc_stride", max(1, min(WINDOW_STRIDE, half)))
        if self.max_query_length < 1:
            raise ConfigError(f"max_query_length (--history_tokens) must be at least 1, got "
                              f"{self.max_query_length}")
        if self.doc_stride < 1:
            raise ConfigError(f"doc_stride (--window_stride) must be at least 1, got {self.doc_stride}")
        if self.history_len < 0:
            raise ConfigError(f"history_len (--history_turns) must be at least 0, got {self.history_len}")
        if self.max_target_seq_length < 2:
            raise ConfigError(f"max_target_seq_length must be at least 2 (one answer token and "
                              f"[SEP]), got {self.max_target_seq_length}")

    def check_dialogue_layout(self) -> None:
        """What [CLS] history [SEP] window [SEP] needs (dialogue files only; JSON lines
        have no history and no windows): room for a window, a stride that skips nothing."""
        check_window_room(self.max_source_seq_length, self.max_query_length, self.doc_stride,
                          WINDOW_SETTING_NAMES)

    @property
    def history(self) -> HistoryConfig:
        """What goes into a turn's history: `history_len` turns in `history_format`."""
        return HistoryConfig(self.history_len, self.max_query_length, self.history_format)

    @property
    def min_window_length(self) -> int:
        """Passage tokens per window when the history is as long as it may be."""
        return min_window_length(self.max_source_seq_length, self.max_query_length)

    def settings(self) -> Dict[str, Any]:
        """The settings for the cache key, with the format version."""
        return {**asdict(self), "format_version": FORMAT_VERSION}
