# ALNPredictor — the only entry points a newcomer needs.
#   make demo   run the main job on built-in defaults
#   make test   run the test suite (everything; what CI runs)
#   make test-fast  the suite without the tests marked slow (between edits)
#   make bench  run the benchmarks (ratios against reference runs in the same process)
#   make lint   ruff
# Each target creates/updates the virtual environment it needs (.venv).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.alnpredictor-installed
SHARED ?= $(abspath ../shared)
export ALNPREDICTOR_SHARED ?= $(SHARED)

.PHONY: venv demo test test-fast bench lint clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-radiomics.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet numpy==$$(sed -n 's/^numpy==//p' requirements.txt)
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-build-isolation -r requirements-radiomics.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PY) -c "import radiomics, slicer, torch, torchvision, alnpredictor; print('environment ready:', alnpredictor.__version__)"
	touch $(STAMP)

demo: venv
	$(VENV)/bin/alnpredictor demo

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

bench: venv
	$(PY) -m bench

lint: venv
	$(VENV)/bin/ruff check ALNPredictor tests bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
