"""Model folders that cannot work are one line, exit 2, naming the folder or file and what
is wrong (issue 19): a tokenizer without CLS / SEP / PAD, an embedding smaller than the
tokenizer's vocabulary, a config.json of an encoder family the pipelines cannot load."""
from __future__ import annotations

import json

import pytest

import run_coqa
import run_seq2seq
from tests.misuse.conftest import coqa_argv, copy, one_line, s2s_argv


def edit_json(path, **changes):
    values = json.loads(path.read_text(encoding="utf-8"))
    values.update(changes)
    path.write_text(json.dumps(values), encoding="utf-8")


def run_both(folder, tmp_path, cache):
    yield run_coqa.main(coqa_argv(folder, tmp_path / "coqa", cache, "--do_train", "--max_steps", "1"))
    yield run_seq2seq.main(s2s_argv(folder, tmp_path / "s2s", cache, "--num_training_steps", "1"))


def test_tokenizer_without_pad_token(model, cache, tmp_path, capsys):
    folder = copy(model, tmp_path / "model")
    edit_json(folder / "tokenizer_config.json", pad_token=None)
    for code in run_both(folder, tmp_path, cache):
        one_line(capsys, code, f"tokenizer in {folder}", "no PAD token")


def test_embedding_smaller_than_the_vocabulary(model, cache, tmp_path, capsys):
    folder = copy(model, tmp_path / "model")
    edit_json(folder / "config.json", vocab_size=50)
    for code in run_both(folder, tmp_path, cache):
        one_line(capsys, code, str(folder / "config.json"), "embedding 50 rows")


@pytest.mark.parametrize("model_type", ["t5", "gpt2"])
def test_config_of_an_encoder_we_cannot_load(model_type, model, cache, tmp_path, capsys):
    folder = copy(model, tmp_path / "model")
    edit_json(folder / "config.json", model_type=model_type, architectures=["Foo"])
    for code in run_both(folder, tmp_path, cache):
        one_line(capsys, code, str(folder / "config.json"), f"a {model_type!r} model")


def test_tokenizer_that_gives_no_tokens(model, cache, tmp_path, capsys):
    # A BPE model whose vocabulary is the special tokens, with no merges and no unknown
    # token, silently drops every character (transformers 5 builds one from
    # RobertaTokenizerFast(vocab_file=..., merges_file=...)): training went on with empty
    # windows and learned to answer 无法作答 to everything.
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder = copy(model, tmp_path / "model")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(specials)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, cls_token="[CLS]", sep_token="[SEP]",
                                        pad_token="[PAD]", mask_token="[MASK]", unk_token="[UNK]")
    tokenizer.save_pretrained(folder)
    for code in run_both(folder, tmp_path, cache):
        one_line(capsys, code, f"tokenizer in {folder}", "into no tokens")


def test_roberta_config_beside_a_bare_vocab_txt_names_the_fix(model, cache, tmp_path, capsys):
    # Chinese RoBERTa-wwm folders: model_type roberta, a BERT vocab.txt and no tokenizer
    # config; transformers then builds a RoBERTa BPE tokenizer with no vocabulary.
    folder = copy(model, tmp_path / "model")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    edit_json(folder / "config.json", model_type="roberta", architectures=["RobertaModel"])
    code = run_coqa.main(coqa_argv(folder, tmp_path / "coqa", cache, "--do_train", "--max_steps", "1"))
    one_line(capsys, code, f"tokenizer in {folder}", "into no tokens", '"tokenizer_class": "BertTokenizer"')
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "BertTokenizer"}', encoding="utf-8")
    assert run_coqa.main(coqa_argv(folder, tmp_path / "coqa2", cache, "--do_train", "--max_steps", "1",
                                   "--warmup_steps", "0")) == 0


def test_rtransformer_on_a_hidden_size_its_heads_do_not_divide(model, cache, tmp_path, capsys):
    # Hidden 30 with 3 encoder heads is a fine BERT; the R-Transformer's 4 heads cannot
    # split it. The message named "the encoder" as what could not be loaded.
    from transformers import BertConfig, BertModel

    folder = copy(model, tmp_path / "model")
    vocab_size = json.loads((folder / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    BertModel(BertConfig(vocab_size=vocab_size, hidden_size=30, num_hidden_layers=1,
                         num_attention_heads=3, intermediate_size=60,
                         max_position_embeddings=128)).save_pretrained(folder)
    code = run_coqa.main(coqa_argv(folder, tmp_path / "coqa", cache, "--do_train", "--max_steps", "1",
                                   "--middle", "rtransformer"))
    one_line(capsys, code, "--middle rtransformer", "hidden size 30", "4")
