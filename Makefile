# yamori — the two commands of the README: `make run` and `make test`.
# Both work on a fresh Debian machine as root: they install what they need first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv system-deps lint typecheck unit bench bench-vulndb bench-detect bench-cloud bench-iac bench-sensor bench-server clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import ensurepip, venv" >/dev/null 2>&1 || scripts/install-system-deps.sh python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## The main job on the embedded default: server and console on 127.0.0.1:8470, a first scan of
## this host and its podman images, the sensor when root with bpftrace; prints URL and token.
run: venv
	$(BIN)/yamori up

system-deps:
	scripts/install-system-deps.sh test

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q

## Everything CI runs: system packages for the real components, lint, types, the whole suite.
test: system-deps venv lint typecheck unit

bench: venv
	$(BIN)/python bench/sbom_vs_trivy.py

bench-vulndb: venv
	$(BIN)/python bench/vulndb.py

bench-detect: venv
	$(BIN)/python bench/detect.py

bench-cloud: venv
	$(BIN)/python bench/cloud.py

bench-iac: venv
	$(BIN)/python bench/iac_vs_checkov.py

bench-sensor: venv
	$(BIN)/python bench/sensor.py

bench-server: venv
	$(BIN)/python bench/server.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
