"""A toy model, a toy dataset and a tiny training script for tests/coqa/test_training.py.

The test runs this file under `python -m torch.distributed.run --nproc_per_node 2`
(CPU, gloo) and also imports it to build the same toy model in-process. Only rank 0
writes: checkpoints and TensorBoard (the loop), `model.safetensors` and `result.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # torchrun runs this file as a script
    sys.path.insert(0, str(REPO))

from coqa.train.dataset import TrainDataset
from coqa.train.config import AdversarialConfig  # noqa: E402
from coqa.cli import setup_logging  # noqa: E402
from coqa.train.distributed import cleanup_distributed, init_distributed, log_level  # noqa: E402
from coqa.train.config import TrainConfig  # noqa: E402
from coqa.train.loop import train  # noqa: E402


class ToyModel(nn.Module):
    """Mean of token embeddings → LayerNorm → linear regression head."""

    def __init__(self, vocab_size: int = 50, hidden: int = 16, dropout: float = 0.0):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, input_ids, attention_mask, labels):
        """input_ids, attention_mask: (batch, seq_len); labels: (batch,) → {"loss": ()}."""
        hidden = self.dropout(self.word_embeddings(input_ids))     # (batch, seq_len, hidden)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)       # (batch, seq_len, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # (batch, hidden)
        prediction = self.head(self.layer_norm(pooled)).squeeze(-1)  # (batch,)
        return {"loss": F.mse_loss(prediction.float(), labels)}


class ToyDataset(TrainDataset):
    """Random token ids with padded tails and random regression targets."""

    def __init__(self, size: int, seq_len: int = 6, vocab_size: int = 50, seed: int = 0,
                 label_scale: float = 1.0):
        gen = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(1, vocab_size, (size, seq_len), generator=gen)
        lengths = torch.randint(2, seq_len + 1, (size,), generator=gen)
        self.attention_mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
        self.labels = torch.randn(size, generator=gen) * label_scale

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.tensor(indices, dtype=torch.long)
        return {"input_ids": self.input_ids[index], "attention_mask": self.attention_mask[index],
                "labels": self.labels[index]}

    def count_tokens(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["attention_mask"].sum()


def save_state_dict(model: nn.Module, directory: Path) -> None:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(Path(directory) / "model.safetensors"))


def load_state_dict(model: nn.Module, directory: Path) -> None:
    model.load_state_dict(load_file(str(Path(directory) / "model.safetensors")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output_dir", help="where rank 0 writes everything")
    parser.add_argument("--batch_size", type=int, default=2, help="per-process batch size")
    parser.add_argument("--accumulation", type=int, default=2, help="gradient accumulation")
    parser.add_argument("--examples", type=int, default=16, help="toy dataset size")
    parser.add_argument("--epochs", type=float, default=2, help="training epochs")
    parser.add_argument("--save_steps", type=int, default=2, help="checkpoint interval")
    parser.add_argument("--logging_steps", type=int, default=1, help="log interval")
    parser.add_argument("--adversarial", choices=["fgm", "pgd"], default=None,
                        help="adversarial training method")
    parser.add_argument("--local_rank", type=int, default=-1, help="old launcher's flag")
    args = parser.parse_args(argv)
    info = init_distributed(no_cuda=True, local_rank=args.local_rank)
    setup_logging(log_level(info))
    config = TrainConfig(output_dir=args.output_dir, per_device_batch_size=args.batch_size,
                         gradient_accumulation_steps=args.accumulation, learning_rate=1e-2,
                         weight_decay=0.01, max_grad_norm=1.0, num_train_epochs=args.epochs,
                         warmup_steps=1, logging_steps=args.logging_steps,
                         save_steps=args.save_steps, seed=13,
                         adversarial=AdversarialConfig(method=args.adversarial))
    torch.manual_seed(0)
    model = ToyModel(dropout=0.0)
    result = train(model, ToyDataset(args.examples), config, save_state_dict, dist=info)
    if info.is_main:
        save_state_dict(model, Path(args.output_dir))
        (Path(args.output_dir) / "result.json").write_text(json.dumps(result.__dict__))
    cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
