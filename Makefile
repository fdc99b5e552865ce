# The two commands of the README: `make run` (all-in-one demo) and `make test` (the whole suite).
# Both work on a fresh Debian machine with Python 3.11: they create .venv and install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast lint bench servers clean

# make run UHPPOTE=1: the demo's gate-01 is an emulated UHPPOTE controller behind the UHPPOTE bridge
run: $(VENV)/.run-installed
	$(BIN)/smartcity run --demo $(if $(UHPPOTE),--uhppote)

test: $(VENV)/.test-installed servers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.test-installed
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

lint: $(VENV)/.test-installed  # ruff, mypy --strict, the import contracts of pyproject.toml
	$(BIN)/ruff check smartcity market community gateway accounts webkit messaging relational config devices \
	  notifications bridges tests bench dashboards
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.test-installed servers
	$(BIN)/python bench/ingest.py

$(VENV)/bin/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed: installing Debian's python3-venv"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.run-installed

# The integration tests start their own Mosquitto, InfluxDB and PostgreSQL on free loopback ports;
# they need the Debian packages installed, which this does when they are missing.
servers:
	@missing=""; \
	[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing="$$missing mosquitto"; \
	command -v influxd >/dev/null || missing="$$missing influxdb"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
