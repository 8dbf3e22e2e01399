# The two commands of the README: `make demo` and `make test`. Each sets up what it needs.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: demo test serve system-deps corpus benchmark quality-e2e clean

demo: $(VENV)/.installed
	$(BIN)/casestudy demo

test: $(VENV)/.installed-test system-deps
	@$(BIN)/python -m pytest -n $${PYTEST_WORKERS:-auto} $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected"; exit 0; fi; exit $$rc

serve: $(VENV)/.installed
	$(BIN)/casestudy serve

$(VENV)/.installed: pyproject.toml setup.py casestudy/consent/_wordscan.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

corpus: $(VENV)/.installed-test
	$(BIN)/python scripts/build_corpus.py

benchmark: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_pipeline.py

# end-to-end coding quality on the held-out register set (real files -> init/ingest/code -> per-RQ F1)
quality-e2e: $(VENV)/.installed-test
	$(BIN)/python benchmarks/quality_e2e.py $(E2E_ARGS)

clean:
	rm -rf $(VENV) db/*.db db/*.db-* db/out
