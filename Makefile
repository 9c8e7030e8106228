# Two commands for a newcomer: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
# Exact versions with hashes (`make lock` regenerates them from pyproject.toml's ranges); the image uses runtime.txt.
LOCK_RUNTIME := requirements/runtime.txt
LOCK_DEV := requirements/dev.txt
UV_VERSION := 0.13.9
COMPILE := $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --no-header --no-annotate

.PHONY: run test lint format lock system-deps messages bench reliability cluster clean

$(STAMP): $(LOCK_DEV) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK_DEV)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# uv comes from PyPI into the virtualenv; only the lock files are committed.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"
	$(COMPILE) -o $(LOCK_RUNTIME)
	$(COMPILE) --extra dev -o $(LOCK_DEV)

# Debian packages the project needs: gettext (compilemessages), Chromium for the browser tests, HAProxy for the cluster.
system-deps:
	@missing=""; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

messages: $(STAMP)
	$(BIN)/python manage.py compilemessages --ignore=.venv -v0

run: $(STAMP) messages
	bin/run

test: $(STAMP) system-deps messages
	bin/test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	bin/bench

reliability: $(STAMP) messages
	bin/reliability

cluster: $(STAMP) system-deps
	bin/cluster

clean:
	rm -rf $(VENV) var
