"""Ask a trained seq2seq model questions about a passage, one after another.

    python -m seq2seq.chat --model DIR [--passage FILE] [--beam_size 1]

(also `python -m coqa.chat --seq2seq ...`). Each answer comes with its kind (是的, 不是,
无法作答, span when the passage holds its text, else free-form), its probability (exp of
the decoded answer's log-probability) and the passage window of its source; the history is
the model's own earlier answers, shaped as the model was trained (its
preprocessing_config.json; an s2s-ft ckpt-N folder: the defaults).
Commands: `:reset`, `:history`, `:passage`, `:quit` (see `coqa.repl`).
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from coqa.cli import exit_on_bad_input
from coqa.repl import build_parser as chat_parser
from coqa.repl import read_passage_file, run_chat


def build_parser():
    parser = chat_parser("python -m seq2seq.chat")
    parser.add_argument("--beam_size", type=int, default=1, help="beam size (1: greedy)")
    return parser


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    passage = read_passage_file(args.passage)
    # Imported once the flags are parsed: a typo is answered without loading torch.
    import torch

    from coqa.data.folders import load_tokenizer
    from seq2seq.answerer import GenerativeAnswerer
    from seq2seq.config import SourceConfig
    from seq2seq.decoding import DecodeConfig
    from seq2seq.loading import load_trained_seq2seq
    from seq2seq.model import Seq2SeqConfig

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
