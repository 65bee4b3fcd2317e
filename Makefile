# Two commands set everything up on a fresh machine with Python 3.11+:
#   make serve   -> creates .venv, installs the app, serves the dashboard on the demo data
#   make test    -> creates .venv with the test extras, runs ruff and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5006
SOURCE ?= data/

.PHONY: serve test lint format demo-data figures export notebook benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@ $(VENV)/.installed

serve: $(VENV)/.installed
	$(BIN)/collections-dashboard serve --source $(SOURCE) --port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerates the committed demo set (tests/test_demo.py proves it is reproduced exactly).
demo-data: $(VENV)/.installed
	$(BIN)/collections-dashboard generate --customers 1500 --start 2022-01 --end 2025-12 --seed 42 --out data --format csv
	$(BIN)/collections-dashboard generate --customers 1500 --start 2022-01 --end 2025-12 --seed 42 --out data/water_collections_demo.sqlite --format sqlite

figures: $(VENV)/.installed
	$(BIN)/collections-dashboard export figures --source $(SOURCE) --out outputs/figures

export: $(VENV)/.installed
	$(BIN)/collections-dashboard export html --source $(SOURCE) --out outputs/dashboard.html

# Runs the example notebook and commits it executed (tables and text kept, loaders left out).
notebook: $(VENV)/.installed-test
	$(BIN)/python notebooks/execute.py

benchmark: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py --customers 100000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs
