"""The one definition of the extractive label columns.

A feature's answer is one class index, and the model's `start_logits` / `end_logits` have
one column per class:

    0 yes (是的)   1 no (不是)   2 unknown (无法作答)   3 + j  the token at sequence position j

Features write these indices as labels, the model computes these columns, inference pads
them and post-processing reads them back.
"""
from __future__ import annotations

from coqa.data.dialogue import SPECIAL_TEXT, AnswerKind

YES_CLASS, NO_CLASS, UNKNOWN_CLASS = 0, 1, 2
NUM_SPECIAL = 3  # class NUM_SPECIAL + j is the token at sequence position j
# "The answer is not in this window", as Hugging Face's run_qa.py labels it: the span of
# the CLS token (position 0), which no answer may take (post-processing reads spans of
# passage tokens only). Used with FeatureConfig(outside_window="cls").
CLS_SPAN_CLASS = NUM_SPECIAL
OUTSIDE_WINDOW_LABELS = ("unknown", "cls")
SPECIAL_KINDS = (AnswerKind.YES, AnswerKind.NO, AnswerKind.UNKNOWN)  # in class order
SPECIAL_CLASS = {kind: index for index, kind in enumerate(SPECIAL_KINDS)}
CLASS_TEXT = {index: SPECIAL_TEXT[kind] for index, kind in enumerate(SPECIAL_KINDS)}
# Post-processing's candidate names for the special classes, in class order.
SPECIAL_NAMES = ("yes", "no", "unknown")
# Logit of the columns no answer may take: those a shorter batch does not fill (inference)
# and, by default, padding positions in float16/bfloat16 logits (ModelConfig). Finite in
# both half precisions; post-processing never picks them.
FILL_LOGIT = -1e4
