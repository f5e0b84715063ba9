# Every target sets itself up: the first run creates .venv and installs the locked requirements
# (requirements-dev.lock: every transitive dependency pinned with its hashes; `make lock` re-resolves it).
PYTHON ?= python3
VENV   ?= .venv
STACK  ?= dev
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHECKOV_VENV  ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: plan plan-all test lint typecheck check bench upstream lock clean

$(STAMP): requirements.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $(STAMP)

# checkov in a virtualenv of its own (its pins clash with ours); tests/test_checkov.py runs it
$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

## make plan STACK=dev : offline plan of one stack (no cloud account, no Pulumi CLI)
plan: $(STAMP)
	$(BIN)/python -m infra plan --stack $(STACK) --json build/plan-$(STACK).json \
		--markdown build/plan-$(STACK).md --manifests build/manifests-$(STACK)

## make plan-all : offline plan of every stack in stacks/
plan-all: $(STAMP)
	@set -e; for f in stacks/Pulumi.*.yaml; do s=$${f#stacks/Pulumi.}; s=$${s%.yaml}; \
		$(MAKE) --no-print-directory plan STACK=$$s; done

## make test : the whole test suite (what CI runs): lint, types (mypy, config in pyproject.toml), pytest
test: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/python -m ruff check .

typecheck: $(STAMP)
	$(BIN)/python -m mypy

## make lock : re-resolve requirements.lock / requirements-dev.lock from requirements*.txt (pip-tools in its own venv)
LOCK_VENV := .venv-lock
lock:
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet pip-tools==7.6.2
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock requirements.txt
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements-dev.lock requirements-dev.txt

## make upstream : fetch the pinned upstream CRDs / chart values the schema tests use
upstream: $(STAMP)
	$(BIN)/python tests/fetch_upstream.py

bench: $(STAMP)
	$(BIN)/python bench/plan_speed.py

clean:
	rm -rf build .pytest_cache .mypy_cache
