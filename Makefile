# Earful — the two commands that matter: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= .earful/demo
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint types unit bench train install clean static chromium screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Front-end packages: pinned by package-lock.json, copied into the Python package.
STATIC_STAMP := src/earful/web/static/vendor/VERSIONS.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
$(STATIC_STAMP): node_modules/.package-lock.json scripts/build_static.mjs
	node scripts/build_static.mjs
static: $(STATIC_STAMP)

# Browser tests drive Debian's Chromium; Playwright never downloads a browser.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium) || echo "chromium not installed: browser tests will skip outside CI"

demo: install static
	EARFUL_DATA_DIR=$(DEMO_DIR) $(BIN)/earful demo --fresh --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/ruff format --check src tests bench

types: install
	$(BIN)/mypy

unit: install static chromium
	$(BIN)/pytest

test: lint types unit

# The pictures in docs/ui.md, taken by the browser tests on the demo desk.
screenshots: install static chromium
	EARFUL_DOCS_SHOTS=docs/screenshots $(BIN)/pytest tests/e2e/test_design.py -k docs_screenshots -q

# The benchmark suites live in bench/, outside the installed package (docs/performance.md).
bench: install
	$(BIN)/python bench/run.py

train: install
	$(BIN)/earful train all

clean:
	rm -rf $(VENV) .earful .pytest_cache .mypy_cache .ruff_cache
