# Two commands: `make demo` runs the product on its embedded default, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format install lock migrate seed bench messages clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py demo --seed-only

demo: migrate
	$(BIN)/python manage.py demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/webhook_ingest.py
	$(BIN)/python bench/issuance.py
	$(BIN)/python bench/dashboard_logs.py

# Refresh the Vietnamese catalogue after changing page texts (needs GNU gettext); the compiled .mo is
# committed, so running the product never needs gettext.
messages: $(STAMP)
	$(BIN)/python manage.py makemessages --locale vi --no-obsolete --ignore ".venv/*" --ignore "var/*" \
		--ignore "tests/*" --ignore "bench/*" --ignore "sandbox/*"
	$(BIN)/python manage.py compilemessages --locale vi --ignore ".venv/*"

# Re-pin every dependency after changing pyproject.toml.
lock:
	rm -rf /tmp/ledgerlink-lock && $(PYTHON) -m venv /tmp/ledgerlink-lock
	/tmp/ledgerlink-lock/bin/pip install --quiet --upgrade pip
	/tmp/ledgerlink-lock/bin/pip install --quiet ".[dev]"
	{ echo "# Exact versions for a reproducible install (make lock regenerates it from pyproject.toml)."; \
	  /tmp/ledgerlink-lock/bin/pip freeze --exclude ledgerlink; } > requirements.lock

clean:
	rm -rf var .pytest_cache .ruff_cache test-output
