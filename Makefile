# vxdial: `make run` installs and starts the service on the embedded defaults;
# `make test` installs what the tests need (Debian packages included), starts the
# services they use, and runs every check. `.ci/run` calls `make test`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# Debian packages the tests use: php-cli is the oracle of the time-expression tests;
# sip-tester (SIPp) and baresip are the far ends of the SIP tests, espeak-ng and sox
# render prompts; chromium runs the browser tests (driven by Playwright).
TEST_DEBS := php-cli sip-tester baresip espeak-ng sox chromium
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run install test test-deps services lint unit bench-ingest bench-queuecall clean

run: $(STAMP)
	$(BIN)/vxdial serve

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || scripts/apt-install.sh python3-venv
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

test-deps: $(STAMP)
	scripts/apt-install.sh $(TEST_DEBS)

services:
	scripts/ensure-postgres.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: test-deps services lint
	$(BIN)/pytest -q

# The W3C VoiceXML IR tests: runs them all and writes docs/CONFORMANCE.md (make test runs
# them too, as tests/conformance).
.PHONY: conformance
conformance: $(STAMP)
	$(BIN)/python -m tests.conformance.report

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-queuecall: $(STAMP)
	$(BIN)/python bench/queuecall.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
