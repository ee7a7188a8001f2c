# Two entry points: `make demo` and `make test`. Both build .venv from scratch when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/throne demo

lint: $(STAMP)
	$(BIN)/ruff check throne tests bench scripts/pg-cluster
	$(BIN)/ruff format --check throne tests bench scripts/pg-cluster

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest runs beside a throwaway PostgreSQL cluster (scripts/pg-cluster), removed afterwards.
unit: $(STAMP)
	scripts/pg-cluster -- $(BIN)/pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
