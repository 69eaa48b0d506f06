"""InferenceConfig's checks, and the precision it runs under."""
from __future__ import annotations

import pytest
import torch

from coqa.data.errors import ConfigError
from coqa.extractive.inference import InferenceConfig, _autocast
from coqa.train.config import PRECISIONS


@pytest.mark.parametrize("precision", ["fp8", "bfloat16", "FP32", ""])
def test_unknown_precision_is_a_config_error(precision):
    # It used to run silently in fp32.
    with pytest.raises(ConfigError, match=f"precision must be one of fp32, bf16, fp16, got "
                                          f"{precision!r}"):
        InferenceConfig(precision=precision)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_known_precisions_are_accepted(precision):
    assert InferenceConfig(precision=precision).precision == precision


def test_batch_size_below_one_is_a_config_error():
    with pytest.raises(ConfigError, match="at least 1, got 0"):
        InferenceConfig(batch_size=0)


def test_autocast_dtype_per_precision():
    cpu = torch.device("cpu")
    with _autocast("fp32", cpu):
        assert not torch.is_autocast_enabled("cpu")
    with _autocast("bf16", cpu):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
