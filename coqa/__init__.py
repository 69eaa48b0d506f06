"""Shared CoQA-format layer: reading and validating dialogues, answer kinds,
dialogue history, the feature cache and (later) the extractive model."""
