# SensorGuard: `make demo` runs the platform end to end on embedded backends; `make test` starts
# the real servers (Kafka, Cassandra, Mosquitto, Prometheus) once and runs every test.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
SERVICES := infra/local/services.sh
PYTEST_ARGS ?=
SG_DATA := $(abspath $(or $(SENSORGUARD_DATA_DIR),.sensorguard))

.PHONY: help setup demo demo-services test test-unit lint typecheck services-fetch services-up \
        test-faults services-down services-status mlflow-ui airflow-ui serve score-stream operators bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# uv itself comes from PyPI, pinned, so a fresh machine needs only Python 3.11 and pip.
$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --python 3.11
	@touch $@

setup: $(VENV)/.synced ## Create the virtualenv from uv.lock

demo: setup ## Run the end-to-end demo on embedded backends (no servers needed)
	$(BIN)/sensorguard demo --fresh

# Mosquitto admits only its users: services.sh wrote their credentials (as password files).
demo-services: setup services-up ## The same demo against Mosquitto -> Kafka -> Cassandra
	set -a; . $(or $(SENSORGUARD_SERVICES_DIR),.services/run)/mosquitto/credentials.env; set +a; \
	$(BIN)/sensorguard demo --fresh --services

test: setup lint ## Lint, start the real servers once, run every test, stop the servers
	$(SERVICES) fetch
	$(SERVICES) up
	rc=0; $(BIN)/pytest $(PYTEST_ARGS) || rc=$$?; $(SERVICES) down; exit $$rc

test-faults: setup ## Only the fault tests (kill -9 / restart Kafka, Cassandra, Mosquitto, writer, scorer on private servers); make test runs them too
	$(SERVICES) fetch
	$(BIN)/pytest -m faults -rP $(PYTEST_ARGS)

test-unit: setup ## Only the tests that need no server
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

lint: setup ## ruff lint + format check, mypy strict
	$(BIN)/ruff check src tests bench dags features serving
	$(BIN)/ruff format --check src tests bench dags features serving
	$(BIN)/mypy

services-fetch: ## Download Kafka/Cassandra jars, install Mosquitto/Prometheus/Alertmanager
	$(SERVICES) fetch

services-up: services-fetch ## Start Kafka, Cassandra, Mosquitto, Prometheus, Alertmanager on 127.0.0.1
	$(SERVICES) up

services-down: ## Stop the servers started by services-up
	$(SERVICES) down

services-status: ## Which servers run
	$(SERVICES) status

serve: setup ## BentoML scoring service on http://127.0.0.1:3000 (POST /score, GET /models; API key)
	$(BIN)/sensorguard serve

score-stream: setup ## Stream scorer: sensor-data -> champions -> anomaly-scores + the store
	$(BIN)/sensorguard score stream

operators: setup ## Alerts API and the operators' page on http://127.0.0.1:8002/live (API key)
	$(BIN)/sensorguard alerts serve

mlflow-ui: setup ## MLflow UI on http://127.0.0.1:5000 (runs, metrics, registry, @champion)
	$(BIN)/mlflow ui --backend-store-uri $(or $(SENSORGUARD_MLFLOW_TRACKING_URI),sqlite:///$(SG_DATA)/mlflow.db) \
		--default-artifact-root file://$(SG_DATA)/mlartifacts --host 127.0.0.1 --port 5000

airflow-ui: setup ## Airflow (scheduler + UI) on http://127.0.0.1:8080 with the DAGs of dags/
	AIRFLOW_HOME=$(SG_DATA)/airflow AIRFLOW__CORE__DAGS_FOLDER=$(abspath dags) \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=8080 \
	SENSORGUARD_DATA_DIR=$(SG_DATA) PATH=$(abspath $(BIN)):$$PATH airflow standalone

bench: setup services-up ## Every benchmark against its same-run baseline (bench/results/latest.json, bench/README.md)
	$(BIN)/sensorguard bench

clean: ## Remove embedded data (not the venv, not the jar cache)
	rm -rf .sensorguard
