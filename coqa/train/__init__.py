"""The training loop and what it needs (optimizer, checkpoints, adversarial, DDP),
shared by both pipelines; knows no model."""
