"""coqa.extractive.display: the decoded features logged before training, and the warning
when the tokenizer reads the passages as [UNK]."""
from __future__ import annotations

import logging

from transformers import BertTokenizerFast

from coqa.data.dialogue import AnswerKind, Dialogue, Turn
from coqa.extractive.display import log_features
from coqa.extractive.features import FeatureConfig, build_features

PASSAGE = "小明住在杭州。他养了一只猫。"
DIALOGUE = Dialogue("d1", "test", PASSAGE,
                    (Turn(1, "小明住在哪里？", "", ("杭州",), AnswerKind.SPAN, (4, 6)),))
CONFIG = FeatureConfig(max_seq_length=32, doc_stride=8, max_query_length=12)


def unk_warnings(tokenizer, caplog):
    features = build_features([DIALOGUE], tokenizer, CONFIG, show_progress=False)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        log_features(features, tokenizer)
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "[UNK]" in r.getMessage()]


def test_a_tokenizer_built_without_its_vocabulary_is_said(tmp_path, caplog):
    vocab = tmp_path / "vocab.txt"
    chars = sorted(set(PASSAGE + "小明住在哪里？"))
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n",
                     encoding="utf-8")
    assert unk_warnings(BertTokenizerFast(str(vocab)), caplog) == []
    # transformers 5 reads no vocabulary from the keyword: five special tokens, all [UNK].
    said = unk_warnings(BertTokenizerFast(vocab_file=str(vocab)), caplog)
    assert len(said) == 1 and said[0].startswith("100% of the passage tokens are [UNK]")


def test_a_byte_level_query_is_shown_as_text(tmp_path):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    from coqa.extractive.display import decode_feature

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([PASSAGE, "小明住在哪里？"] * 5, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                            show_progress=False)
    bpe.save_model(str(tmp_path))
    tokenizer = RobertaTokenizer(vocab=str(tmp_path / "vocab.json"),
                                 merges=str(tmp_path / "merges.txt"))
    features = build_features([DIALOGUE], tokenizer, CONFIG, show_progress=False)
    query, window, label = decode_feature(features, 0, tokenizer)
    # The label is the shortest run of whole tokens holding the span: BPE pieces may
    # reach past it ("小明住在杭州" is one word to the byte-level pre-tokenizer).
    assert (query, window) == ("小明住在哪里？", PASSAGE) and "杭州" in label
