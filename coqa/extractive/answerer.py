"""One dialogue answered by an extractive model, turn by turn: what `python -m coqa.chat`
asks (`coqa.repl.Answerer`). The last turn is featurised with the model's earlier answers
as its history, exactly as with `--history_source predicted`.

With `--history_encoding hae` or `markers` the earlier answers are marked at the passage
characters the model answered them from: the answerer remembers each answer's span, by
passage, position in the dialogue, question and answer, since the chat loop keeps only
their text.

The answer's probability is a softmax over the turn's candidates: its n-best list, which
always holds the scores of 是的, 不是 and 无法作答 besides the best spans
(coqa.extractive.postprocess); not calibrated, but comparable between answers, where the
raw sums of start and end logits are not."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from coqa.extractive.features import FeatureConfig, FeatureSet, build_features
from coqa.extractive.history_marks import with_history_spans
from coqa.extractive.inference import InferenceConfig, predict_logits
from coqa.extractive.labels import CLASS_TEXT, SPECIAL_NAMES
from coqa.extractive.postprocess import PostprocessConfig, answer_offsets, predict_answers
from coqa.repl import ChatAnswer, chat_dialogue

KIND_SHOWN = {"span": "span", **{name: CLASS_TEXT[i] for i, name in enumerate(SPECIAL_NAMES)}}


def candidate_probability(nbest: Sequence[dict]) -> float:
    """Softmax over the n-best list's scores: the share of its first entry (the answer)."""
    scores = np.array([entry["score"] for entry in nbest], dtype=np.float64)
    weights = np.exp(scores - scores.max())
    return float(weights[0] / weights.sum())


@dataclass
class ExtractiveAnswerer:
    """One dialogue, its last turn featurised with the model's earlier answers."""

    model: torch.nn.Module
    tokenizer: object
    features: FeatureConfig
    device: torch.device
    post: PostprocessConfig = PostprocessConfig()
    # (passage, position, question, answer) -> the answer's characters in the passage
    spans: Dict[Tuple[str, int, str, str], Optional[Tuple[int, int]]] = field(default_factory=dict)

    def answer(self, passage: str, history: Sequence[Tuple[str, str]], question: str) -> ChatAnswer:
        dialogue = chat_dialogue(passage, history, question)
        dialogue = with_history_spans(dialogue, {
            turn.turn_id: self.spans.get((passage, position, q, a))
            for position, (turn, (q, a)) in enumerate(zip(dialogue.turns, history))})
        built = build_features([dialogue], self.tokenizer, self.features, show_progress=False,
                               last_turn_only=True)
        start, end = predict_logits(self.model, built, InferenceConfig(show_progress=False),
                                    self.device)
        _, nbest = predict_answers(start, end, built, self.post)
        entries = next(iter(nbest.values()))
        best = entries[0]
        self.spans[(passage, len(history), question, best["text"])] = answer_offsets(
            entries, best["text"])
        return ChatAnswer(best["text"], KIND_SHOWN[best["kind"]], candidate_probability(entries),
                          self.window_of(built, start, end, best))

    def window_of(self, built: FeatureSet, start: np.ndarray, end: np.ndarray, best) -> str:
        """The window whose own best answer is the chosen one with the highest score."""
        found = []
        for row in range(len(built)):
            one = SimpleNamespace(example_index=built.example_index[row:row + 1],
                                  token_offsets=built.token_offsets[row:row + 1],
                                  examples=built.examples, passages=built.passages)
            _, nbest = predict_answers(start[row:row + 1], end[row:row + 1], one, self.post)
            top = next(iter(nbest.values()))[0]
            if (top["text"], top["kind"]) == (best["text"], best["kind"]):
                found.append((top["score"], row))
        row = max(found)[1] if found else 0
        offsets = built.token_offsets[row]
        chars = offsets[offsets[:, 0] >= 0]
        return (f"window {row + 1} of {len(built)} (passage characters "
                f"{int(chars[:, 0].min())}-{int(chars[:, 1].max())})")
