# The front door: `make run` and `make test` from a fresh clone need only Python 3.11+.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install run test lint format typecheck pytest bench lock clean sdl

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || (echo "Python 3.11+ is required" && exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.8

$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/crm dev

test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy libs services

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The gateway's schema as SDL, checked in (tests/gateway/test_sdl.py fails when it is stale).
sdl: install
	CRM_ENV=dev $(BIN)/python -m gateway.sdl

# Benchmarks need reference tools (Splink, recordlinkage) the tests do not: their own lock, a superset.
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat requirements-bench.lock | cksum | cut -d' ' -f1)

$(BENCH_STAMP): requirements-bench.lock | $(BIN)/python
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements-bench.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.installed-* $(VENV)/.bench-installed-* && touch $(BENCH_STAMP)

bench-install: $(BENCH_STAMP)

bench: bench-install
	@ls bench/*.py | grep -v '/_' | while read b; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock: | $(BIN)/python
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --extra bench --python-version 3.11 -o requirements-bench.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
