"""Ask a trained model questions about a passage, one after another.

    python -m coqa.chat --model DIR [--passage FILE]            # extractive (run_coqa.py)
    python -m coqa.chat --model DIR [--passage FILE] --seq2seq  # generative (run_seq2seq.py)

Each answer comes with its kind (span, 是的, 不是 or 无法作答), its probability (a softmax over
the turn's candidates: the n-best spans and the three class answers) and the passage
window it came from; earlier questions and the model's own answers are the history, as
with `--history_source predicted`. Commands: `:reset`, `:history`, `:passage`, `:quit`
(Ctrl-C leaves as :quit does); an empty passage is refused (see `coqa.repl`).

`--seq2seq` runs `python -m seq2seq.chat` with the same flags in this process's place:
coqa never imports seq2seq (tests/test_layering.py), the generative side lives there.
"""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from coqa.cli import exit_on_bad_input
from coqa.repl import build_parser, read_passage_file, run_chat


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.seq2seq:  # replace this process: seq2seq is above coqa in the layers
        rest = [a for a in argv if a != "--seq2seq"]
        os.execv(sys.executable, [sys.executable, "-m", "seq2seq.chat", *rest])
    passage = read_passage_file(args.passage)
    # Imported once the flags are parsed: a typo is answered without loading torch.
    import torch

    from coqa.data.folders import load_tokenizer
    from coqa.extractive.answerer import ExtractiveAnswerer
    from coqa.extractive.loading import load_trained_model, prepare_history_encoding

    device = torch.device("cuda" if torch.cuda.is_available() and not args.no_cuda else "cpu")
    trained = load_trained_model(args.model)  # its heads and the features it was trained on
    tokenizer = load_tokenizer(args.model)
    prepare_history_encoding(tokenizer, trained.model, trained.features, args.model)
    answerer = ExtractiveAnswerer(trained.model.to(device).eval(), tokenizer, trained.features,
                                  device)
    run_chat(answerer, passage, sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
