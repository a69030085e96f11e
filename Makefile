# Joined-up: every target installs what it needs into local virtual environments first.
#   make demo   - install, then play the crisis-notice story on the embedded SQLite default
#   make test   - install, lint and type-check (make check), then run the whole suite
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.joinedup-synced
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo serve check test bench lint-fix clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# uv.lock pins every dependency (with hashes); --frozen refuses to run if it is stale.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/joinedup demo $(DEMO_ARGS)

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: check
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks.exchange
	$(BIN)/python -m benchmarks.fhir_parsing
	$(BIN)/python -m benchmarks.cin_import
	$(BIN)/python -m benchmarks.decisions

lint-fix: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
