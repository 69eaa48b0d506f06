"""Adversarial training (FGM, PGD) in the shared loop, on the toy model."""
from __future__ import annotations

import pytest
import torch

from coqa.train.adversarial import FGM, PGD, adversarial_backward
from coqa.train.config import AdversarialConfig
from coqa.train.loop import train
from tests.coqa.train.conftest import (ToyModel, ToyDataset, make_config, toy_model, snapshot,
                                       same_weights, no_save)


# ---------------------------------------------------------------- adversarial training

def test_fgm_moves_by_epsilon_and_restores_exactly():
    embedding = torch.nn.Parameter(torch.randn(5, 3))
    before = embedding.detach().clone()
    fgm = FGM(embedding, epsilon=0.5)
    fgm.attack(torch.randn(5, 3))
    assert torch.linalg.vector_norm(embedding - before).item() == pytest.approx(0.5, rel=1e-5)
    fgm.restore()
    assert torch.equal(embedding, before)
    pgd = PGD(embedding, epsilon=0.5, alpha=0.3)
    for _ in range(4):
        pgd.attack(torch.randn(5, 3))
    assert torch.linalg.vector_norm(embedding - before).item() <= 0.5 + 1e-6
    pgd.restore()
    assert torch.equal(embedding, before)


def test_fgm_gradient_is_clean_plus_perturbed():
    model = toy_model()
    batch = ToyDataset(4).batch([0, 1, 2, 3])
    emb = model.word_embeddings.weight
    model(**batch)["loss"].backward()
    clean = {n: p.grad.clone() for n, p in model.named_parameters()}
    expected_emb = emb.detach() + 0.5 * clean["word_embeddings.weight"] / clean[
        "word_embeddings.weight"].norm()
    reference = toy_model()
    with torch.no_grad():
        reference.word_embeddings.weight.copy_(expected_emb)
    reference(**batch)["loss"].backward()
    adversarial_backward(AdversarialConfig(method="fgm", epsilon=0.5), emb, emb.grad.clone(),
                         lambda: model(**batch)["loss"].backward(), probe=None)
    for name, param in model.named_parameters():
        expected = clean[name] + dict(reference.named_parameters())[name].grad
        assert torch.allclose(param.grad, expected, atol=1e-6), name
    assert torch.equal(emb, toy_model().word_embeddings.weight)


class CountingToy(ToyModel):
    calls = 0

    def forward(self, **batch):
        CountingToy.calls += 1
        return super().forward(**batch)


@pytest.mark.parametrize("method, passes", [("fgm", 2), ("pgd", 4)])
def test_adversarial_training_changes_the_result_and_restores_the_embedding(
        tmp_path, method, passes):
    dataset = ToyDataset(8)
    adversarial = AdversarialConfig(method=method, epsilon=1.0, pgd_steps=3, pgd_alpha=0.3)
    torch.manual_seed(0)
    frozen = CountingToy(dropout=0.1)
    before = snapshot(frozen)
    CountingToy.calls = 0
    train(frozen, dataset, make_config(tmp_path / "zero", learning_rate=0.0,
                                       adversarial=adversarial), no_save)
    assert CountingToy.calls == passes * 4  # 4 micro-batches
    assert same_weights(snapshot(frozen), before)  # perturbation undone every time
    plain, attacked = toy_model(dropout=0.1), toy_model(dropout=0.1)
    train(plain, dataset, make_config(tmp_path / "plain"), no_save)
    train(attacked, dataset, make_config(tmp_path / "adv", adversarial=adversarial), no_save)
    assert not same_weights(snapshot(plain), snapshot(attacked))
