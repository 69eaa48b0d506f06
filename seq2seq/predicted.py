"""Decoding with predicted history (and gold side by side) for run_seq2seq.py.

With predicted history, turn t of every dialogue gets its source from the model's own
answers to turns < t (`coqa.data.history.predict_turn_by_turn`): round t builds the
sources of turn t of all dialogues that have one, decodes them in batches and appends
the answers. With answers equal to the gold, the sources are those of gold history.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from coqa.data.files import write_atomically, write_json
from coqa.data.outputs import Answered, WritePredictions
from coqa.data.dialogue import Dialogue
from coqa.data.errors import UsageError
from coqa.data.history import predict_turn_by_turn, resolve_history_sources
from coqa.data.jsonlines import COQA_FILE, detect_format
from coqa.data.readers import load_dialogues
from seq2seq.config import SourceConfig
from seq2seq.decoding import DecodeConfig
from seq2seq.examples import Seq2SeqData, pack_examples
from seq2seq.model import Seq2SeqModel
from seq2seq.sources import last_turn_examples
from seq2seq.steps import decode_answers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryRun:
    """Where the answers go and how they are decoded and scored."""

    input_file: str
    output_file: Path
    split: str
    batch_size: int
    nbest: bool
    do_rule: bool
    score: bool
    subset: int = 0


def history_sources_for(input_file: str, choice: Optional[str], skip_invalid: bool,
                        scoring: bool) -> Tuple[Tuple[str, ...], List[Dialogue]]:
    """The histories to decode with and the file's dialogues (none for JSON lines,
    whose sources already hold their history)."""
    if detect_format(input_file) != COQA_FILE:
        if choice in ("predicted", "both"):
            raise UsageError(f"--history_source {choice} needs a ConvQA_CN / CoQA file; "
                             f"{input_file} is JSON lines, whose src holds its history")
        return ("gold",), []
    dialogues = load_dialogues(input_file, skip_invalid, questions_only=True).dialogues
    return resolve_history_sources(choice, input_file, dialogues, scoring), dialogues


def decode_predicted_history(model: Seq2SeqModel, dialogues: Sequence[Dialogue], tokenizer,
                             source: SourceConfig, config: DecodeConfig, ignore_ids,
                             run: HistoryRun) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Every turn's answer with predicted history, `[{"id", "turn_id", "answer"}]` in
    dialogue and turn order, and the n-best details (with `run.nbest`)."""
    details: Dict[Tuple[str, int], Dict[str, Any]] = {}

    def answer_round(cut: List[Dialogue]) -> List[str]:
        data = pack_examples(last_turn_examples(cut, tokenizer, source), tokenizer)
        answers, round_details = decode_answers(model, data, tokenizer, config, run.batch_size,
                                                ignore_ids, run.nbest,
                                                data.passages if run.do_rule else None)
        for record, detail in zip(data.records, round_details):
            details[(record.dialogue_id, record.turn_id)] = detail
        return answers

    answers = predict_turn_by_turn(dialogues, source.history_len, answer_round)
    keys = [(d.id, t.turn_id) for d in dialogues for t in d.turns]
    return ([{"id": key[0], "turn_id": key[1], "answer": answers[key]} for key in keys],
            [details[key] for key in keys if key in details])


def history_answerer(model: Seq2SeqModel, gold_data: Seq2SeqData,
                     dialogues: Sequence[Dialogue], tokenizer, source: SourceConfig,
                     config: DecodeConfig, ignore_ids, run: HistoryRun) -> Callable[[str], Answered]:
    """`answer(history)` for `coqa.data.outputs.predict_write_score`: the examples of
    `gold_data` decoded as they are (gold history, or JSON lines whose sources hold their
    history), or every dialogue decoded turn by turn with predicted history."""
    def answer(history: str) -> Answered:
        if history == "predicted":
            predictions, details = decode_predicted_history(model, dialogues, tokenizer,
                                                            source, config, ignore_ids, run)
            return predictions, details if run.nbest else None
        passages = gold_data.passages if run.do_rule else None
        if passages is not None and not all(passages):
            logger.warning("--do_rule: %d of %d examples have no passage; their answers stay "
                           "as decoded", sum(not p for p in passages), len(passages))
        answers, details = decode_answers(model, gold_data, tokenizer, config, run.batch_size,
                                          ignore_ids, run.nbest, passages)
        records = (gold_data.prediction_records(answers) if gold_data.has_turn_ids
                   else [{"answer": a} for a in answers])
        return records, details if run.nbest else None
    return answer


def answers_writer(data: Seq2SeqData) -> WritePredictions:
    """`[{"id", "turn_id", "answer"}]` when every example knows its turn (dialogue files,
    JSON lines with "id"), else one answer per line, as UniLM's decode_seq2seq.py wrote."""
    if data.has_turn_ids:
        return write_json

    def write_lines(path: Path, predictions) -> None:
        text = "".join(p["answer"] + "\n" for p in predictions).encode("utf-8")
        write_atomically(path, lambda handle: handle.write(text))
    return write_lines
