#!/usr/bin/env python
"""UniLM-style seq2seq for conversational QA: two programs behind one script.

- fine-tuning (`seq2seq.fine_tune`), the default: UniLM s2s-ft's run_seq2seq.py flags;
- decoding (`seq2seq.decode`): --do_decode, or --model_path and --input_file without
  --train_file, as the old decode_seq2seq.py ran; the old command lines run as they were.

Each has its own flags and --help (`run_seq2seq.py --do_train --help`,
`run_seq2seq.py --do_decode --help`). The flags are parsed before torch is imported, so a
typo is answered at once.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from coqa.cli import exit_on_bad_input, explicit_dests
from seq2seq.arguments import (DECODE, check_required, dispatcher_help, mode_of, parse_mode_args,
                               parser_for)


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    mode = mode_of(argv)
    if mode is None:  # a bare --help: how to get each program's
        print(dispatcher_help(), end="")
        return 0
    args = parse_mode_args(mode, argv)
    explicit = explicit_dests(parser_for(mode), argv)
    check_required(mode, args)
    # Imported once the flags are parsed: both import torch.
    if mode == DECODE:
        from seq2seq import decode
        return decode.run(args, explicit)
    from seq2seq import fine_tune
    return fine_tune.run(args, explicit)


if __name__ == "__main__":
    sys.exit(main())
