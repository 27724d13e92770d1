# recon: two commands matter. `make demo` runs one reconciliation end to end on the embedded
# warehouse; `make test` runs the whole test suite. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DBT := $(VENV)/bin/dbt
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: install system-deps manifest demo psql recon ui test bench-load bench-match bench-extract bench-dashboard lint clean

install: $(VENV)/.installed

# The venv is rebuilt only when the dependency files change.
$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Debian's docker-compose validates docker-compose.yml in the tests (no Docker engine needed); Debian's
# chromium is the browser the UI tests drive through Playwright (never `playwright install`).
system-deps:
	@command -v docker-compose >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq docker-compose >/dev/null || \
	    { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; }; \
	  else echo "docker-compose is missing: sudo apt-get install docker-compose" >&2; exit 1; fi; }
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; \
	  else echo "chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; }

# Cosmos renders the dbt graph from this manifest, so DAG parsing never shells out to dbt.
manifest: install
	$(DBT) parse --quiet --project-dir dbt_project --profiles-dir dbt_project

demo: manifest
	$(PY) -m include.demo $(if $(SPEC),--spec $(SPEC)) $(if $(DAY),--day $(DAY)) $(if $(SEED),--seed $(SEED))

# Query the demo's result tables: `make psql`, or `make psql Q="select ..."`.
psql: install
	$(PY) -m include.warehouse_shell $(if $(Q),-c "$(Q)")

# The recon CLI on the demo's warehouse: `make recon ARGS="breaks list --spec stripe_billing"`.
recon: install
	$(PY) -m include.warehouse_shell --recon $(ARGS)

# The Airflow UI and REST API on the demo's warehouse and Airflow home, until Ctrl-C (include/ui.py):
# `make ui`, or `make ui PORT=8081`. Prints the URL and the users' passwords (new on each start).
ui: manifest
	$(PY) -m include.ui $(if $(PORT),--port $(PORT))

test: manifest system-deps
	$(PY) -m pytest

# recon's CSV staging load against raw `psql \copy` of the same file (include/bench/README.md).
bench-load: manifest
	$(PY) -m include.bench.load --rows $(or $(ROWS),1000000 10000000) $(if $(REPEAT),--repeat $(REPEAT))

# recon's matching (load + dbt) against datacompy and COPY + one full outer join (include/bench/README.md).
bench-match: manifest
	$(PY) -m include.bench.match --rows $(or $(ROWS),1000000 10000000)

# The dashboard's server time on a year of daily runs and a million breaks (include/bench/README.md).
bench-dashboard: manifest
	$(PY) -m include.bench.dashboard $(if $(RUNS),--runs $(RUNS)) $(if $(BREAKS),--breaks $(BREAKS)) $(if $(REPEAT),--repeat $(REPEAT))

# API extractors (Stripe SDK, REST, GraphQL) against the sandbox, beside a bare httpx pager.
bench-extract: install
	$(PY) -m include.bench.extract --records $(or $(RECORDS),20000) $(if $(REPEAT),--repeat $(REPEAT))

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check plugins dags include tests

clean:
	rm -rf .demo .airflow dbt_project/target dbt_project/logs
