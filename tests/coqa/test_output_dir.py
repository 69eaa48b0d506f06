"""prepare_output_dir under --overwrite_output_dir: the main rank clears an earlier run,
the other ranks of a distributed run check the same things but delete nothing (ranks
deleting the same files at once fail on each other's deletions)."""
from __future__ import annotations

import pytest

from coqa.cli import UsageError, prepare_output_dir


def _earlier_run(folder):
    (folder / "checkpoint-2").mkdir(parents=True)
    (folder / "checkpoint-2" / "model.safetensors").write_bytes(b"x")
    (folder / "predictions_.json").write_text("{}")
    (folder / "notes.txt").write_text("mine")


def test_the_main_rank_removes_the_earlier_run_and_keeps_other_files(tmp_path):
    _earlier_run(tmp_path)
    prepare_output_dir(str(tmp_path), True, True, False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_another_rank_deletes_nothing(tmp_path):
    _earlier_run(tmp_path)
    prepare_output_dir(str(tmp_path), True, True, False, removes=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "notes.txt",
                                                          "predictions_.json"]


@pytest.mark.parametrize("removes", [True, False])
def test_every_rank_refuses_to_delete_the_model_it_starts_from(tmp_path, removes):
    _earlier_run(tmp_path)
    with pytest.raises(UsageError, match="loads its model from"):
        prepare_output_dir(str(tmp_path), True, True, False,
                           starts_from=[str(tmp_path / "checkpoint-2")], removes=removes)
    assert (tmp_path / "checkpoint-2" / "model.safetensors").exists()


@pytest.mark.parametrize("removes", [True, False])
def test_every_rank_refuses_a_non_empty_folder_without_overwrite(tmp_path, removes):
    _earlier_run(tmp_path)
    with pytest.raises(UsageError, match="not empty"):
        prepare_output_dir(str(tmp_path), True, False, False, removes=removes)
