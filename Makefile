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

# the workspace's own Dagster instance (what `fieldmap run` records into), unless DAGSTER_HOME is set
ui: install
	home="$${DAGSTER_HOME:-$(abspath $(WORKSPACE))/dagster}" && $(BIN)/python -m pipelines.instance "$$home" >/dev/null && \
	FIELDMAP_WORKSPACE=$(WORKSPACE) DAGSTER_HOME="$$home" $(BIN)/dagster dev -m pipelines.definitions

clean:
	rm -rf $(WORKSPACE) .pytest_cache
