"""Adversarial training on the word-embedding matrix: FGM and PGD.

Both perturb the *weights* of the word-embedding matrix (not the looked-up vectors) along
the gradient of the loss, add the gradient of the loss at the perturbed point to `.grad`,
and put the original weights back before the optimizer step.

Cost per micro-batch, counted in forward passes (each followed by a backward pass):
  * no adversarial training: 1;
  * FGM: 2 (clean + perturbed), i.e. about twice the compute of plain training;
  * PGD with K steps: K + 1 (clean, K - 1 probes, final); the probes backpropagate only as
    far as the embedding (`torch.autograd.grad`), so they are a little cheaper than a full
    backward, and they never touch the other parameters' `.grad`.

The final perturbed backward adds its gradient on top of the clean one (g_clean + g_adv),
as in the usual FGM/PGD recipes; the reported loss stays the clean loss. With tied input and
output embeddings (UniLM), the output projection is perturbed too, which is also the usual
behaviour of these recipes.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from coqa.data.errors import ConfigError
from coqa.train.config import AdversarialConfig

def find_embedding(model: nn.Module, name_fragment: str) -> nn.Parameter:
    """The first trainable parameter whose name contains `name_fragment`."""
    for name, param in model.named_parameters():
        if name_fragment in name and param.requires_grad:
            return param
    raise ConfigError(f"no trainable parameter whose name contains {name_fragment!r}; "
                     "set the adversarial embedding name to a fragment of the embedding's name")


def _unit_step(grad: torch.Tensor, size: float) -> Optional[torch.Tensor]:
    """size · g / ‖g‖, or None when the norm is zero or not finite (fp16 overflow)."""
    norm = torch.linalg.vector_norm(grad.float())
    if not torch.isfinite(norm) or norm == 0:
        return None
    return (grad.float() * (size / norm)).to(grad.dtype)


class FGM:
    """Fast Gradient Method (Miyato et al., 2017): one step of size ε along g/‖g‖."""

    def __init__(self, embedding: nn.Parameter, epsilon: float):
        self.embedding = embedding
        self.epsilon = epsilon
        self._backup: Optional[torch.Tensor] = None

    @torch.no_grad()
    def attack(self, grad: torch.Tensor) -> None:
        self._backup = self.embedding.detach().clone()
        step = _unit_step(grad, self.epsilon)
        if step is not None:
            self.embedding.add_(step)

    @torch.no_grad()
    def restore(self) -> None:
        if self._backup is not None:
            self.embedding.copy_(self._backup)
            self._backup = None


class PGD:
    """Projected Gradient Descent (Madry et al., 2018): steps of size α along g/‖g‖,
    each followed by a projection back into the ε-ball around the original weights."""

    def __init__(self, embedding: nn.Parameter, epsilon: float, alpha: float):
        self.embedding = embedding
        self.epsilon = epsilon
        self.alpha = alpha
        self._backup: Optional[torch.Tensor] = None

    @torch.no_grad()
    def attack(self, grad: torch.Tensor) -> None:
        if self._backup is None:
            self._backup = self.embedding.detach().clone()
        step = _unit_step(grad, self.alpha)
        if step is not None:
            self.embedding.add_(step)
        delta = self.embedding - self._backup
        norm = torch.linalg.vector_norm(delta.float())
        if norm > self.epsilon:
            self.embedding.copy_(self._backup + delta * (self.epsilon / norm))

    @torch.no_grad()
    def restore(self) -> None:
        if self._backup is not None:
            self.embedding.copy_(self._backup)
            self._backup = None


def adversarial_backward(config: AdversarialConfig, embedding: nn.Parameter,
                         clean_grad: torch.Tensor, forward_backward: Callable[[], None],
                         probe: Callable[[], torch.Tensor]) -> None:
    """Move the embedding, run the final perturbed forward+backward, restore the embedding.

    `clean_grad`: this micro-batch's gradient of the clean loss w.r.t. the embedding.
    `forward_backward()`: forward at the current (perturbed) weights and backward into
    `.grad` of every parameter. `probe()`: forward at the current weights and return the
    gradient w.r.t. the embedding only, accumulating nothing (used by PGD between steps).
    The embedding is restored exactly even when a callback raises.
    """
    if config.method is None:
        return
    attacker = (FGM(embedding, config.epsilon) if config.method == "fgm"
                else PGD(embedding, config.epsilon, config.pgd_alpha))
    try:
        grad = clean_grad
        for step in range(config.attack_steps):
            attacker.attack(grad)
            if step < config.attack_steps - 1:
                grad = probe()
        forward_backward()
    finally:
        attacker.restore()
