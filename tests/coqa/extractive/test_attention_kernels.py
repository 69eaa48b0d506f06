"""What lets SDPA pick its fastest kernels, and that it changes no logit: a batch without
padding reaches the encoder without a mask; inference visits features longest-first, cut
to each batch's longest real feature; the BiLSTM middle layer runs in float32 under
autocast."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coqa.extractive.features import FeatureSet
from coqa.extractive.inference import InferenceConfig, predict_logits
from coqa.extractive.labels import FILL_LOGIT, NUM_SPECIAL
from coqa.extractive.middle import build_middle
from tests.coqa.extractive.test_model import HIDDEN, MIDDLES, build, make_batch, tiny_config

ATOL = 1e-5


@pytest.fixture
def sdpa_masks(monkeypatch):
    """The attn_mask of every scaled_dot_product_attention call (None: no mask)."""
    seen = []
    original = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        seen.append(kwargs.get("attn_mask", args[3] if len(args) > 3 else None))
        return original(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return seen


def with_match_embedding(model):
    """exact_match starts with a zero match embedding: make it matter."""
    if model.match_embedding is not None:
        with torch.no_grad():
            model.match_embedding.weight.normal_(std=0.5)
    return model


@pytest.mark.parametrize("exact_match", [False, True])
@pytest.mark.parametrize("middle", MIDDLES)
def test_no_mask_equals_an_all_ones_mask_and_reaches_sdpa_as_none(middle, exact_match,
                                                                  sdpa_masks):
    model = with_match_embedding(build(middle, exact_match=exact_match))
    batch = make_batch(lengths=(10, 10))  # no padding
    assert bool(batch["attention_mask"].all())
    with torch.no_grad():
        masked = model(**batch)
        first_unmasked_call = len(sdpa_masks)
        unmasked = model(**{k: v for k, v in batch.items() if k != "attention_mask"})
    for name in ("start_logits", "end_logits"):
        assert torch.allclose(unmasked[name], masked[name], atol=ATOL, rtol=0), name
    encoder_calls = sdpa_masks[first_unmasked_call:][:2]  # the encoder's two layers
    assert len(encoder_calls) == 2 and all(mask is None for mask in encoder_calls)
    assert all(mask is not None for mask in sdpa_masks[:2])  # the masked call had one


def mixed_features(lengths, seq_len: int, seed: int = 0) -> FeatureSet:
    """Right-padded features of the given real lengths: [CLS]-like first token, a
    4-token query segment, then the window segment."""
    rng = np.random.default_rng(seed)
    num = len(lengths)
    positions = np.arange(seq_len)[None, :]
    mask = (positions < np.asarray(lengths)[:, None]).astype(np.int8)
    ids = rng.integers(5, 100, (num, seq_len)).astype(np.int32) * mask
    types = np.broadcast_to((positions >= 4).astype(np.int8), (num, seq_len)) * mask
    return FeatureSet(input_ids=ids, token_type_ids=np.ascontiguousarray(types, dtype=np.int8),
                      attention_mask=mask, start_positions=np.zeros(num, np.int64),
                      end_positions=np.zeros(num, np.int64),
                      example_index=np.zeros(num, np.int32),
                      token_offsets=np.full((num, seq_len, 2), -1, np.int32), examples=[],
                      passages=[])


def unsorted_full_length(model, features: FeatureSet, batch_size: int):
    """The reference: features in file order, every batch max_seq_length wide, masked."""
    starts, ends = [], []
    with torch.no_grad():
        for first in range(0, len(features), batch_size):
            rows = slice(first, first + batch_size)
            out = model(input_ids=torch.from_numpy(features.input_ids[rows]).long(),
                        attention_mask=torch.from_numpy(features.attention_mask[rows]).long(),
                        token_type_ids=torch.from_numpy(features.token_type_ids[rows]).long())
            starts.append(out["start_logits"])
            ends.append(out["end_logits"])
    return torch.cat(starts).numpy(), torch.cat(ends).numpy()


@pytest.mark.parametrize("middle,exact_match", [("none", False), ("bilstm", False),
                                                ("rtransformer", False), ("none", True)])
def test_sorted_trimmed_inference_equals_unsorted_full_length(middle, exact_match, sdpa_masks):
    seq_len = 24
    # Four full-length features (one batch without padding once sorted), the rest mixed.
    lengths = [9, 24, 17, 6, 24, 12, 24, 20, 7, 24, 15, 11, 18]
    features = mixed_features(lengths, seq_len)
    model = with_match_embedding(build(middle, exact_match=exact_match))
    unmasked = []
    model.register_forward_pre_hook(
        lambda module, args, kwargs: unmasked.append("attention_mask" not in kwargs),
        with_kwargs=True)
    start, end = predict_logits(model, features, InferenceConfig(4, show_progress=False),
                                torch.device("cpu"))
    ref_start, ref_end = unsorted_full_length(model, features, 4)
    # Sorted, the four full-length features make the first batch, and the shortest is
    # alone in the last: neither has padding, so neither has a mask.
    assert unmasked[:4] == [True, False, False, True]
    assert start.shape == end.shape == (len(lengths), NUM_SPECIAL + seq_len)
    for row, length in enumerate(lengths):
        real = NUM_SPECIAL + length
        np.testing.assert_allclose(start[row, :real], ref_start[row, :real], atol=ATOL, rtol=0)
        np.testing.assert_allclose(end[row, :real], ref_end[row, :real], atol=ATOL, rtol=0)
        # Past a feature's real tokens: padding logits, or FILL_LOGIT past its batch's width.
        assert (start[row, real:] <= FILL_LOGIT).all() and (end[row, real:] <= FILL_LOGIT).all()


def test_bilstm_runs_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    middle = build_middle(tiny_config("bilstm").middle_config, HIDDEN).eval()
    x = torch.randn(2, 7, HIDDEN)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    lstm_dtypes = []
    middle.lstm.register_forward_hook(
        lambda module, args, out: lstm_dtypes.append(getattr(out[0], "data", out[0]).dtype))
    with torch.no_grad():
        reference = middle(x, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = middle(x, mask)
            bf16_in = middle(x.bfloat16(), mask)
    assert lstm_dtypes == [torch.float32] * 3
    # Before: the projection ran in bf16 under autocast, 1e-2 off.
    assert autocast.dtype == torch.float32
    assert torch.allclose(autocast, reference, atol=1e-6, rtol=0)
    # A bf16 input: computed in float32 from the bf16-rounded input, returned in bf16.
    assert bf16_in.dtype == torch.bfloat16
    with torch.no_grad():
        expected = middle(x.bfloat16().float(), mask).bfloat16()
    assert torch.equal(bf16_in, expected)
