# The two commands: `make run` and `make test`. Only Python 3.11+ is needed on the machine.
PYTHON ?= python3
HOST   ?= 127.0.0.1
PORT   ?= 8000
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint bench clean chromium mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/dengji db init
	$(BIN)/dengji db seed
	$(BIN)/dengji serve --host $(HOST) --port $(PORT)

# The console's browser tests drive Debian's chromium; install it when missing and apt-get can (else they skip).
chromium:
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) || true

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench

# Mutation testing of the rule functions of booking, progress, identity and notices (docs/testing.md): slow, so
# not part of `make test` or CI. Scope is [tool.mutmut] in pyproject.toml; MUTANTS picks mutants by name
# (globs), e.g. make mutation MUTANTS='server.progress.service.x_authenticate_client*'.
MUTANTS ?= $(shell cat tests/mutation_targets.txt)
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,mutation]"
	$(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) var
