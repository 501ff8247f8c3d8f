# Entry points (kept stable: reviewers and automation call them):
#   make plan STACK=<env>   offline plan -> build/<env>/resources.json and build/<env>/manifests/
#   make test               lint, type check, and the whole test suite
#   make setup              the project venv at .venv (every other target depends on it)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev
STAMP := $(VENV)/.installed
CRD_TOOL := tools/crd-validate
CRD_STAMP := $(CRD_TOOL)/node_modules/.installed

# The TensorFlow side (model tooling, edge artifacts) has its own venv: modelkit/modelkit.mk
-include modelkit/modelkit.mk

.PHONY: setup system-tools plan plan-all validate diff test lint typecheck lock clean pin-images

setup: $(STAMP) $(CRD_STAMP) system-tools

# promtool checks every plan's alert rules. Installed with apt where we can (CI runs as
# root on Debian/Ubuntu); elsewhere setup stops and says how to get it.
PROMTOOL ?= promtool
system-tools:
	@{ command -v $(PROMTOOL) && command -v prometheus; } >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }; \
	  else \
	    echo "error: promtool and the prometheus server are needed (rule checks; tests/harness runs the rules live)"; \
	    echo "    fix: Debian/Ubuntu: sudo apt-get install prometheus; macOS: brew install prometheus"; \
	    exit 1; \
	  fi; }

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(CRD_STAMP): $(CRD_TOOL)/package.json $(CRD_TOOL)/package-lock.json
	cd $(CRD_TOOL) && npm ci --silent --no-audit --no-fund
	touch $@

plan: setup
	$(BIN)/tfplat plan --stack $(STACK)

plan-all: setup
	for s in $$($(BIN)/python -c 'from infra.config.loader import available_stacks, project_root; print(*available_stacks(project_root()))'); do \
	  $(BIN)/tfplat plan --stack $$s || exit $$?; done

validate: setup
	$(BIN)/tfplat validate

diff: setup
	$(BIN)/tfplat diff --stack $(STACK)

# Needs registry access: resolves every image tag to its digest in images/versions.yaml.
pin-images: setup
	$(BIN)/tfplat images pin

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

# The TensorFlow suite (tests/tf) runs in its own venv through test-tf (modelkit/modelkit.mk).
test: lint typecheck test-tf
	$(BIN)/pytest -n auto -q --ignore=tests/tf

lock: setup
	{ echo "# Full pin set (pip freeze of .venv). Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache
