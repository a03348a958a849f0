# Two commands on a fresh machine:  make serve  (local endpoint on http://127.0.0.1:8080)  and  make test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=
SCALE ?= 10

.PHONY: serve test test-fast test-endpoint-image fuzz lint format clean

# Serving only: torch, the SAM3 code and the HTTP server (add the web UI with: .venv/bin/pip install -e .[ui]).
# Installs under constraints.txt (the torch the suite runs on), as the custom container does.
$(VENV)/.serve: requirements-runtime.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e .[server]
	touch $@

# Everything for tests and tools. The web UI test drives Debian's Chromium (Playwright cannot download its own).
$(VENV)/.dev: $(VENV)/.serve
	command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
	$(PY) -m pip install -q -c constraints.txt -e .[server,ui,coco,dev]
	touch $@

serve: $(VENV)/.serve
	$(VENV)/bin/sam3-serve $(ARGS)

# What CI runs (.ci/run): lint, then every test, including the endpoint-image replica (skipped without ../shared).
test: $(VENV)/.dev lint
	$(PY) -m pytest -q --durations=20

# Unit tests only: no servers, browsers, subprocesses or replicas.
test-fast: $(VENV)/.dev
	$(PY) -m pytest -q -m "not slow"

# The sam3-deploy repository on a replica of the default Inference Endpoints image.
test-endpoint-image: $(VENV)/.dev
	$(PY) -m pytest -q tests/endpoint_image

# The property-based fuzz tests at SCALE times CI's size (CI: 2,000 parser and 300 full-handler payloads).
fuzz: $(VENV)/.dev
	SAM3_FUZZ_SCALE=$(SCALE) $(PY) -m pytest -q tests/unit/test_fuzz.py --hypothesis-show-statistics

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) checkpoints build .pytest_cache .ruff_cache
