"""run_coqa.py tells 是的 from 不是 when the question's surface cannot: dialogues of
tests/long_dialogues.py with short passages (about one window a turn) and many yes/no
turns, yes and no drawn equally often from the same template; a 不是 question names
another value of the asked attribute, which another person of the passage may hold.

Measured: see the bars below and docs/MODEL.md ("Yes / no").
"""
from __future__ import annotations

import pytest

from tests.coqa_runs import train_and_score
from tests.long_dialogues import LongDialogueConfig

YES_NO_HEAVY = LongDialogueConfig(fillers=(0, 3), weights=(0.3, 0.3, 0.3, 0.1))
# Measured with 2400 steps at lr 1.5e-3: seed 42 (174 s under load) yes EM 100 / no EM 92.6
# (F1 100 / 96.3); --seed 7 (89 s alone on 2 cores) yes EM 100 / no EM 91.8; without the
# exact-match embedding (--no-exact_match) yes and no stay at chance. With fewer steps at
# twice the rate (for make test's time): 1200 steps, seed 42 yes EM 100 / no EM 91.8,
# --seed 7 98.9 / 92.6; 800 steps, both seeds yes EM 98.9 / no EM 90.2 (F1 99.4 / 95.1).
# 400 steps (below, 26 s; measured 2026-12-07 for make test's time): --seed 42 / 7 / 1 / 3
# yes EM 100 / 98.9 / 98.9 / 98.9, no EM 90.2 / 90.2 / 90.2 / 91.8; 600 steps gave the
# same. (At 800 steps the spans are not always learned yet: span F1 62.8 with seed 42, 2.5
# with seed 7; spans are the other tests' business.)
STEPS, LEARNING_RATE = 400, 3e-3
MIN_YES_NO_EM = 65.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_and_score(tmp_path_factory.mktemp("yes_no"), YES_NO_HEAVY, steps=STEPS,
                           learning_rate=LEARNING_RATE)


def test_yes_and_no_are_told_apart(run):
    # F1 cannot show a coin flip (是的 against 不是 scores 50: they share 是), EM can: at
    # chance each class is right half the time, always 不是 gets yes EM 0.
    yes, no = run.kinds["yes"], run.kinds["no"]
    assert yes["turns"] >= 60 and no["turns"] >= 60
    assert yes["em"] >= MIN_YES_NO_EM and no["em"] >= MIN_YES_NO_EM
    assert yes["f1"] > 80.0 and no["f1"] > 80.0
