"""The real settings, loaded in a fresh process from a controlled environment.

The test process itself runs with the Makefile's variables and conftest's
overrides, so everything here runs `manage.py` or a small script in a
subprocess.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test starts Django in a subprocess


ROOT = Path(__file__).resolve().parent.parent
SECRET = "x7Rk2pQ9vLm4Zt8Wc1Hy6Nb3Jd5Fg0Se-a9Kq2Vr7Tu4Xw8Yz1Bn6Mc3Pd5Lh0Gj"
PEPPERS = "v1:a-pepper-of-sufficient-length-for-tests"

# Variables the settings read; each test starts from none of them.
SETTINGS_VARIABLES = (
    "DJANGO_SECRET_KEY",
    "DJANGO_SECRET_KEY_FALLBACKS",
    "DJANGO_ADMIN_URL",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_SECURE",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_HSTS_SECONDS",
    "DJANGO_HSTS_PRELOAD",
    "DJANGO_PLAIN_STATIC",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DJANGO_BEHIND_TLS_PROXY",
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_KEY_PREFIX",
    "API_KEY_PEPPERS",
    "API_KEY_PREFIX",
    "SERVICE_ACCOUNT_KEY_PREFIX",
    # Set by the browser tests' session fixture; a deployment must not have it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    environ.update(env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return run(["manage.py", *args], **env)


def real_settings(names: list[str], **env: str) -> dict:
    """The named settings as the real settings module computes them."""
    script = (
        "import json, django\n"
        "from django.conf import settings\n"
        "django.setup()\n"
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))\n"
    )
    result = run(["-c", script], DJANGO_SETTINGS_MODULE="config.settings", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def output_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


# -- refusing to start without secrets -------------------------------------------


@pytest.mark.parametrize("debug", [None, "0", "false", ""])
def test_missing_secret_key_stops_with_one_line(debug):
    env = {"API_KEY_PEPPERS": PEPPERS}
    if debug is not None:
        env["DJANGO_DEBUG"] = debug

    result = manage("check", **env)

    assert result.returncode != 0
    lines = output_lines(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1
    assert "DJANGO_SECRET_KEY" in lines[0]


@pytest.mark.parametrize("debug", [None, "0"])
def test_missing_peppers_stop_with_one_line(debug):
    env = {"DJANGO_SECRET_KEY": SECRET}
    if debug is not None:
        env["DJANGO_DEBUG"] = debug

    result = manage("check", **env)

    assert result.returncode != 0
    lines = output_lines(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1
    assert "API_KEY_PEPPERS" in lines[0]


@pytest.mark.parametrize(
    "peppers", ["v1:too-short", "no-version-separator-but-long-enough", ":missing-version-name-here"]
)
def test_malformed_peppers_stop_with_one_line(peppers):
    result = manage("check", DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=peppers)

    assert result.returncode != 0
    lines = output_lines(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1
    assert "API_KEY_PEPPERS" in lines[0]


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"SERVICE_ACCOUNT_KEY_PREFIX": "cpk"}, "must differ"),
        ({"API_KEY_PREFIX": "acme", "SERVICE_ACCOUNT_KEY_PREFIX": "acme"}, "must differ"),
        ({"SERVICE_ACCOUNT_KEY_PREFIX": "c_a"}, "SERVICE_ACCOUNT_KEY_PREFIX must be"),
    ],
)
def test_equal_prefixes_stop_start_up(variables, named):
    """The prefix is what tells a credential from a key: two equal ones would make one the other."""
    result = manage("check", DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS, DJANGO_DEBUG="1", **variables)

    assert result.returncode != 0
    lines = output_lines(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1 and named in lines[0]


def test_a_deployment_without_redis_stops_with_one_line():
    # Failure limits in each process's memory would multiply by workers and hosts.
    result = manage("check", DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS, ALLOW_PROCESS_LOCAL_CACHE="")

    assert result.returncode != 0
    lines = output_lines(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1
    assert "REDIS_URL" in lines[0] and "ALLOW_PROCESS_LOCAL_CACHE=1" in lines[0]


def test_a_single_process_deployment_may_say_so_instead_of_redis():
    names = ["CACHES"]
    local = real_settings(names, DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS, ALLOW_PROCESS_LOCAL_CACHE="1")
    shared = real_settings(
        names,
        DJANGO_SECRET_KEY=SECRET,
        API_KEY_PEPPERS=PEPPERS,
        ALLOW_PROCESS_LOCAL_CACHE="",
        REDIS_URL="redis://127.0.0.1:6379/9",
    )

    assert local["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert shared["CACHES"]["default"]["BACKEND"].endswith("RedisCache")


def test_debug_mode_starts_without_secrets():
    result = manage("check", DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_mode_starts_with_secrets():
    result = manage("check", DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS)

    assert result.returncode == 0, result.stderr


def test_production_configuration_passes_the_deploy_checks():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=SECRET,
        API_KEY_PEPPERS=PEPPERS,
        DJANGO_ALLOWED_HOSTS="console.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_is_off_unless_asked_for():
    assert real_settings(["DEBUG"], DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS) == {"DEBUG": False}


# -- what the real settings hold -------------------------------------------------


def test_passwords_are_hashed_with_argon2():
    values = real_settings(["PASSWORD_HASHERS"], DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS)

    assert values["PASSWORD_HASHERS"][0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_new_password_hashes_are_argon2():
    script = (
        "import django\n"
        "django.setup()\n"
        "from django.contrib.auth.hashers import make_password\n"
        "print(make_password('correct horse battery staple'))\n"
    )
    result = run(
        ["-c", script], DJANGO_SETTINGS_MODULE="config.settings", DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("argon2$argon2id$")


def test_redis_url_selects_the_shared_redis_cache():
    values = real_settings(
        ["CACHES"], DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS, REDIS_URL="redis://cache.internal:6379/2"
    )

    default = values["CACHES"]["default"]
    assert default["BACKEND"] == "config.cache.RedisCache"
    assert default["LOCATION"] == "redis://cache.internal:6379/2"


def test_without_redis_url_the_cache_is_local():
    values = real_settings(["CACHES"], DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS)

    assert values["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_database_url_selects_postgresql():
    values = real_settings(
        ["DATABASES"],
        DJANGO_SECRET_KEY=SECRET,
        API_KEY_PEPPERS=PEPPERS,
        DATABASE_URL="postgresql://app:pw@db.internal:5432/console",
    )

    database = values["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["NAME"]) == ("db.internal", "console")


def test_without_database_url_the_database_is_sqlite():
    values = real_settings(["DATABASES"], DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS)

    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"


def test_production_cookies_are_secure_by_default():
    values = real_settings(
        ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_HTTPONLY"],
        DJANGO_SECRET_KEY=SECRET,
        API_KEY_PEPPERS=PEPPERS,
    )

    assert all(values.values()), values


# -- values as systemd's EnvironmentFile passes them (config/env.py) ----------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_BEHIND_TLS_PROXY", "1          # the load balancer sets X-Forwarded-Proto"),
        ("TRUSTED_PROXY_COUNT", "1              # one proxy appends to X-Forwarded-For"),
        ("API_KEY_MAX_LIFETIME_DAYS", "365      # optional policy"),
        ("WEB_CONCURRENCY", "4                  # about 2 × cores"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.10      # the load balancer's address"),
    ],
)
def test_a_comment_after_a_value_stops_start_up_naming_the_variable(name, value):
    # systemd keeps it as part of the value: before, gunicorn died on
    # WEB_CONCURRENCY and DJANGO_BEHIND_TLS_PROXY silently read as off.
    result = manage("check", DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS, **{name: value})

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert output_lines(result) == [
        f"Configuration error: {name} has a comment after its value. systemd's EnvironmentFile keeps it as part "
        "of the value; put comments on lines of their own."
    ]


def test_the_message_does_not_repeat_a_secret_value():
    result = manage("check", DJANGO_SECRET_KEY=f"{SECRET} # rotated in May", API_KEY_PEPPERS=PEPPERS)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_a_hash_inside_a_value_is_part_of_it():
    values = real_settings(["SECRET_KEY"], DJANGO_SECRET_KEY=f"{SECRET}#tail", API_KEY_PEPPERS=PEPPERS)

    assert values["SECRET_KEY"] == f"{SECRET}#tail"


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_a_flag_that_is_not_one_or_zero_stops_start_up(value):
    result = manage("check", DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS, DJANGO_BEHIND_TLS_PROXY=value)

    assert result.returncode != 0
    assert output_lines(result) == [
        "Configuration error: DJANGO_BEHIND_TLS_PROXY must be 1 or 0 (or true/false, yes/no, on/off)."
    ]


def test_gunicorns_config_refuses_a_comment_after_a_value_too():
    result = run(
        ["-m", "gunicorn", "--check-config", "-c", "config/gunicorn.conf.py", "config.wsgi"],
        DJANGO_SECRET_KEY=SECRET,
        API_KEY_PEPPERS=PEPPERS,
        GUNICORN_TIMEOUT="30  # seconds",
    )

    assert result.returncode != 0
    assert "Configuration error: GUNICORN_TIMEOUT has a comment after its value." in result.stderr
    assert "Traceback" not in result.stderr


# -- rotating the secret key, moving the admin ---------------------------------------------


def test_secret_key_fallbacks_come_from_the_environment():
    values = real_settings(
        ["SECRET_KEY_FALLBACKS"],
        DJANGO_SECRET_KEY=SECRET,
        API_KEY_PEPPERS=PEPPERS,
        DJANGO_SECRET_KEY_FALLBACKS=f"{SECRET[::-1]}, {SECRET.upper()}",
    )

    assert values["SECRET_KEY_FALLBACKS"] == [SECRET[::-1], SECRET.upper()]


def test_the_admin_can_live_at_a_path_of_its_own():
    script = "import django\ndjango.setup()\nfrom django.urls import reverse\nprint(reverse('admin:index'))\n"
    result = run(
        ["-c", script],
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY=SECRET,
        API_KEY_PEPPERS=PEPPERS,
        DJANGO_ADMIN_URL="ops/console-admin/",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/ops/console-admin/"


@pytest.mark.parametrize("value", ["admin", "/admin/", "ad min/", "api/admin/", "../admin/"])
def test_an_admin_path_that_is_not_one_stops_start_up(value):
    result = manage("check", DJANGO_SECRET_KEY=SECRET, API_KEY_PEPPERS=PEPPERS, DJANGO_ADMIN_URL=value)

    assert result.returncode != 0
    assert len(output_lines(result)) == 1
    assert output_lines(result)[0].startswith("Configuration error: DJANGO_ADMIN_URL must be")
