# Two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# Extra pytest flags, e.g. `make test PYTEST_FLAGS=--durations=20` (CI does).
PYTEST_FLAGS ?=
# pytest-xdist workers: one per core of the 2-core machines the suite is sized for (each test
# process runs torch at one thread, tests/conftest.py). TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2

.PHONY: demo test clean-venv

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# This checkout, editable and without dependencies (pyproject.toml): python -m evaluate,
# coqa.* and the convqa-* commands then work from any folder.
$(VENV)/.editable: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet "setuptools>=64"
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

test: $(VENV)/.editable
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests $(PYTEST_FLAGS)

demo: $(VENV)/.editable
	bash scripts/demo.sh $(PY)

clean-venv:
	rm -rf $(VENV)
