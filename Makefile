# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# pip takes this exact torch first: any other torch request pulls a CUDA build.
TORCH := torch==2.13.0
# Elsewhere, add "--index-url https://download.pytorch.org/whl/cpu" (PyPI's Linux wheel is CUDA).
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.installed
export MODERATION_DATA_DIR ?= var

.PHONY: install run test lint model vi-model spam-model bench bench-quick bench-tools console-screenshots console-translations clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIP_ARGS) $(TORCH)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[ml,dev]'
	@touch $@

install: $(STAMP) ## create .venv and install everything (torch CPU first)

# readable logs in a terminal; JSON lines (the default) everywhere else
run: export MODERATION_LOG_FORMAT ?= text
run: install ## migrate the database and start API, workers, beat and Flower
	@mkdir -p $(MODERATION_DATA_DIR)
	@test -s $(MODERATION_DATA_DIR)/flower-auth || (umask 077; echo "admin:$$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" > $(MODERATION_DATA_DIR)/flower-auth)
	@chmod 600 $(MODERATION_DATA_DIR)/flower-auth  # a password: readable by its owner only
	$(BIN)/moderation migrate
	$(BIN)/moderation prepare-model
	@export MODERATION_FLOWER_BASIC_AUTH=$${MODERATION_FLOWER_BASIC_AUTH:-$$(cat $(MODERATION_DATA_DIR)/flower-auth)}; \
	echo ""; \
	echo "  API     http://localhost:$${MODERATION_API_PORT:-8000}/v1   (docs: /docs, OpenAPI: /openapi.json)"; \
	echo "  Flower  http://localhost:$${MODERATION_FLOWER_PORT:-5555}    (basic auth: $$MODERATION_FLOWER_BASIC_AUTH)"; \
	echo "  Ctrl-C stops everything."; \
	echo ""; \
	PATH=$(CURDIR)/$(BIN):$$PATH exec $(BIN)/honcho start -f Procfile

test: install ## run the whole suite against PostgreSQL and Redis on localhost
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check service workers config tests bench training

# Trains the shipped toxicity model from ../shared/data (about an hour on 2 cores; see
# docs/models.md). Run by hand, never by CI or `make run`; commit what it writes.
model: install ## fine-tune the English toxicity model, rewrite its artifact and docs/models.md
	$(BIN)/python -m training.toxicity $(MODEL_ARGS)

# Trains the multilingual model Vietnamese comments are scored with, from ../shared/data
# (about 30 minutes on 2 cores; see docs/models.md), and writes its section of the card.
# Run by hand, never by CI or `make run`; commit what it writes.
vi-model: install ## train the Vietnamese toxicity model, rewrite its artifact and its card section
	$(BIN)/python -m training.vi_toxicity $(VI_MODEL_ARGS)
	$(BIN)/python -m training.vi_card

# Trains the spam classifier from ../shared/data and compares it with the previous model,
# a baseline and its variants (about 10 minutes on 2 busy cores; SPAM_MODEL_ARGS=
# --no-variants: about 5; see docs/spam-classifier.md). Run by hand, never by CI or
# `make run`; commit what it writes.
spam-model: install ## retrain the spam classifier, rewrite its artifact and docs/spam-classifier.md
	$(BIN)/python -m training.spam $(SPAM_MODEL_ARGS)

bench: install bench-tools ## full benchmark run (see bench/README.md)
	$(BIN)/python -m bench

bench-quick: install bench-tools ## the benchmarks on smaller samples, a few minutes
	$(BIN)/python -m bench --quick

bench-tools: # wrk, the load generator (Debian's package)
	@command -v wrk >/dev/null || apt-get install -y wrk >/dev/null 2>&1 || \
	  (apt-get update >/dev/null && apt-get install -y wrk >/dev/null) || \
	  { echo "install wrk (apt-get install wrk) to run the benchmarks"; exit 1; }

# The README's pictures of the console, from a real browser run (needs chromium and
# chromium-driver, as `make test` does); commit what it writes.
console-screenshots: install ## save the console's queue and detail view into docs/console/
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(BIN)/pytest -q tests/test_console_browser.py \
	  -k "screenshot or approve_with_a"

# After changing the console's words: extract them, merge into the Vietnamese catalogue,
# translate what is new (msgstr ""), then compile; commit the .po and the .mo.
console-translations: install ## update and compile the console's Vietnamese translations
	$(BIN)/pybabel extract -F service/console/babel.cfg -k _l -k t --no-location \
	  --sort-output --project "comment-moderation console" -o service/console/translations/messages.pot .
	$(BIN)/pybabel update -i service/console/translations/messages.pot -d service/console/translations \
	  --no-location
	$(BIN)/pybabel compile -d service/console/translations

clean:
	rm -rf $(VENV) $(MODERATION_DATA_DIR) .pytest_cache .ruff_cache
