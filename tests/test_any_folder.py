"""The toolkit from a folder outside the repository (issue 18, part 6): the editable
install (`make test` makes it) gives `python -m evaluate`, `python -m coqa.tools.*` and the
convqa-* commands anywhere; the entry scripts work by their path; a foreign package named
`evaluate` is refused in one line. Run with the venv's own python, in a scratch folder."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import REPO

VENV = REPO / ".venv"
BIN = VENV / "bin"
GOLD = REPO / "data" / "sample" / "dev.json"


@pytest.fixture(scope="module")
def venv_python():
    if not (BIN / "convqa-eval").exists():
        if not (VENV / ".installed").exists():
            pytest.skip(".venv was not made by the Makefile (no .venv/.installed), so it has "
                        "no editable install of this checkout; `make test` makes both")
        pytest.fail(".venv has no editable install of this checkout (.venv/bin/convqa-eval): "
                    "run `make test`, which installs it (pip install --no-deps -e .)")
    return BIN / "python"


def run(argv, cwd, **extra_env):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", **extra_env)
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def predictions(tmp_path):
    """Every sample dev turn answered 无法作答."""
    gold = json.loads(GOLD.read_text(encoding="utf-8"))["data"]
    path = tmp_path / "pred.json"
    path.write_text(json.dumps([{"id": d["id"], "turn_id": q["turn_id"], "answer": "无法作答"}
                                for d in gold for q in d["Questions"]], ensure_ascii=False),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["convqa-eval"], ["python", "-m", "evaluate"]])
def test_evaluator_from_a_scratch_folder(venv_python, tmp_path, predictions, command):
    argv = [BIN / "convqa-eval"] if command == ["convqa-eval"] else [venv_python, "-m", "evaluate"]
    done = run(argv + ["--data-file", GOLD, "--pred-file", predictions.name,
                       "--out-file", "scores.json"], tmp_path)
    assert done.returncode == 0, done.stderr
    scores = json.loads((tmp_path / "scores.json").read_text(encoding="utf-8"))
    assert scores["overall"]["turns"] == 84


def test_tools_and_commands_from_a_scratch_folder(venv_python, tmp_path):
    done = run([venv_python, "-m", "coqa.tools.validate", GOLD], tmp_path)
    assert done.returncode == 0, done.stderr
    for command in ("convqa-compare", "convqa-chat", "convqa-validate", "convqa-convert",
                    "convqa-import-e5", "convqa-sweep"):
        done = run([BIN / command, "--help"], tmp_path)
        assert done.returncode == 0 and done.stdout.startswith("usage:"), (command, done.stderr)
    for script in ("run_coqa.py", "run_seq2seq.py"):  # by their path: the repository's coqa
        done = run([venv_python, REPO / script, "--help"], tmp_path)
        assert done.returncode == 0 and "usage:" in done.stdout, (script, done.stderr)


def test_another_evaluate_package_is_one_line(venv_python, tmp_path):
    # Another package named evaluate found first, as Hugging Face's library would be: in
    # the working directory for python -m, on PYTHONPATH for a console command (whose
    # sys.path does not start with the working directory).
    (tmp_path / "evaluate").mkdir()
    (tmp_path / "evaluate" / "__init__.py").write_text("def load(name):\n    pass\n")
    for argv, env in (([venv_python, "-m", "coqa.tools.validate", GOLD], {}),
                      ([BIN / "convqa-eval", "-h"], {"PYTHONPATH": str(tmp_path)})):
        done = run(argv, tmp_path, **env)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert str(tmp_path / "evaluate" / "__init__.py") in lines[0]
        assert str(REPO / "evaluate") in lines[0] and "pip uninstall evaluate" in lines[0]
