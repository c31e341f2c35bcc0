# Two commands do all the set-up on a fresh machine (see README.md):
#   make run    create .venv if needed, install maskstudio, open the editor on the built-in demo
#   make test   create .venv if needed, install maskstudio with its test tools, check the code
#               (ruff, mypy) and run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,reference,lint,cluster]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/maskstudio $(ARGS)

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (pyflakes, pycodestyle, import order, bugbear, pyupgrade) and mypy, both configured in
# pyproject.toml; each must report nothing
lint: $(VENV)/.installed
	$(BIN)/ruff check maskstudio tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_core.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
