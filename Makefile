# The README's commands. Everything is installed from this repository's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MO := webapp/translations/en/LC_MESSAGES/messages.mo

.PHONY: dev test lint format bench translations extract-messages clean lock audit

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Catalogues are compiled by the build, never committed.
$(MO): webapp/translations/en/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -d webapp/translations

translations: $(MO)

dev: $(STAMP) $(MO)
	$(BIN)/python scripts/dev.py

test: $(STAMP) $(MO)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/audit_deps.py
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# requirements.lock: every runtime dependency pinned, from pyproject.toml; `make test` audits it.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

audit: $(STAMP)
	$(BIN)/python scripts/audit_deps.py

# Every benchmark, then issue 15's table of figures, goals and verdicts (a few minutes).
bench: $(STAMP) $(MO)
	$(BIN)/python bench/run.py

# After changing user-facing strings: refresh the English catalogue, then translate.
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching

clean:
	rm -rf $(VENV) instance
