# Two commands for a newcomer: `make demo` and `make test`. Each sets up .venv first (Python 3.11 + pip only).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export RAY_AUTH_MODE ?= token

.PHONY: setup demo test lint bench serve

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced

demo: setup
	$(VENV)/bin/kern demo

# The storage tests need a PostgreSQL server: scripts/postgres.sh installs (apt) and starts a private one on
# 127.0.0.1:55432 unless KERN_TEST_POSTGRES_URL names another.
test: setup
	@[ -n "$${KERN_TEST_POSTGRES_URL:-}" ] || bash scripts/postgres.sh >/dev/null
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check kern actors
	$(VENV)/bin/mypy

# Single streams and cancels, then the concurrency sweep (10-500 team runs), each beside Agno when
# AGNO_PYTHON names an interpreter with Agno (see benchmarks/README.md).
bench: setup
	$(VENV)/bin/python benchmarks/run.py
	$(VENV)/bin/python benchmarks/concurrency.py
