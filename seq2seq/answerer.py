"""One dialogue answered by a seq2seq model, turn by turn: what `python -m seq2seq.chat`
asks (`coqa.repl.Answerer`). The last turn's source is built with the model's earlier
answers as its history, shaped as the model was trained. The answer's probability is
exp(its log-probability, [SEP] included, before any length penalty); its kind is read off
its text (`coqa.repl.answer_kind`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import torch

from coqa.repl import ChatAnswer, answer_kind, chat_dialogue
from seq2seq.answer_text import AnswerText
from seq2seq.config import SourceConfig
from seq2seq.decoding import DecodeConfig, decode
from seq2seq.examples import Seq2SeqData, pack_examples
from seq2seq.model import Seq2SeqModel
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
                            nbest=True)
        best = output.answers[0]
        text = AnswerText.of(self.tokenizer).text(best.token_ids)
        log_prob = best.nbest[0].log_prob if best.nbest else -math.inf
        return ChatAnswer(text, answer_kind(text, passage), math.exp(log_prob),
                          self.window_of(data))

    def window_of(self, data: Seq2SeqData) -> str:
        """The passage part of the source: after the first [SEP], without the last."""
        ids = data.source(0)
        sep = self.tokenizer.sep_token_id
        window = ids[ids.index(sep) + 1:-1] if sep in ids[:-1] else []
        text = AnswerText.of(self.tokenizer).text(window)
        shown = text if len(text) <= 24 else f"{text[:10]}…{text[-10:]}"
        return f"window of {len(window)} passage tokens 「{shown}」"
