"""coqa.data.folders: how many tokens an encoder's position table holds; which tokenizer folders load."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel

from coqa.data.errors import UsageError
from coqa.data.folders import encoder_max_positions, load_tokenizer


def tiny_encoder(model_type: str, tmp_path, **overrides):
    values = dict(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=16, max_position_embeddings=20)
    values.update(overrides)
    config = AutoConfig.for_model(model_type, **values)
    config.save_pretrained(tmp_path)
    return AutoModel.from_config(config).eval()


@pytest.mark.parametrize("model_type,overrides", [("bert", {}), ("electra", {}),
                                                  ("roberta", {}), ("roberta", {"pad_token_id": 0}),
                                                  ("xlm-roberta", {"pad_token_id": 1})])
def test_max_positions_is_the_longest_sequence_the_encoder_runs(model_type, overrides, tmp_path):
    # Oracle: the encoder itself. RoBERTa's position ids start at pad_token_id + 1.
    encoder = tiny_encoder(model_type, tmp_path, **overrides)
    length = encoder_max_positions(str(tmp_path))
    with torch.no_grad():
        encoder(input_ids=torch.full((1, length), 5))
        with pytest.raises((IndexError, RuntimeError)):
            encoder(input_ids=torch.full((1, length + 1), 5))


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "兰", "州", "大", "学", "hello", "2020"]


def test_a_folder_of_only_vocab_txt_loads_as_wordpiece(tmp_path):
    """s2s-ft's --tokenizer_name folders often hold vocab.txt alone: AutoTokenizer cannot
    tell its class; it is BERT's WordPiece list (lower-cased, as BertTokenizer is)."""
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = load_tokenizer(str(tmp_path))
    assert tokenizer.is_fast
    encoded = tokenizer("兰州大学 Hello 2020 京")
    assert encoded["input_ids"] == [2, 5, 6, 7, 8, 9, 10, 1, 3]
    assert encoded.char_to_token(1) == 2  # offsets: 州 is the second passage token


def test_a_tokenizer_folder_transformers_cannot_read_is_one_whole_line(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        load_tokenizer(str(tmp_path))
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path) in message
    assert not message.rstrip().endswith(":")  # transformers' list of causes is kept


def _cased_folder(tmp_path):
    from transformers import BertTokenizerFast

    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    BertTokenizerFast.from_pretrained(str(tmp_path), do_lower_case=False).save_pretrained(tmp_path)
    return tmp_path


def test_do_lower_case_on_a_cased_tokenizer_is_applied_and_said(tmp_path, caplog):
    folder = _cased_folder(tmp_path)
    assert load_tokenizer(str(folder)).tokenize("Hello") != ["hello"]
    assert not caplog.records
    assert load_tokenizer(str(folder), True).tokenize("Hello") == ["hello"]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "do_lower_case false" in caplog.records[0].getMessage()


def test_do_lower_case_on_a_lower_casing_tokenizer_says_nothing(tmp_path, caplog):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    assert load_tokenizer(str(tmp_path), True).tokenize("Hello") == ["hello"]
    assert not caplog.records
