"""Sweep folders for `python -m evaluate.compare`: one group of runs, one run per seed.

A sweep folder (`python -m coqa.tools.sweep`) holds `sweep.json`,
`{"command": [...], "seeds": [1, 2, 3], "runs": {"1": {"status", "returncode", "seconds",
"output_dir", "log"}}}`, and one output folder per seed (`output_dir`, relative to the
sweep folder; `seed-N` by default), each like a single run's. A seed is used when its
status is "done" and its folder holds a prediction file (`find_prediction_file`); every
other seed is left out with its reason. A folder without sweep.json whose `seed-*/`
sub-folders hold predictions is read the same way, with every status unknown.
Standard library only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from evaluate.errors import EvalInputError, read_json_file
from evaluate.predictions import find_prediction_file

SWEEP_FILE = "sweep.json"
_SEED_FOLDER = re.compile(r"seed-(.+)")


@dataclass(frozen=True)
class Sweep:
    """usable: (seed, prediction file) in sweep order; left_out: (seed, why);
    note: one line about the folder itself (no sweep.json), or None."""

    folder: Path
    usable: Tuple[Tuple[str, Path], ...]
    left_out: Tuple[Tuple[str, str], ...]
    note: Optional[str] = None


def _seed_folders(folder: Path) -> Dict[str, Path]:
    """{seed: folder} of the `seed-*/` sub-folders, seeds in numeric order when numbers."""
    found = {m.group(1): p for p in folder.iterdir()
             if p.is_dir() and (m := _SEED_FOLDER.fullmatch(p.name))}
    return dict(sorted(found.items(), key=lambda kv: (not kv[0].isdigit(),
                                                       int(kv[0]) if kv[0].isdigit() else 0,
                                                       kv[0])))


def is_sweep(folder: Path) -> bool:
    """A sweep.json, or no prediction file of its own but seed-*/ folders holding some."""
    if (folder / SWEEP_FILE).is_file():
        return True
    if any(folder.glob("predictions_*.json")) or not folder.is_dir():
        return False
    return any(any(p.glob("predictions_*.json")) for p in _seed_folders(folder).values())


def _predictions_in(folder: Path) -> Tuple[Optional[Path], str]:
    """(prediction file, "") or (None, why not)."""
    if not folder.is_dir():
        return None, f"no output folder {folder}"
    try:
        return find_prediction_file(folder), ""
    except EvalInputError as err:
        return None, str(err)


def read_sweep(folder: Path) -> Sweep:
    """The seeds of a sweep folder, used and left out (see the module docstring); a sweep
    with no usable seed is an EvalInputError naming each seed's reason."""
    usable: List[Tuple[str, Path]] = []
    left_out: List[Tuple[str, str]] = []
    note = None
    if (folder / SWEEP_FILE).is_file():
        meta = read_json_file(folder / SWEEP_FILE)
        runs = meta.get("runs") if isinstance(meta, dict) else None
        if not isinstance(runs, dict):
            raise EvalInputError(f'{folder / SWEEP_FILE}: no "runs" object')
        listed = meta.get("seeds") if isinstance(meta.get("seeds"), list) else []
        seeds = list(dict.fromkeys([str(s) for s in listed] + [str(s) for s in runs]))
        for seed in seeds:
            run = runs.get(seed)
            if not isinstance(run, dict):
                left_out.append((seed, "not started (no entry in sweep.json)"))
                continue
            status = run.get("status", "unknown")
            if status != "done":
                code = run.get("returncode")
                left_out.append((seed, f"status {status}"
                                       + (f", return code {code}" if code is not None else "")))
                continue
            seed_dir = folder / str(run.get("output_dir") or f"seed-{seed}")
            pred_file, why = _predictions_in(seed_dir)
            if pred_file is None:
                left_out.append((seed, f"status done but {why}"))
            else:
                usable.append((seed, pred_file))
    else:
        note = f"{folder}: no {SWEEP_FILE}; every seed-*/ folder with predictions is used"
        for seed, seed_dir in _seed_folders(folder).items():
            pred_file, why = _predictions_in(seed_dir)
            if pred_file is None:
                left_out.append((seed, why))
            else:
                usable.append((seed, pred_file))
    if not usable:
        reasons = "; ".join(f"seed {seed}: {why}" for seed, why in left_out) or "no seeds"
        raise EvalInputError(f"{folder}: no usable seed in this sweep ({reasons})")
    return Sweep(folder, tuple(usable), tuple(left_out), note)
