# Two entry points that work on a fresh clone (Python >= 3.11 and make):
#   make demo   set up, then run the connector against the built-in FreeSWITCH
#               simulator and a local CRM receiver
#   make test   set up, then run the whole test suite (the storage, delivery and
#               end-to-end tests on SQLite and on PostgreSQL: the server named by
#               ESL_TEST_POSTGRES_URL, else one started with tests/pg_server.sh)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: setup test demo bench screenshots clean
setup: $(VENV)/.installed

test: setup
	@[ -n "$$ESL_TEST_POSTGRES_URL" ] || bash tests/install_postgres.sh
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/esl-connector demo

bench: setup
	$(PY) bench/bench_tracker.py

screenshots: setup
	$(PY) docs/make_screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache
