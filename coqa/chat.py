"""Ask a trained model questions about a passage, one after another.

    python -m coqa.chat --model DIR [--passage FILE]            # extractive (run_coqa.py)
    python -m coqa.chat --model DIR [--passage FILE] --seq2seq  # generative (run_seq2seq.py)

Each answer comes with its score (start + end logit of the chosen span, or of 是的 / 不是 /
无法作答) and the passage window it came from; earlier questions and the model's own
answers are the history, as with `--history_source predicted`. Commands: `:reset`,
`:history`, `:passage`, `:quit` (see `coqa.repl`).

`--seq2seq` runs `python -m seq2seq.chat` with the same flags in this process's place:
coqa never imports seq2seq (tests/test_layering.py), the generative side lives there.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from coqa.cli import exit_on_bad_input
from coqa.data.folders import load_tokenizer
from coqa.extractive.features import FeatureConfig, FeatureSet, build_features
from coqa.extractive.inference import InferenceConfig, predict_logits
from coqa.extractive.loading import load_trained_model
from coqa.extractive.postprocess import PostprocessConfig, predict_answers
from coqa.repl import ChatAnswer, build_parser, chat_dialogue, read_passage_file, run_chat

@dataclass
class ExtractiveAnswerer:
    """One dialogue, its last turn featurised with the model's earlier answers."""

    model: torch.nn.Module
    tokenizer: object
    features: FeatureConfig
    device: torch.device
    post: PostprocessConfig = PostprocessConfig()

    def answer(self, passage: str, history: Sequence[Tuple[str, str]], question: str) -> ChatAnswer:
        built = build_features([chat_dialogue(passage, history, question)], self.tokenizer,
                               self.features, show_progress=False, last_turn_only=True)
        start, end = predict_logits(self.model, built, InferenceConfig(show_progress=False),
                                    self.device)
        _, nbest = predict_answers(start, end, built, self.post)
        best = next(iter(nbest.values()))[0]
        return ChatAnswer(best["text"], best["score"], self.window_of(built, start, end, best))

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


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.seq2seq:  # replace this process: seq2seq is above coqa in the layers
        rest = [a for a in argv if a != "--seq2seq"]
        os.execv(sys.executable, [sys.executable, "-m", "seq2seq.chat", *rest])
    passage = read_passage_file(args.passage)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.no_cuda else "cpu")
    trained = load_trained_model(args.model)  # its heads and the features it was trained on
    answerer = ExtractiveAnswerer(trained.model.to(device).eval(), load_tokenizer(args.model),
                                  trained.features, device)
    run_chat(answerer, passage, sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
