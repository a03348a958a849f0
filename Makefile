# Two commands on a fresh machine:  make serve  (local endpoint on http://127.0.0.1:8080)  and  make test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: serve test test-endpoint-image lint format clean

$(VENV)/.installed: requirements-runtime.txt requirements-server.txt requirements-container.txt requirements-dev.txt
	@# The web UI test drives Debian's Chromium (Playwright's own browser download cannot run offline).
	command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

serve: $(VENV)/.installed
	$(PY) scripts/serve.py $(ARGS)

test: $(VENV)/.installed lint
	$(PY) -m pytest -q

# The deploy.py repository on a replica of the default Inference Endpoints image (part of `make test` too).
test-endpoint-image: $(VENV)/.installed
	$(PY) -m pytest -q -m endpoint_image tests/test_endpoint_image.py

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) checkpoints .pytest_cache .ruff_cache
