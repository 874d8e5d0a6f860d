# Earful — the two commands that matter: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= .earful/demo
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint types unit bench train install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	EARFUL_DATA_DIR=$(DEMO_DIR) $(BIN)/earful demo --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

types: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint types unit

bench: install
	$(BIN)/python bench/run.py

train: install
	$(BIN)/earful train all

clean:
	rm -rf $(VENV) .earful .pytest_cache .mypy_cache .ruff_cache
