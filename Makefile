VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean build serve lambda publish deploy gallery loadtest

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/micro build
	$(VENV)/bin/micro serve --port 5001

build: install
	$(VENV)/bin/micro build

serve: install
	$(VENV)/bin/micro serve --port 5001

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check src tests lambda benchmarks infra setup.py
	$(VENV)/bin/mypy src/micro

bench: install
	$(PY) -m benchmarks

loadtest: install
	$(PY) -m benchmarks.load

gallery: install
	$(VENV)/bin/micro gallery -o build/gallery.png

lambda: install
	$(PY) infra/build_lambda.py

publish: install
	$(PY) infra/publish.py

deploy: lambda
	bash infra/deploy.sh

clean:
	rm -rf build .cache .pytest_cache .hypothesis .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
