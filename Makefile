# Two commands for everyone: `make run` and `make test`. Everything else is for maintainers.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup locales locales-extract locales-compile sandbox check-content clean

run: setup
	@if [ -n "$$QC_TELEGRAM_TOKEN" ]; then $(BIN)/qcbot db upgrade && exec $(BIN)/qcbot run; \
	else echo "QC_TELEGRAM_TOKEN is not set: starting the sandbox (the bot in your browser, no Telegram needed)."; \
	echo "To serve Telegram, create a bot with @BotFather and run: QC_TELEGRAM_TOKEN=... make run"; \
	exec $(BIN)/qcbot sandbox; fi

test: setup
	$(BIN)/python tests/run_suite.py

setup: $(STAMP) locales-compile

# Recreate the environment when the project's dependencies change.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: install it, or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# Translators: `make locales` after changing strings in the code, then translate the .po files.
locales: locales-extract locales-compile

locales-extract: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _ -k n_:1,2 -k N_ --add-location=file --sort-by-file \
		--project="Quartieri Connessi" --copyright-holder="Quartieri Connessi" -o locales/messages.pot bot handlers storage
	$(BIN)/pybabel -q update -i locales/messages.pot -d locales -D messages --ignore-obsolete --no-fuzzy-matching

locales-compile: $(STAMP)
	$(BIN)/pybabel -q compile -d locales -D messages

check-content: setup
	$(BIN)/qcbot content check content/ --translations

clean:
	rm -rf $(VENV) data test-artifacts .pytest_cache
