"""The ConvQA model and its middle layers, on tiny random backbones (no weights needed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, BertConfig, ElectraConfig

import run_coqa
from coqa.extractive.arguments import build_parser
from coqa.extractive.middle import LocalRNN, build_middle
from coqa.extractive.model import ConvQAModel, ModelConfig, TOKEN_OFFSET, UNKNOWN_COLUMN
from coqa.train.optim import count_parameters
from tests.conftest import tiny_bert_config as shared_bert_config

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
MIDDLES = ("none", "bilstm", "rtransformer")
HIDDEN = 32
SEQ_LEN = 10
ATOL = 1e-5


def tiny_bert_config() -> BertConfig:
    return shared_bert_config(100, hidden_size=HIDDEN)


def tiny_electra_config() -> ElectraConfig:
    return ElectraConfig(vocab_size=100, embedding_size=16, hidden_size=HIDDEN,
                         num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=64)


def tiny_config(middle: str, **overrides) -> ModelConfig:
    """Small middle layers; the window (4) is shorter than the sequence so locality matters."""
    values = dict(middle=middle, lstm_hidden=8, rtransformer_window=4, rtransformer_heads=2,
                  rtransformer_ffn=48)
    values.update(overrides)
    return ModelConfig(**values)


def build(middle: str = "none", encoder_config=None, seed: int = 0, **overrides) -> ConvQAModel:
    torch.manual_seed(seed)
    model = ConvQAModel.from_encoder_config(encoder_config or tiny_bert_config(),
                                            tiny_config(middle, **overrides))
    return model.eval()


def make_batch(seed: int = 0, batch: int = 2, lengths=(SEQ_LEN, 7)):
    """Right-padded ids (padding id 0) and a 1/0 mask."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, 100, (batch, SEQ_LEN), generator=generator)
    positions = torch.arange(SEQ_LEN)
    attention_mask = (positions[None, :] < torch.tensor(lengths)[:, None]).long()
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask,
            "token_type_ids": (positions[None, :] >= 4).long().expand(batch, -1).clone()}


def pad_more(batch, extra: int = 5):
    """The same batch with `extra` more padding columns appended."""
    return {key: F.pad(value, (0, extra)) for key, value in batch.items()}


# ---- parameter counts with the real bert-base-chinese shapes ----------------------------

@pytest.mark.parametrize("middle, expected", [("none", 104_634_630), ("bilstm", 108_707_846),
                                              ("rtransformer", 115_858_182)])
def test_parameter_counts_bert_base_chinese(middle, expected):
    path = SHARED / "models" / "bert-base-chinese"
    if not (path / "config.json").is_file():
        pytest.skip(f"{path} not available")
    # The seed command line's flags build the old model (--exact_match is opt-in).
    args = build_parser().parse_args(["--model_type", "bert", "--model_name_or_path", str(path),
                                      "--output_dir", "out", "--middle", middle])
    _, config, _, _, _ = run_coqa.configs_from(args, frozenset(), cuda_available=False)
    # On the meta device: shapes only, no 100M random numbers drawn (counts are the same).
    with torch.device("meta"):
        old = ConvQAModel.from_encoder_config(AutoConfig.from_pretrained(path), config)
        # The exact-match embedding: 3 flags x the word-embedding width.
        model = ConvQAModel.from_encoder_config(AutoConfig.from_pretrained(path),
                                                ModelConfig(middle=middle, exact_match=True))
    assert count_parameters(old.encoder) == 102_267_648
    assert count_parameters(old) == expected
    assert count_parameters(model) == expected + 3 * 768


# ---- forward: shapes, padding ----------------------------------------------------------

@pytest.mark.parametrize("middle", MIDDLES)
def test_forward_shapes_and_padding_logits(middle):
    batch = make_batch()
    with torch.no_grad():
        out = build(middle)(**batch)
    assert set(out) == {"start_logits", "end_logits"}
    for name in ("start_logits", "end_logits"):
        assert out[name].shape == (2, TOKEN_OFFSET + SEQ_LEN)
        assert torch.isfinite(out[name]).all()
    # yes / no / unknown are shared by start and end
    assert torch.equal(out["start_logits"][:, :TOKEN_OFFSET], out["end_logits"][:, :TOKEN_OFFSET])
    padding = out["start_logits"][1, TOKEN_OFFSET + 7:]
    assert (padding < -1e30).all() and (out["start_logits"][1, :TOKEN_OFFSET + 7] > -1e3).all()


@pytest.mark.parametrize("middle", MIDDLES)
def test_appended_padding_changes_nothing(middle):
    model, batch = build(middle), make_batch()
    with torch.no_grad():
        short, long = model(**batch), model(**pad_more(batch))
    for name in ("start_logits", "end_logits"):
        assert torch.allclose(long[name][:, :TOKEN_OFFSET + SEQ_LEN], short[name], atol=ATOL)
        assert (long[name][:, TOKEN_OFFSET + SEQ_LEN:] < -1e30).all()


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_encoder_mask_ignores_padding_under_each_attention(implementation):
    torch.manual_seed(0)
    encoder = AutoModel.from_config(tiny_bert_config(), attn_implementation=implementation)
    model, batch = ConvQAModel(encoder, tiny_config("none")).eval(), make_batch()
    states = {}
    model.encoder.register_forward_hook(lambda m, a, out: states.update(last=out.last_hidden_state))
    with torch.no_grad():
        model(**batch)
        short = states["last"]
        model(**pad_more(batch))
        long = states["last"]
    real = batch["attention_mask"].bool()
    assert torch.allclose(long[:, :SEQ_LEN][real], short[real], atol=ATOL)


def test_sdpa_and_eager_give_the_same_logits():
    batch, logits = make_batch(), []
    for implementation in ("sdpa", "eager"):
        torch.manual_seed(0)
        encoder = AutoModel.from_config(tiny_bert_config(), attn_implementation=implementation)
        torch.manual_seed(1)
        model = ConvQAModel(encoder, tiny_config("bilstm")).eval()
        with torch.no_grad():
            logits.append(model(**batch)["start_logits"])
    assert torch.allclose(logits[0], logits[1], atol=ATOL)


def test_bf16_autocast_keeps_padding_logits_finite():
    model, batch = build("rtransformer"), make_batch()
    labels = {"start_positions": torch.tensor([3, 5]), "end_positions": torch.tensor([4, 6])}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**batch, **labels)
    assert torch.isfinite(out["start_logits"]).all() and torch.isfinite(out["loss"])
    assert (out["start_logits"][1, TOKEN_OFFSET + 7:] <= -1e3).all()


# ---- middle layers on their own --------------------------------------------------------

def run_middle(middle, x, mask):
    with torch.no_grad():
        return middle(x, mask)


@pytest.mark.parametrize("kind", ["bilstm", "rtransformer"])
def test_middle_zeroes_padding_and_never_gives_nan(kind):
    torch.manual_seed(0)
    middle = build_middle(tiny_config(kind).middle_config, HIDDEN).eval()
    x = torch.randn(3, 6, HIDDEN)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    out = run_middle(middle, x, mask)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert (out[~mask.bool()] == 0).all()


def test_rtransformer_attention_has_no_empty_row_even_with_left_padding():
    torch.manual_seed(0)
    middle = build_middle(tiny_config("rtransformer").middle_config, HIDDEN).eval()
    out = run_middle(middle, torch.randn(1, 5, HIDDEN), torch.tensor([[0, 0, 1, 1, 1]]))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("bidirectional", [False, True])
def test_rtransformer_is_causal_unless_bidirectional(bidirectional):
    torch.manual_seed(0)
    config = tiny_config("rtransformer", rtransformer_bidirectional=bidirectional)
    middle = build_middle(config.middle_config, HIDDEN).eval()
    x, mask, t = torch.randn(2, 12, HIDDEN), torch.ones(2, 12, dtype=torch.long), 5
    changed = x.clone()
    changed[:, t + 1] = torch.randn(2, HIDDEN)  # not a constant shift: LayerNorm would undo it
    before, after = run_middle(middle, x, mask), run_middle(middle, changed, mask)
    past_equal = torch.allclose(before[:, :t + 1], after[:, :t + 1], atol=ATOL)
    assert past_equal != bidirectional
    assert not torch.allclose(before[:, t + 1:], after[:, t + 1:], atol=ATOL)


def test_vectorised_local_rnn_equals_per_position_loop():
    torch.manual_seed(0)
    window, seq_len = 4, 9
    local = LocalRNN(HIDDEN, window).eval()
    x = torch.randn(2, seq_len, HIDDEN)
    expected = []
    for t in range(seq_len):  # the slow reference: one GRU call per position
        piece = x[:, max(0, t - window + 1):t + 1]
        piece = F.pad(piece, (0, 0, window - piece.size(1), 0))  # zeros on the left
        outputs, _ = local.gru(piece)
        expected.append(outputs[:, -1])
    with torch.no_grad():
        assert torch.allclose(local(x), torch.stack(expected, dim=1), atol=1e-6)


# ---- training, saving, loading ---------------------------------------------------------

@pytest.mark.parametrize("middle", MIDDLES)
def test_loss_falls_on_a_fixed_batch(middle):
    model, batch = build(middle), make_batch(batch=4, lengths=(10, 8, 6, 9))
    labels = {"start_positions": torch.tensor([0, 1, 2 + 3, 3 + 4]),   # yes, no, tokens 3 and 4
              "end_positions": torch.tensor([0, 1, 3 + 4, 3 + 6])}
    with torch.no_grad():
        first = model(**batch, **labels)["loss"].item()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        optimizer.zero_grad()
        model(**batch, **labels)["loss"].backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        last = model(**batch, **labels)["loss"].item()
    assert last < 0.6 * first


@pytest.mark.parametrize("middle", MIDDLES)
def test_save_load_round_trip(middle, tmp_path):
    model, batch = build(middle), make_batch()
    model.save(tmp_path / "ckpt")
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {
        "model.safetensors", "config.json", "convqa_config.json"}
    loaded = ConvQAModel.load(tmp_path / "ckpt").eval()
    assert loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded(**batch)["start_logits"], model(**batch)["start_logits"])


def test_save_handles_shared_tensors(tmp_path):
    model = build("none")
    model.yes_no_head.layers[0].weight = model.attention_head.layers[0].weight  # tied
    model.save(tmp_path)
    loaded = ConvQAModel.load(tmp_path)
    assert torch.equal(loaded.yes_no_head.layers[0].weight, model.attention_head.layers[0].weight)


def test_load_with_a_mismatching_config_names_folder_and_key(tmp_path):
    build("none").save(tmp_path / "ckpt")
    config_path = tmp_path / "ckpt" / "convqa_config.json"
    values = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**values, "middle": "bilstm"}))
    with pytest.raises(ValueError, match=r"ckpt.*first mismatching key 'middle\..*missing"):
        ConvQAModel.load(tmp_path / "ckpt")
    config_path.write_text(json.dumps({**values, "typo_field": 1}))
    with pytest.raises(ValueError, match="typo_field"):
        ConvQAModel.load(tmp_path / "ckpt")


def test_config_rejects_unknown_middle():
    with pytest.raises(ValueError, match="middle"):
        ModelConfig(middle="lstm")


# ---- a backbone without a pooler -------------------------------------------------------

def test_electra_backbone_without_pooler(tmp_path):
    model, batch = build("bilstm", encoder_config=tiny_electra_config()), make_batch()
    assert getattr(model.encoder, "pooler", None) is None
    labels = {"start_positions": torch.tensor([UNKNOWN_COLUMN, 4]),
              "end_positions": torch.tensor([UNKNOWN_COLUMN, 5])}
    with torch.no_grad():
        out = model(**batch, **labels)
        longer = model(**pad_more(batch))
    assert out["start_logits"].shape == (2, TOKEN_OFFSET + SEQ_LEN) and torch.isfinite(out["loss"])
    assert torch.allclose(longer["end_logits"][:, :TOKEN_OFFSET + SEQ_LEN], out["end_logits"],
                          atol=ATOL)
    model.save(tmp_path)
    with torch.no_grad():
        assert torch.equal(ConvQAModel.load(tmp_path).eval()(**batch)["end_logits"],
                           out["end_logits"])


# ---- exact-match embedding ---------------------------------------------------------------

def test_exact_match_embedding_starts_as_the_plain_model():
    # Zero at the start: the same weights give the same logits with and without it, so a
    # pretrained encoder begins exactly as it was.
    batch = make_batch()
    plain = build(exact_match=False)
    matched = build(exact_match=True)
    matched.load_state_dict({**plain.state_dict(),
                             "match_embedding.weight": matched.match_embedding.weight})
    with torch.no_grad():
        expected, got = plain(**batch), matched(**batch)
    for key in ("start_logits", "end_logits"):
        assert torch.allclose(expected[key], got[key], atol=ATOL)


def test_exact_match_embedding_is_added_by_flag():
    batch = make_batch()
    model = build(exact_match=True)
    with torch.no_grad():
        model.match_embedding.weight.normal_()
        before = model(**batch)["start_logits"]
        model.match_embedding.weight[0].zero_()  # flag 0: most tokens of a random batch
        model.match_embedding.weight[1:] += 1.0
        after = model(**batch)["start_logits"]
    assert not torch.allclose(before, after)
    with pytest.raises(ValueError, match="token_type_ids"):
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])


def test_electra_match_embedding_has_the_embedding_width():
    model = build(encoder_config=tiny_electra_config(), exact_match=True)
    assert model.match_embedding.weight.shape == (3, 16)
    with torch.no_grad():
        output = model(**make_batch())
    assert output["start_logits"].shape == (2, 3 + SEQ_LEN)


def test_checkpoint_config_without_exact_match_key_loads_the_old_model(tmp_path):
    old = build(exact_match=False)
    old.save(tmp_path)
    config_file = tmp_path / "convqa_config.json"
    values = json.loads(config_file.read_text(encoding="utf-8"))
    del values["exact_match"]  # as written before the embedding existed
    config_file.write_text(json.dumps(values), encoding="utf-8")
    loaded = ConvQAModel.load(tmp_path)
    assert loaded.config.exact_match is False and loaded.match_embedding is None
    assert ModelConfig.from_dict({}).exact_match is False
    assert ModelConfig().exact_match is False  # opt-in: the old command lines' model


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_encoder_with_one_token_type_gets_no_segments(model_type):
    # RoBERTa / XLM-R have type_vocab_size 1: the window's token type 1 would index past
    # the table. The segments still drive the exact-match flags.
    encoder_config = AutoConfig.for_model(model_type, vocab_size=100, hidden_size=HIDDEN,
                                          num_hidden_layers=1, num_attention_heads=2,
                                          intermediate_size=64, max_position_embeddings=64,
                                          type_vocab_size=1)
    model, batch = build(encoder_config=encoder_config, exact_match=True), make_batch()
    labels = {"start_positions": torch.tensor([UNKNOWN_COLUMN, 4]),
              "end_positions": torch.tensor([UNKNOWN_COLUMN, 5])}
    with torch.no_grad():
        out = model(**batch, **labels)
        without_types = model(**{**batch, "token_type_ids": torch.zeros_like(batch["token_type_ids"])})
    assert torch.isfinite(out["loss"])
    assert torch.allclose(out["start_logits"], without_types["start_logits"], atol=ATOL)
