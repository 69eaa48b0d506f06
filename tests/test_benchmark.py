"""scripts/benchmark.py: the bare side of the training comparison uses the AdamW that ours
uses (fused on a GPU), so the ratio measures our step and not two optimizer kernels."""
from __future__ import annotations

import torch

from coqa.train.config import TrainConfig
from coqa.train.optim import build_optimizer
from scripts import benchmark


def test_bare_adamw_is_ours_on_the_cpu():
    config = TrainConfig(output_dir="", learning_rate=3e-5, adam_epsilon=1e-6, weight_decay=0.0)
    model = torch.nn.Linear(4, 2)
    bare = benchmark.bare_adamw(model, config)
    ours = build_optimizer(torch.nn.Linear(4, 2), config)
    for name in ("lr", "eps", "fused", "foreach"):
        assert bare.defaults[name] == ours.defaults[name], name
    decay = {group["weight_decay"] for group in bare.param_groups}
    assert decay == {group["weight_decay"] for group in ours.param_groups} == {0.0}


def test_bare_adamw_is_fused_where_ours_is(monkeypatch):
    made = []
    monkeypatch.setattr(benchmark, "use_fused", lambda groups: True)  # as on a GPU
    monkeypatch.setattr(torch.optim, "AdamW", lambda params, **kwargs: made.append(kwargs))
    benchmark.bare_adamw(torch.nn.Linear(4, 2), TrainConfig(output_dir=""))
    assert made[0]["fused"] is True
