# Two entry points for a fresh machine: `make app` (install + run the explorer) and
# `make test` (install + the whole test suite). Both create .venv when it is absent.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The local CPU wheel; a machine that already has torch (e.g. a CUDA build) keeps its own.
TORCH_CPU ?= torch==2.13.0

.PHONY: install install-test app test bench lint notebooks render-notebooks

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH_CPU)
	$(BIN)/pip install -q -e ".[app]"

install-test: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH_CPU)
	$(BIN)/pip install -q -e ".[app,test]"

app: install
	$(BIN)/streamlit run app/main.py

test: install-test
	$(BIN)/python -m pytest -q tests

# JupyterLab on notebooks/ (installs the `notebooks` extra: jupyterlab, ipywidgets). --allow-root: in a
# container this runs as root, where JupyterLab otherwise refuses to start (harmless for other users).
notebooks: install
	$(BIN)/pip install -q -e ".[app,notebooks]"
	$(BIN)/jupyter lab --allow-root notebooks/

# Execute every notebook and write notebooks/rendered/*.html (+ manifest.json with source hashes and
# times); `make render-notebooks NB="01_data 05_model"` renders some. tests/test_notebooks.py checks they are current.
render-notebooks: install
	$(BIN)/pip install -q -e ".[app,notebooks]"
	$(BIN)/python tools/render_notebooks.py $(NB)

bench: install
	$(BIN)/actionpose bench --preset tiny

lint:
	$(BIN)/ruff check .
