# vxdial: `make run` installs what running needs and starts the service on the embedded
# defaults; `make test` installs what the tests need too (the `test` extras, Debian
# packages), starts the services they use, and runs every check. `.ci/run` calls
# `make test`. `make install` is the developer's install: the package and the test extras.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYPROJECT_HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
# One stamp per kind of install, named after pyproject.toml's contents: a change there
# installs again. The test install builds on the runtime one.
RUN_STAMP := $(VENV)/.installed-run-$(PYPROJECT_HASH)
TEST_STAMP := $(VENV)/.installed-test-$(PYPROJECT_HASH)
# Debian packages the tests use: php-cli is the oracle of the time-expression tests;
# sip-tester (SIPp) and baresip are the far ends of the SIP tests, espeak-ng and sox
# render prompts; chromium runs the browser tests (driven by Playwright).
TEST_DEBS := php-cli sip-tester baresip espeak-ng sox chromium
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run install test test-deps services lint unit bench-ingest bench-queuecall bench-cli clean

run: $(RUN_STAMP)
	$(BIN)/vxdial serve

install: $(TEST_STAMP)

$(BIN)/python:
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || scripts/apt-install.sh python3-venv
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-test-*
	@touch $@

test-deps: $(TEST_STAMP)
	scripts/apt-install.sh $(TEST_DEBS)

services:
	scripts/ensure-postgres.sh

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: $(TEST_STAMP) test-deps services lint
	$(BIN)/pytest -q

# The W3C VoiceXML IR tests: runs them all and writes docs/CONFORMANCE.md (make test runs
# them too, as tests/conformance).
.PHONY: conformance
conformance: $(TEST_STAMP)
	$(BIN)/python -m tests.conformance.report

unit: $(TEST_STAMP)
	$(BIN)/pytest -q tests/unit

bench-ingest: $(TEST_STAMP)
	$(BIN)/python bench/ingest.py

bench-queuecall: $(TEST_STAMP)
	$(BIN)/python bench/queuecall.py

bench-cli: $(TEST_STAMP)
	$(BIN)/python bench/cli.py --importtime

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
