# borgui: `make run` serves the admin and a worker; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run run-deps test lint test-deps clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# What a backup needs (borg, ssh) comes first: installed when root, else make stops here
# with one line naming the packages. EXTRA_PACKAGES adds more (e.g. docker.io for hooks).
run-deps:
	@scripts/install-run-deps.sh $(EXTRA_PACKAGES)

# Keys, migrations and the first admin user are created by the entrypoint's `prepare`.
run: run-deps $(VENV)/.installed
	$(PY) -m borgui.keys
	$(PY) manage.py collectstatic --noinput -v0
	PYTHON=$(abspath $(PY)) BIND=127.0.0.1:$(PORT) docker/entrypoint.sh all

test-deps:
	scripts/install-test-deps.sh

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# pytest exits 5 when it collected nothing: for us that is a broken suite, not a pass.
# Most cases wait on borg, a worker or a browser rather than on a core, so three workers
# on two cores finish sooner; each worker starts its own dockerd, sshd and test database.
PYTEST_WORKERS ?= 3
test: test-deps lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
