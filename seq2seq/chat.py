"""Ask a trained seq2seq model questions about a passage, one after another.

    python -m seq2seq.chat --model DIR [--passage FILE] [--beam_size 1]

(also `python -m coqa.chat --seq2seq ...`). Each answer comes with its score (the log-
probability of the decoded answer) and the passage window of its source; the history is
the model's own earlier answers, shaped as the model was trained (its
preprocessing_config.json; an s2s-ft ckpt-N folder: the defaults).
Commands: `:reset`, `:history`, `:passage`, `:quit` (see `coqa.repl`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch

from coqa.cli import exit_on_bad_input
from coqa.data.folders import load_tokenizer
from coqa.data.text import detokenize
from coqa.repl import ChatAnswer, chat_dialogue, read_passage_file, run_chat
from coqa.repl import build_parser as chat_parser
from seq2seq.config import SourceConfig
from seq2seq.decoding import DecodeConfig, decode
from seq2seq.examples import Seq2SeqData, pack_examples
from seq2seq.loading import load_trained_seq2seq
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel
from seq2seq.sources import last_turn_examples


@dataclass
class GenerativeAnswerer:
    model: Seq2SeqModel
    tokenizer: object
    source: SourceConfig
    decoding: DecodeConfig
    device: torch.device

    def answer(self, passage: str, history: Sequence[Tuple[str, str]], question: str) -> ChatAnswer:
        data = pack_examples(last_turn_examples([chat_dialogue(passage, history, question)],
                                                self.tokenizer, self.source), self.tokenizer)
        batch = data.batch([0])
        with torch.inference_mode():
            output = decode(self.model, batch["source_ids"].to(self.device),
                            batch["source_mask"].to(self.device), self.decoding, frozenset(),
                            False)
        best = output.answers[0]
        text = detokenize(self.tokenizer.convert_ids_to_tokens(list(best.token_ids)))
        return ChatAnswer(text, float(best.score), self.window_of(data))

    def window_of(self, data: Seq2SeqData) -> str:
        """The passage part of the source: after the first [SEP], without the last."""
        ids = data.source(0)
        sep = self.tokenizer.sep_token_id
        window = ids[ids.index(sep) + 1:-1] if sep in ids[:-1] else []
        text = detokenize(self.tokenizer.convert_ids_to_tokens(window))
        shown = text if len(text) <= 24 else f"{text[:10]}…{text[-10:]}"
        return f"window of {len(window)} passage tokens 「{shown}」"


def build_parser():
    parser = chat_parser("python -m seq2seq.chat")
    parser.add_argument("--beam_size", type=int, default=1, help="beam size (1: greedy)")
    return parser


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    passage = read_passage_file(args.passage)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.no_cuda else "cpu")
    tokenizer = load_tokenizer(args.model)
    fallback = Seq2SeqConfig(mask_token_id=tokenizer.mask_token_id,
                             sep_token_id=tokenizer.sep_token_id)
    defaults = SourceConfig(max_source_seq_length=fallback.max_source_length,
                            max_target_seq_length=max(2, fallback.max_target_length))
    trained = load_trained_seq2seq(args.model, defaults, fallback=fallback)
    model = trained.model.to(device).eval()
    decoding = DecodeConfig(beam_size=args.beam_size, max_tgt_length=model.config.max_target_length)
    answerer = GenerativeAnswerer(model, tokenizer, trained.source, decoding, device)
    run_chat(answerer, passage, sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
