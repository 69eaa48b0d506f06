"""RoBERTa and XLM-R folders as seq2seq encoders: read as BERT (`seq2seq.weights`), the
same hidden states and masked-LM logits as transformers' own model; fine-tuned and decoded
through run_seq2seq.py with a byte-level BPE tokenizer (<s>, </s>, <mask>), whose answers
come back as Chinese text (`seq2seq.answer_text`)."""
from __future__ import annotations

import json

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (PreTrainedTokenizerFast, RobertaConfig, RobertaForMaskedLM,
                          XLMRobertaConfig, XLMRobertaModel)

import run_seq2seq
from seq2seq.answer_text import AnswerText
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel
from tests.conftest import REPO

SAMPLE = REPO / "data" / "sample"
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def sample_texts():
    for name in ("train.json", "dev.json"):
        for dialogue in json.loads((SAMPLE / name).read_text(encoding="utf-8"))["data"]:
            yield dialogue["Passage"]
            yield from (q["input_text"] for q in dialogue["Questions"])
            yield from (a["input_text"] for a in dialogue["Answers"])


def byte_level_tokenizer(folder, vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """RoBERTa's kind of tokenizer: byte-level BPE, "张" spelled over several pieces."""
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(sample_texts(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                        sep_token="</s>", cls_token="<s>", unk_token="<unk>",
                                        pad_token="<pad>", mask_token="<mask>")
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_config(cls, vocab_size: int):
    # hidden 40 (not a multiple of 64), one token type, 34 positions: 32 usable.
    return cls(vocab_size=vocab_size, hidden_size=40, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=80, max_position_embeddings=34, type_vocab_size=1,
               pad_token_id=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.mark.parametrize("kind", ["roberta_mlm", "xlmr_encoder"])
def test_read_as_bert_it_computes_what_transformers_computes(kind, tmp_path):
    torch.manual_seed(0)
    if kind == "roberta_mlm":
        reference = RobertaForMaskedLM(tiny_config(RobertaConfig, 60)).eval()
        encoder = reference.roberta
    else:
        reference = encoder = XLMRobertaModel(tiny_config(XLMRobertaConfig, 60),
                                              add_pooling_layer=True).eval()
    reference.save_pretrained(tmp_path)
    model = Seq2SeqModel.from_pretrained(tmp_path, Seq2SeqConfig(
        max_source_length=20, max_target_length=12, mask_token_id=4, sep_token_id=2),
        new_head=True).eval()
    assert model.mlm.config.max_position_embeddings == 32  # 34 rows less padding_idx + 1
    ids = torch.tensor([[0, 7, 9, 11, 13, 2, 21, 22, 2]])  # (1, 9)
    with torch.no_grad():
        expected = encoder(input_ids=ids).last_hidden_state  # (1, 9, 40)
        bert = model.mlm.bert(input_ids=ids, position_ids=torch.arange(9)[None])
        torch.testing.assert_close(bert.last_hidden_state, expected)
        if kind == "roberta_mlm":
            torch.testing.assert_close(model.mlm(input_ids=ids).logits,
                                       reference(input_ids=ids).logits)


def test_byte_level_answer_text_is_chinese(tmp_path):
    tokenizer = byte_level_tokenizer(tmp_path)
    text = AnswerText.of(tokenizer)
    ids = tokenizer.encode("小象鼻鼻住在2009年的草原上。", add_special_tokens=False)
    assert len(ids) > 1
    assert text.text(ids + [tokenizer.sep_token_id, ids[0]]) == "小象鼻鼻住在2009年的草原上。"
    assert text.text([tokenizer.mask_token_id] + ids[:1] + [tokenizer.pad_token_id]) == \
        tokenizer.decode(ids[:1]).replace("\ufffd", "")
    spaced = tokenizer.encode("小象 鼻鼻", add_special_tokens=False)
    assert text.text(spaced) == "小象鼻鼻"


def test_a_roberta_folder_fine_tunes_and_decodes(tmp_path):
    tokenizer = byte_level_tokenizer(tmp_path / "roberta")
    torch.manual_seed(0)
    RobertaForMaskedLM(tiny_config(RobertaConfig, len(tokenizer))).save_pretrained(
        tmp_path / "roberta")
    out = tmp_path / "model"
    assert run_seq2seq.main([
        "--model_type", "roberta", "--model_name_or_path", str(tmp_path / "roberta"),
        "--train_file", str(SAMPLE / "train.json"), "--output_dir", str(out),
        "--max_source_seq_length", "48", "--max_target_seq_length", "8",
        "--num_training_steps", "2", "--save_steps", "0", "--no_cuda",
        "--cached_train_features_file", str(tmp_path / "cache")]) == 0
    predictions = tmp_path / "predictions.json"
    assert run_seq2seq.main([
        "--model_path", str(out), "--input_file", str(SAMPLE / "dev.json"),
        "--output_file", str(predictions), "--max_tgt_length", "8", "--subset", "8",
        "--beam_size", "2", "--no_cuda"]) == 0
    answers = [p["answer"] for p in json.loads(predictions.read_text(encoding="utf-8"))]
    assert len(answers) == 8
    # A random model's answers, but text: none of the byte alphabet's stand-ins ("å¼ł"
    # for "张", "Ġ" for a space), all in U+00A1-U+0143, leaks.
    assert not any(0xA0 < ord(char) < 0x144 for answer in answers for char in answer), answers
