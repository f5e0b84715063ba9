# Every target sets itself up: the first run creates .venv and installs the pinned requirements.
PYTHON ?= python3
VENV   ?= .venv
STACK  ?= dev
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: plan plan-all test lint check bench upstream clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## make plan STACK=dev : offline plan of one stack (no cloud account, no Pulumi CLI)
plan: $(STAMP)
	$(BIN)/python -m infra plan --stack $(STACK) --json build/plan-$(STACK).json \
		--markdown build/plan-$(STACK).md --manifests build/manifests-$(STACK)

## make plan-all : offline plan of every stack in stacks/
plan-all: $(STAMP)
	@set -e; for f in stacks/Pulumi.*.yaml; do s=$${f#stacks/Pulumi.}; s=$${s%.yaml}; \
		$(MAKE) --no-print-directory plan STACK=$$s; done

## make test : the whole test suite (what CI runs)
test: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/python -m ruff check .

## make upstream : fetch the pinned upstream CRDs / chart values the schema tests use
upstream: $(STAMP)
	$(BIN)/python tests/fetch_upstream.py

bench: $(STAMP)
	$(BIN)/python bench/plan_speed.py

clean:
	rm -rf build .pytest_cache
