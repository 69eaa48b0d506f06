"""coqa.data.folders: how many tokens an encoder's position table holds."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel

from coqa.data.folders import encoder_max_positions


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
