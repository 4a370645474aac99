# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit venv browser java clean

venv: $(STAMP)

# torch is installed first and pinned to the CPU build: an unpinned torch pulls several GB of CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[serve,dev,spark]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lsec demo --out demo-data --runs demo-runs

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

# Headless Chromium renders the HTML reports in the report tests (Debian packages).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will report it"; \
	  else echo "warning: chromium missing and not root; install the Debian package 'chromium'"; fi; }

# Java 17 runs the Spark tests (pyspark 4); Debian's headless JRE when `java` is absent.
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
	      || echo "warning: could not install openjdk-17-jre-headless; the Spark tests will fail"; \
	  else echo "warning: java missing and not root; install the Debian package 'openjdk-17-jre-headless'"; fi; }

unit: $(STAMP) browser java
	$(VENV)/bin/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) demo-data demo-runs .pytest_cache .mypy_cache .ruff_cache
