# `make run`: set up and serve the console on http://127.0.0.1:8000 (PORT, HOST). `make test`: the whole test suite.
# `make screenshots`: every page in both languages at 1280 and 390 px, into screenshots/ (git-ignored).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint setup screenshots

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

$(VENV)/.dev: $(BIN)/activate requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.dev

setup: $(BIN)/activate
	$(BIN)/python -m config.localenv
	mkdir -p -m 700 data
	$(BIN)/python manage.py check --fail-level ERROR
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py compile_translations
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

run: setup
	$(BIN)/gunicorn --config config/gunicorn.py config.wsgi

# The real llama.cpp server the tests run is built once into a cache outside the clone (.ci/llama-server).
test: $(VENV)/.dev
	$(BIN)/python manage.py compile_translations --verbosity 0
	llama=$$(bash .ci/llama-server) && LLAMA_SERVER=$$llama $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

screenshots: $(VENV)/.dev
	$(BIN)/python manage.py compile_translations --verbosity 0
	SCREENSHOTS_DIR=screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser/test_screens.py \
	  tests/browser/test_playground_tools.py tests/browser/test_playground_vectors.py \
	  tests/browser/test_waking_endpoint.py tests/browser/test_chat_image_attachment.py \
	  tests/browser/test_playground_panel.py
