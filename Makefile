# ICI Rechallenge Registry — the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MANAGE := $(PY) manage.py
PORT ?= 8000
DEMO_SITES ?= 4
DEMO_PATIENTS ?= 400
#: Test processes (pytest-xdist, each with its own test database): `auto` is one per core, 0 runs in one.
PYTEST_WORKERS ?= auto
#: Examples drawn by the generated tests (Hypothesis, schemathesis; see tests/generated.py): `full`, or
#: `smoke` for a tenth of them.
GENERATED_TESTS ?= full

.PHONY: help install install-dev run web worker beat migrate seed test pytest lint fmt typecheck imports \
        migrations-check check bench clean

help:
	@echo "make run    – install, migrate, seed demo data if empty, start web + worker + beat"
	@echo "make test   – install test tools and run make check and the suite (in parallel; GENERATED_TESTS=smoke for fewer examples)"
	@echo "make check  – lint + import contract + type check of registry/ + migrations check + Django checks"
	@echo "make bench  – repeatable benchmarks (see bench/README.md)"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(MANAGE) migrate --noinput

seed: migrate
	$(MANAGE) seed_demo --sites $(DEMO_SITES) --patients $(DEMO_PATIENTS) --seed 1 --if-empty

run: seed
	$(MANAGE) collectstatic --noinput -v 0
	$(MANAGE) setup_schedules
	@bash scripts/run_all.sh $(PORT)

web: install
	$(MANAGE) runserver 127.0.0.1:$(PORT)

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO --concurrency=2

beat: install
	$(BIN)/celery -A config beat --loglevel=INFO

test: install-dev check pytest

pytest: install-dev
	$(BIN)/pytest -p no:randomly -n $(PYTEST_WORKERS) --dist worksteal --hypothesis-profile=$(GENERATED_TESTS) \
		$(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

imports: install-dev
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

migrations-check: install-dev
	$(MANAGE) makemigrations --check --dry-run
	$(MANAGE) check
	DJANGO_SECRET_KEY=$$(printf 'x%.0s' {1..60})-deploy-check DJANGO_ALLOWED_HOSTS=registry.example.org \
		$(PY) manage.py check --deploy --fail-level WARNING --settings config.settings.production

check: lint imports typecheck migrations-check

bench: install-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var
