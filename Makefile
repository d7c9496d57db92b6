# Quick start: `make run` (summarise the bundled example on the embedded model) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out/summaries.md
# Some virtual machines advertise Intel AMX but fault on its instructions; llama.cpp's native
# build would use them, so AMX is switched off where the CPU lists it.
AMX_OFF := $(shell grep -qs amx_tile /proc/cpuinfo && echo "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16")

.PHONY: run test test-fast lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CFLAGS="$(AMX_OFF)" CXXFLAGS="$(AMX_OFF)" $(BIN)/pip install --quiet -e '.[embedded,eval,test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/summariser run examples/papers-dump.txt -o $(OUT) || [ $$? -eq 1 ]  # 1: some rows have an error, still show them
	@head -n 12 $(OUT); echo "... all rows in $(OUT)"

# The whole suite: the layer contracts, docs in step with the committed eval results, every test.
test: $(VENV)/.installed lint
	$(BIN)/pytest -q

# The tests that need neither the real model nor real processes (a minute or two).
test-fast: $(VENV)/.installed
	$(BIN)/pytest -q -m "not embedded and not processes"

lint: $(VENV)/.installed
	$(BIN)/lint-imports
	$(BIN)/python docs/render.py --check

# Throughput tables for docs/performance.md and docs/scale.md (about 15 minutes on 2 cores;
# --json benchmarks/results/DATE.json records them for docs/render.py).
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) out
