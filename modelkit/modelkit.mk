# The TensorFlow side (model tooling, edge artifacts): its own venv .venv-tf, because the
# Pulumi venv must never import TensorFlow and TF brings a large dependency tree.
#   make setup-tf     .venv-tf from modelkit/requirements.txt (incremental: stamp file)
#   make test-tf      type check modelkit + tests/tf, then pytest tests/tf
#   make bench-edge   bench/edge_bench.py (MobileNetV2-shaped model, local moto S3)
#   make edge-refresh STACK=<stack> EDGE_BUCKET=<uri>   re-sign the edge timestamp (and what is due)
#   make lock-tf      rewrite modelkit/requirements.txt from the installed .venv-tf
VENV_TF := .venv-tf
TF_BIN := $(VENV_TF)/bin
TF_STAMP := $(VENV_TF)/.installed
PYTHON ?= python3

.PHONY: setup-tf test-tf bench-edge lock-tf edge-refresh

setup-tf: $(TF_STAMP)

# --no-deps everywhere: requirements.txt is a full lock (see its header for why).
$(TF_STAMP): modelkit/requirements.txt modelkit/pyproject.toml modelkit/modelkit.mk
	test -x $(TF_BIN)/python || $(PYTHON) -m venv $(VENV_TF)
	$(TF_BIN)/pip install --quiet --no-deps -r modelkit/requirements.txt
	$(TF_BIN)/pip install --quiet --no-deps --no-build-isolation -e modelkit
	# The repository root on sys.path: modelkit reads config through infra.config.
	$(TF_BIN)/python -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "tfplat-root.pth").write_text("$(CURDIR)\n")'
	touch $@

test-tf: setup-tf
	$(TF_BIN)/mypy --config-file modelkit/mypy.ini
	# --confcutdir: tests/tf runs without the Pulumi venv, so no conftest above it is loaded.
	$(TF_BIN)/pytest -q --confcutdir=tests/tf tests/tf

bench-edge: setup-tf
	$(TF_BIN)/python bench/edge_bench.py

# The scheduled job (.github/workflows/edge-resign.yml, docs/runbooks/edge-resign-timestamp.md).
edge-refresh: setup-tf
	@test -n "$(EDGE_BUCKET)" || { echo "error: EDGE_BUCKET: no edge bucket given"; \
	  echo "    fix: make edge-refresh STACK=<stack> EDGE_BUCKET=gs://<bucket> (the stack output edge.bucket)"; exit 2; }
	$(TF_BIN)/tfplat-model edge refresh --stack $(STACK) --bucket $(EDGE_BUCKET)

lock-tf: setup-tf
	{ grep '^#' modelkit/requirements.txt; \
	  $(TF_BIN)/pip freeze --all --exclude-editable | grep -v -E '^(pip|tfplat|tfplat-modelkit)==' \
	    | sed 's/^moto==/moto[server]==/' | sort -f; } > modelkit/requirements.txt.new
	mv modelkit/requirements.txt.new modelkit/requirements.txt
