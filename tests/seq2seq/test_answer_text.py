"""Answer text from generated ids (`seq2seq.answer_text`): with --do_rule, an answer whose
[UNK] tokens stood for characters the vocabulary lacks takes them back from its passage."""
from __future__ import annotations

import pytest
from transformers import BertTokenizerFast

from seq2seq.answer_text import AnswerText

PASSAGE = "林建国于2017年10月25日在合肥启动了「Orion」项目，总部后来迁往兰州"
MISSING = set("7兰")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """A BERT vocabulary of the passage's characters less 7 and 兰 (they become [UNK])."""
    folder = tmp_path_factory.mktemp("unk_vocab")
    chars = sorted(set(PASSAGE.lower()) - MISSING)
    pieces = chars + ["##" + c for c in chars if c.isascii() and c.isalnum()]
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                                 *pieces]) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), vocab=str(folder / "vocab.txt"),
                             do_lower_case=True)


def ids_of(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False) + [tokenizer.sep_token_id]


@pytest.mark.parametrize("answer, without_rule, with_rule", [
    ("兰州", "州", "兰州"),                              # a leading [UNK]: one character
    ("2017年10月25日", "年10月25日", "2017年10月25日"),   # [UNK] for a whole digit run
    ("迁往兰州", "迁往州", "迁往兰州"),                   # inside the answer
    ("orion", "orion", "Orion"),                         # no [UNK]: the passage's spelling
])
def test_unknown_tokens_come_back_from_the_passage(tokenizer, answer, without_rule, with_rule):
    ids = ids_of(tokenizer, answer)
    assert tokenizer.unk_token_id in ids or not set(answer) & MISSING
    text = AnswerText.of(tokenizer)
    assert text.text(ids) == without_rule
    assert text.in_passage(ids, PASSAGE) == with_rule


def test_an_answer_not_in_the_passage_keeps_its_own_text(tokenizer):
    text = AnswerText.of(tokenizer)
    for answer in ("兰林", "合肥兰"):  # [UNK] then a character the passage never follows by it
        ids = ids_of(tokenizer, answer)
        assert text.in_passage(ids, PASSAGE) == text.text(ids)
    assert text.in_passage([tokenizer.unk_token_id, tokenizer.sep_token_id], PASSAGE) == ""


def test_a_tokenizer_that_reads_the_data_as_unk_is_said_before_training(tokenizer, tmp_path,
                                                                        caplog):
    """transformers 5's BertTokenizerFast(vocab_file=...) builds a tokenizer of the five
    special tokens only: every source is [UNK]s, and nothing else would say so."""
    import logging

    from seq2seq.config import SourceConfig
    from seq2seq.examples import load_or_build_examples, log_examples
    from tests.conftest import REPO

    config = SourceConfig(max_source_seq_length=64, max_target_seq_length=8)
    data = load_or_build_examples(str(REPO / "data/sample/dev.json"), tokenizer, config, True,
                                  tmp_path)  # a vocabulary of PASSAGE's characters only
    caplog.set_level(logging.INFO)
    log_examples(data, tokenizer)
    said = [r for r in caplog.records if r.levelno == logging.WARNING and "[UNK]" in r.getMessage()]
    assert len(said) == 1 and "tokenizer" in said[0].getMessage()
