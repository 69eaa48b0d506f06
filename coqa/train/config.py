"""What the training loop is told: `TrainConfig`, built once from the command line, and
what it reports back."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from coqa.data.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")
ADVERSARIAL_METHODS = (None, "fgm", "pgd")


@dataclass(frozen=True)
class AdversarialConfig:
    """Which attack to run, and its sizes (`coqa.train.adversarial`). `method=None` turns
    adversarial training off."""

    method: Optional[str] = None
    epsilon: float = 1.0          # radius of the perturbation (FGM step, PGD ball)
    pgd_steps: int = 3            # K: attack steps of PGD
    pgd_alpha: float = 0.3        # size of one PGD step
    embedding_name: str = "word_embeddings"  # fragment of the embedding parameter's name

    def __post_init__(self) -> None:
        if self.method not in ADVERSARIAL_METHODS:
            raise ConfigError(f"adversarial method must be one of {ADVERSARIAL_METHODS}, "
                              f"got {self.method!r}")
        if self.epsilon <= 0 or self.pgd_alpha <= 0:
            raise ConfigError("adversarial epsilon and pgd_alpha must be positive")
        if self.pgd_steps < 1:
            raise ConfigError(f"pgd_steps must be at least 1, got {self.pgd_steps}")

    @property
    def attack_steps(self) -> int:
        """How many times the embedding is moved before the final forward pass."""
        return {None: 0, "fgm": 1, "pgd": self.pgd_steps}[self.method]

    @property
    def forward_passes(self) -> int:
        """Forward passes per micro-batch (1 without adversarial training)."""
        return 1 + self.attack_steps


@dataclass(frozen=True)
class TrainConfig:
    """Everything the loop needs to know; built once from the command line."""

    output_dir: str
    per_device_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    head_learning_rate: Optional[float] = None  # the model's head parameters; None: learning_rate
    weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0        # <= 0: no clipping
    num_train_epochs: float = 3.0
    max_steps: int = -1               # > 0: overrides num_train_epochs
    warmup_steps: int = 0
    warmup_ratio: Optional[float] = None  # set: warm-up is this share of all steps instead
    logging_steps: int = 50           # <= 0: no step lines
    save_steps: int = 1000            # <= 0: no checkpoints during training
    seed: int = 42
    precision: str = "fp32"           # fp32 | bf16 | fp16 (fp16 needs CUDA)
    torch_compile: bool = False
    resume_from_checkpoint: Optional[str] = None
    ignore_resume_mismatch: bool = False  # resume although the schedule settings changed
    ddp_find_unused_parameters: bool = False
    freeze_word_embeddings: bool = False  # the word-embedding matrix is not trained
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.per_device_batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ConfigError("batch size and gradient accumulation steps must be at least 1")
        if not self.learning_rate >= 0:
            raise ConfigError(f"the learning rate must not be negative, got {self.learning_rate}")
        if self.head_learning_rate is not None and not self.head_learning_rate >= 0:
            raise ConfigError("the head learning rate must not be negative, got "
                              f"{self.head_learning_rate}")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ConfigError("give num_train_epochs > 0 or max_steps > 0")
        if self.warmup_ratio is not None and not 0.0 <= self.warmup_ratio <= 1.0:
            raise ConfigError(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio}")
        if self.freeze_word_embeddings and self.adversarial.method:
            raise ConfigError("adversarial training perturbs the word embeddings through their "
                              "gradient: it cannot be combined with frozen word embeddings")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must not be negative, got {self.warmup_steps}")

    def warmup_for(self, total_steps: int) -> int:
        """Warm-up steps of a run of `total_steps` optimizer steps."""
        if self.warmup_ratio is not None:
            return math.ceil(self.warmup_ratio * total_steps)
        return self.warmup_steps


@dataclass(frozen=True)
class TrainResult:
    global_step: int
    average_loss: float   # mean optimizer-step loss over the whole run (resumes included)
    seconds: float        # wall time of this call

