# Joined-up: every target installs what it needs into local virtual environments first.
#   make demo   - install, then play the crisis-notice story on the embedded SQLite default
#   make test   - install, lint and type-check (make check), install the browser, run the suite
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.joinedup-synced
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo serve check browser test bench lint-fix clean

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

# Debian's headless Chromium for the browser tests (tests/browser), never `playwright install`:
# nothing to do when it is there; installed with apt-get when we are root; otherwise a loud
# message (the browser tests then skip with a banner, and under CI=true fail).
CHROMIUM := /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make browser: installing Debian's chromium for the browser tests"; \
	  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium >/dev/null; then \
	    echo "make browser: $$($(CHROMIUM) --version 2>/dev/null)"; \
	  else \
	    echo "!!! make browser: apt-get could not install chromium: the browser tests will not run"; \
	    if [ "$${CI:-}" = true ]; then exit 1; fi; \
	  fi; \
	else \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo "!!! make browser: $(CHROMIUM) is missing and we are not root to apt-get it."; \
	  echo "!!! Install it: sudo apt-get install --no-install-recommends chromium"; \
	  echo "!!! Until then the browser tests (tests/browser) are skipped."; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  if [ "$${CI:-}" = true ]; then echo "CI=true: a missing browser is a failure"; exit 1; fi; \
	fi

test: check browser
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks.exchange
	$(BIN)/python -m benchmarks.fhir_parsing
	$(BIN)/python -m benchmarks.cin_import
	$(BIN)/python -m benchmarks.decisions
	$(BIN)/python -m benchmarks.audit_verify
	$(BIN)/python -m benchmarks.person_report

lint-fix: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
