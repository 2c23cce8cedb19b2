# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run migrate seed test lint format bench bench-ingestion bench-closing bench-margins bench-validation bench-traces bench-balance bench-simulate fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/honcho start -f Procfile

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: bench-ingestion bench-closing bench-margins bench-validation bench-traces bench-balance bench-simulate

# Benchmarks need PostgreSQL on 127.0.0.1:5432 (BENCH_PG to change) and Redis.
bench-ingestion: install
	$(BIN)/python tests/benchmarks/ingestion.py

# 200,000 OTLP spans (protobuf, batches of 512) against the same costs through the costs API.
bench-traces: install
	$(BIN)/python tests/benchmarks/traces.py

bench-closing: install
	$(BIN)/python tests/benchmarks/closing.py

# The same 1,000,000 signals spread over 3 monthly periods, with dashboard and API reads.
bench-margins: install
	BENCH_MONTHS=3 BENCH_FIRST_CLOSE=0 $(BIN)/python tests/benchmarks/closing.py

# 1,000 customers with credits and budgets, 1,000,000 signals this month (needs wrk).
bench-balance: install
	$(BIN)/python tests/benchmarks/balance.py

# The pricing lab: one customer's 12 periods, then a portfolio change over 1,000 customers.
bench-simulate: install
	$(BIN)/python tests/benchmarks/simulate.py

bench-validation: install
	$(BIN)/python tests/benchmarks/validation.py

# schemathesis against a live server on a fresh PostgreSQL database (as .ci/run does).
fuzz: install
	$(BIN)/python tests/fuzz/schemathesis_run.py

# Everything the project creates: the virtualenv, the SQLite database, Celery's folders,
# static files, test screenshots, tool caches, packaging leftovers, bytecode.
clean:
	rm -rf $(VENV) db.sqlite3* .celery control staticfiles test-artifacts \
		.pytest_cache .ruff_cache .hypothesis *.egg-info build
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
