# Two commands: `make demo` runs the product on its embedded default, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format install lock migrate seed bench messages clean

# The demo's settings: production's (config.settings) plus the simulators and their addresses. Every
# process `manage.py demo` starts inherits them.
DEMO := DJANGO_SETTINGS_MODULE=config.demo_settings

# One .venv with both locks: the runtime (requirements.lock, all the Docker image installs) and the
# development and test tools (requirements-dev.lock).
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock -r requirements-dev.lock
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(DEMO) $(BIN)/python manage.py migrate --noinput

seed: migrate
	$(DEMO) $(BIN)/python manage.py demo --seed-only

demo: migrate
	$(DEMO) $(BIN)/python manage.py demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache  # the layers: pyproject.toml [tool.importlinter]

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(DEMO) $(BIN)/python manage.py makemigrations --check --dry-run  # every app, the simulators too
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/webhook_ingest.py
	$(BIN)/python bench/issuance.py
	$(BIN)/python bench/dashboard_logs.py

# Refresh the Vietnamese and Swedish catalogues after changing page texts (needs GNU gettext); the
# compiled .mo files are committed, so running the product never needs gettext.
messages: $(STAMP)
	$(BIN)/python manage.py makemessages --locale vi --locale sv --no-obsolete --ignore ".venv/*" \
		--ignore "var/*" --ignore "tests/*" --ignore "bench/*" --ignore "sandbox/*"
	$(BIN)/python manage.py compilemessages --locale vi --locale sv --ignore ".venv/*"

# Re-pin every dependency after changing pyproject.toml: requirements.lock from `dependencies`, then
# requirements-dev.lock from the `dev` extra (installed under the fresh runtime pins) minus those pins.
LOCK_VENV := /tmp/ledgerlink-lock
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet .
	{ echo "# Runtime dependencies, exact versions (make lock regenerates it from pyproject.toml's dependencies)."; \
	  echo "# The Docker image installs this file only; development and test tools are in requirements-dev.lock."; \
	  $(LOCK_VENV)/bin/pip freeze --exclude ledgerlink; } > requirements.lock
	$(LOCK_VENV)/bin/pip install --quiet --constraint requirements.lock ".[dev]"
	{ echo "# Development and test tools, exact versions (make lock regenerates it from pyproject.toml's dev extra,"; \
	  echo "# minus what requirements.lock already pins). Install both: pip install -r requirements.lock -r requirements-dev.lock"; \
	  $(LOCK_VENV)/bin/pip freeze --exclude ledgerlink | grep -vxFf requirements.lock; } > requirements-dev.lock
	rm -rf $(LOCK_VENV)

clean:
	rm -rf var .pytest_cache .ruff_cache test-output
