# Two commands do all set-up on a fresh machine: `make run` and `make test`.
#
# Installs come from the hashed exports of uv.lock, with plain pip:
#   requirements/runtime.txt  what run, serve and production need
#   requirements/dev.txt      the same plus the test and lint tools (test, lint)
# One stamp per flavour: `make test` after `make run` adds the dev tools,
# `make run` after `make test` installs nothing. `make lock` refreshes both.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PORT ?= 8000
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-fast lint lock lock-upgrade lock-check serve bench bench-refusals profile \
	install install-dev clean check messages screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements/runtime.txt | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements/runtime.txt
	touch $@

# dev.txt holds the runtime pins too, so it satisfies the runtime stamp as well.
$(DEV_STAMP): requirements/dev.txt | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements/dev.txt
	touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

# axe-core (npm, test-only) for the accessibility tests. A prerequisite of
# `test` only where npm exists; without it those tests skip (fail under CI).
NPM := $(shell command -v npm 2>/dev/null)
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# The demo on SQLite: migrate, load the demo data, serve.
run: export DJANGO_DEBUG ?= 1
run: $(RUNTIME_STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The whole suite. DATABASE_URL picks the database (default: SQLite).
test test-fast: export DJANGO_SECRET_KEY ?= test-only-secret-key-not-for-deployment
test test-fast: export API_KEY_PEPPERS ?= t2:test-only-pepper-version-two,t1:test-only-pepper-version-one
test test-fast: export DJANGO_SECURE ?= 0
# The SQLite run has no Redis: its servers count failures per process, on purpose.
test test-fast: export ALLOW_PROCESS_LOCAL_CACHE ?= 1
test: $(DEV_STAMP) $(if $(NPM),$(NODE_STAMP))
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything but the slow tests (subprocess boots, gunicorn, sleeps, races) and the browser.
test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not slow and not e2e" $(PYTEST_ARGS)

# What CI checks before the suites: lint, formatting, migrations and the lock
# all match the code. Fix with `ruff check --fix`, `ruff format`,
# `manage.py makemigrations`, `make lock`.
# Every check runs, so one run reports them all; lint fails if any failed.
lint: $(DEV_STAMP)
	@status=0; \
	echo "ruff check"; $(BIN)/ruff check . || status=1; \
	echo "ruff format --check"; $(BIN)/ruff format --check . || status=1; \
	echo "makemigrations --check"; DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run || status=1; \
	echo "lock-check"; $(MAKE) --no-print-directory lock-check VENV=$(VENV) || status=1; \
	exit $$status

# The lock: uv resolves once for every Python and platform the project supports
# (uv.lock); the requirement files are its hashed exports, so installing needs
# only pip. `make lock` after changing the dependencies in pyproject.toml keeps
# every other pin; `make lock-upgrade` moves everything to the newest releases.
EXPORT_HEADER := \# Generated from uv.lock by `make lock`; do not edit. Install: pip install --require-hashes -r <this file>
UV_EXPORT := $(BIN)/uv export --quiet --frozen --format requirements-txt --no-emit-project --no-header
export_runtime = { echo '$(EXPORT_HEADER)'; $(UV_EXPORT) --no-dev; }
export_dev = { echo '$(EXPORT_HEADER)'; $(UV_EXPORT) --all-groups; }

lock: $(DEV_STAMP)
	$(BIN)/uv lock $(LOCK_ARGS)
	mkdir -p requirements
	$(export_runtime) > requirements/runtime.txt.tmp && mv requirements/runtime.txt.tmp requirements/runtime.txt
	$(export_dev) > requirements/dev.txt.tmp && mv requirements/dev.txt.tmp requirements/dev.txt

lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade

lock-check: $(DEV_STAMP)
	@$(BIN)/uv lock --locked --quiet || { echo "uv.lock does not match pyproject.toml: run make lock" >&2; exit 1; }
	@$(export_runtime) | diff -u requirements/runtime.txt - || { echo "requirements/runtime.txt is stale: run make lock" >&2; exit 1; }
	@$(export_dev) | diff -u requirements/dev.txt - || { echo "requirements/dev.txt is stale: run make lock" >&2; exit 1; }

# Console screenshots (full pages, chromium) into docs/screenshots/.
screenshots:
	SCREENSHOTS=1 $(MAKE) test PYTEST_ARGS="tests/e2e/test_screenshots.py -q"

# Production: gunicorn (WEB_CONCURRENCY workers on PORT), DEBUG off, static
# files collected and served compressed and hashed by whitenoise. Needs
# DJANGO_SECRET_KEY, API_KEY_PEPPERS and DJANGO_ALLOWED_HOSTS in the environment.
serve: $(RUNTIME_STAMP)
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py check --deploy --fail-level WARNING
	exec $(BIN)/gunicorn -c config/gunicorn.conf.py config.wsgi

# Benchmarks (needs wrk), on SQLite and PostgreSQL (BENCH_DATABASES): our API
# against a bare Django view (benchmarks/bare) and djangorestframework-api-key
# (benchmarks/peer, installed into the throwaway build/bench-peer-venv), all
# under gunicorn as `serve` starts them; the refusal paths, the API Keys tab,
# key creation, and bench-refusals' tables. Writes BENCH_REPORT (default
# docs/benchmarks.md). BENCH_ROUNDS=5 BENCH_DURATION=6s by default. Uses the
# test factories (section d). Where the time goes: `make profile`.
bench: $(DEV_STAMP)
	$(BIN)/python -m benchmarks.run

# cProfile of our app under load (one gunicorn worker, deployed settings, wrk)
# for whoami and healthz on SQLite and PostgreSQL: writes
# docs/profile/<path>-<database>-$(PROFILE_LABEL).txt, so
# `make profile PROFILE_LABEL=before` and `PROFILE_LABEL=after` sit side by side.
PROFILE_LABEL ?= current
profile: $(RUNTIME_STAMP)
	PROFILE_LABEL=$(PROFILE_LABEL) $(BIN)/python -m benchmarks.profiling

# Server-side cost of each way a key is refused (in-process, PostgreSQL by
# default): prints the table kept in docs/benchmarks.md. Uses the test factories.
bench-refusals: $(DEV_STAMP)
	$(BIN)/python benchmarks/refusals.py

# Translations (needs GNU gettext): extract every marked string into
# locale/de/LC_MESSAGES/django.po, then compile django.mo. Both are committed,
# so run, test and serve need no gettext.
messages: $(RUNTIME_STAMP)
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemessages -l de --ignore=.venv --ignore=tests --ignore=benchmarks --ignore=build --ignore=staticfiles --ignore=node_modules
	DJANGO_DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv --ignore=build --ignore=node_modules

check: $(RUNTIME_STAMP)
	DJANGO_DEBUG=1 $(BIN)/python manage.py check
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) node_modules staticfiles db.sqlite3
