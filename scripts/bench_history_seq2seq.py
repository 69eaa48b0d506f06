"""The seq2seq side of scripts/bench_history.py: gold and predicted history decoding of
the same file with the same random UniLM.

Gold history is what `run_seq2seq.py --do_decode` does for a dialogue file (examples
built once, no cache, then `seq2seq.steps.decode_answers` over all of them); predicted
history is `seq2seq.predicted.decode_predicted_history` (one round per turn across all
dialogues: the sources of that turn from the answers decoded so far, then decoding).
Greedy decoding (beam 1), no n-best, no passage spelling rule, on CPU.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Dict, Tuple


def seq2seq_runs(args: argparse.Namespace, data: Path, tmp: Path
                 ) -> Tuple[Callable[[], int], Callable[[], int], Dict[str, Any]]:
    """(gold, predicted, settings): the two timed runs, each returning its answer count,
    and what the results record about the model and decoding."""
    from coqa.data.folders import load_tokenizer
    from coqa.data.readers import load_dialogues
    from coqa.tools.tiny import TinyBertConfig, dialogue_texts, write_tiny_bert
    from seq2seq.config import SourceConfig
    from seq2seq.decoding import DecodeConfig, resolve_ignore_ids
    from seq2seq.examples import build_examples
    from seq2seq.model import Seq2SeqConfig, Seq2SeqModel
    from seq2seq.predicted import HistoryRun, decode_predicted_history
    from seq2seq.steps import check_lengths, decode_answers

    target = args.max_tgt_length
    folder = write_tiny_bert(tmp / "unilm", dialogue_texts([str(data)]), TinyBertConfig(
        hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=max(1, args.hidden // 64), intermediate_size=4 * args.hidden,
        max_position_embeddings=max(512, args.seq_len + target), dropout=0.0))
    tokenizer = load_tokenizer(str(folder))
    model = Seq2SeqModel.from_pretrained(str(folder), Seq2SeqConfig(
        max_source_length=args.seq_len, max_target_length=target,
        mask_token_id=tokenizer.mask_token_id, sep_token_id=tokenizer.sep_token_id)).eval()
    source = SourceConfig(max_source_seq_length=args.seq_len,
                          max_target_seq_length=max(2, target))
    decode = DecodeConfig(beam_size=1, max_tgt_length=target)
    check_lengths(model, source.max_source_seq_length, decode.max_tgt_length)
    ignore = resolve_ignore_ids(decode.forbid_ignore_word, tokenizer.get_vocab())
    dialogues = load_dialogues(data, questions_only=True).dialogues
    run = HistoryRun(str(data), tmp / "answers.json", "dev", args.batch, nbest=False,
                     do_rule=False, score=False)

    def gold() -> int:
        examples = build_examples(data, tokenizer, source, training=False)
        return len(decode_answers(model, examples, tokenizer, decode, args.batch, ignore,
                                  False)[0])

    def predicted() -> int:
        return len(decode_predicted_history(model, dialogues, tokenizer, source, decode,
                                            ignore, run)[0])

    settings = {"model": f"random UniLM (BERT masked LM) hidden {args.hidden}, "
                         f"{args.layers} layers",
                "source_len": args.seq_len, "max_tgt_length": target, "beam_size": 1,
                "decode_method": decode.method, "history_turns": source.history_len,
                "rounds": max(len(d.turns) for d in dialogues)}
    return gold, predicted, settings
