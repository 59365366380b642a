# Every target creates the virtualenv when it is missing, so on a fresh machine
# `make demo` and `make test` are the whole set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# KServe's SDK for the serve protocol tests, without its pins (pandas<3): its other
# requirements are in the dev extra (pyproject.toml).
KSERVE := kserve==0.21.0

.PHONY: venv demo test test-fast lint bench schemas clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps '$(KSERVE)'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# The whole suite on every core, with coverage of mlops_gitops (processes the tests start
# included). The floor sits a little below what the suite measures (92.5%, branches counted).
COVERAGE_FLOOR := 90

# pytest keeps the test modules it rewrites (and Python its bytecode) in a cache under .venv,
# even where the environment asks for no bytecode (PYTHONDONTWRITEBYTECODE): rewriting and
# compiling ~250 modules again costs every xdist worker about 8 s of CPU before its first test.
# Tests make thousands of small git repositories: in memory (/dev/shm where there is one), a
# test's files cost no disk writes or fsyncs, and a run sweeps away only this checkout's
# earlier runs, not those of every checkout sharing /tmp.
# Only a /dev/shm with room to spare (a container's is often 64 MB): the suite's folders add
# up before pytest removes those of passed tests at the end.
SHM_FREE_KB := $(shell df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $$4}')
TEST_TMP := $(if $(shell [ "$(SHM_FREE_KB)" -ge 4194304 ] 2>/dev/null && echo yes),/dev/shm/mlops-gitops-tests-$(notdir $(CURDIR)),$(or $(TMPDIR),/tmp))
TEST_ENV := PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache TMPDIR=$(TEST_TMP)

test: $(STAMP)
	mkdir -p $(TEST_TMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n auto --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

# The edit loop: everything but the tests marked slow (processes, servers, hypothesis,
# example-repo's real models), on every core.
test-fast: $(STAMP)
	mkdir -p $(TEST_TMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n auto -m "not slow"

# tools/sizes.py: no module in mlops_gitops over 500 lines, no function over 80.
lint: $(STAMP)
	$(BIN)/ruff check mlops_gitops tests benchmarks scripts tools
	$(BIN)/ruff format --check mlops_gitops tests benchmarks scripts tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/sizes.py mlops_gitops

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_validate.py

schemas: $(STAMP)
	$(BIN)/mlops-gitops schema export schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
