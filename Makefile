# Quick start: `make restore` (restore the sample clip) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.filmrestore-installed
export FILMRESTORE_QUIET ?= 0

.PHONY: restore test bench env sample clean-output

# The environment is reused when it already holds what requirements*.txt ask for (the stamp is newer).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

env: $(STAMP)

sample: $(STAMP)
	$(PY) -m filmrestore sample input/sample

restore: sample
	$(PY) -m filmrestore run example_workflows/restore_sample.json
	@echo "restored video and side-by-side comparison are in output/FilmRestore/"

test: $(STAMP)
	$(PY) -m pytest -q tests
	@if command -v node >/dev/null; then node --test tests/web/; \
	 else echo "web tests skipped: node (Node.js >= 18) is not on the PATH"; fi

bench: $(STAMP)
	$(PY) benchmarks/run_all.py --only "$(ONLY)"

clean-output:
	rm -rf output
