"""Shared data layer: dialogues, readers, spans, history, windows, text, cache, errors.
Knows no model; imports neither coqa.extractive nor seq2seq."""
