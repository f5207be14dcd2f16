# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test serve bench bench-refusals install clean check messages screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# axe-core (npm, test-only) for the accessibility tests. A prerequisite of
# `test` only where npm exists; without it those tests skip (fail under CI).
NPM := $(shell command -v npm 2>/dev/null)
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# The demo on SQLite: migrate, load the demo data, serve.
run: export DJANGO_DEBUG ?= 1
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The whole suite. DATABASE_URL picks the database (default: SQLite).
test: export DJANGO_SECRET_KEY ?= test-only-secret-key-not-for-deployment
test: export API_KEY_PEPPERS ?= t2:test-only-pepper-version-two,t1:test-only-pepper-version-one
test: export DJANGO_SECURE ?= 0
test: $(STAMP) $(if $(NPM),$(NODE_STAMP))
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Console screenshots (full pages, chromium) into docs/screenshots/.
screenshots:
	SCREENSHOTS=1 $(MAKE) test PYTEST_ARGS="tests/e2e/test_screenshots.py -q"

# Production: gunicorn (WEB_CONCURRENCY workers on PORT), DEBUG off, static
# files collected and served compressed and hashed by whitenoise. Needs
# DJANGO_SECRET_KEY, API_KEY_PEPPERS and DJANGO_ALLOWED_HOSTS in the environment.
serve: $(STAMP)
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py check --deploy --fail-level WARNING
	exec $(BIN)/gunicorn -c config/gunicorn.conf.py config.wsgi

# Benchmarks (needs wrk); writes docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Server-side cost of each way a key is refused (in-process, PostgreSQL by
# default): prints the table kept in docs/benchmarks.md.
bench-refusals: $(STAMP)
	$(BIN)/python benchmarks/refusals.py

# Translations (needs GNU gettext): extract every marked string into
# locale/de/LC_MESSAGES/django.po, then compile django.mo. Both are committed,
# so run, test and serve need no gettext.
messages: $(STAMP)
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemessages -l de --ignore=.venv --ignore=tests --ignore=benchmarks --ignore=build --ignore=staticfiles --ignore=node_modules
	DJANGO_DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv

check: $(STAMP)
	DJANGO_DEBUG=1 $(BIN)/python manage.py check
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) node_modules staticfiles db.sqlite3
