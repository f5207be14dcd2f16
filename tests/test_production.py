"""What operators rely on: the deploy check, security headers, secret-free logs."""

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apikeys import tokens
from config.logfilters import REDACTED, RedactSecretsFilter
from projects import catalog
from tests.factories import ApiKeyFactory

ROOT = Path(__file__).resolve().parent.parent


def production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_KEY", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        DJANGO_SECRET_KEY="k" * 10 + "a-long-random-production-secret-key-with-many-different-chars-0123456789",
        API_KEY_PEPPERS="v1:a-production-pepper-of-enough-length",
        DJANGO_ALLOWED_HOSTS="console.example.com",
        DATABASE_URL="sqlite:///:memory:",
    )
    env.update(extra)
    return env


def run_manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow  # a subprocess
def test_deploy_check_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow  # a subprocess
def test_deploy_check_fails_when_https_protections_are_switched_off():
    # Proves the check above can fail: the same settings without DJANGO_SECURE warn.
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(DJANGO_SECURE="0"))
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stderr + result.stdout


@pytest.mark.slow  # a subprocess
def test_production_settings_send_hsts_and_secure_cookies():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.X_FRAME_OPTIONS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    env = production_env(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_BEHIND_TLS_PROXY="1")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.split(" ", 5) == [
        "31536000",
        "True",
        "True",
        "True",
        "DENY",
        "('HTTP_X_FORWARDED_PROTO', 'https')\n",
    ], result.stderr


# Runs in a process with the production settings (DJANGO_SECURE on): a visitor
# opens the log-in page, logs in, revokes a key (a message for the next page)
# and switches the language; we print every cookie the answers set, with its
# attributes.
COOKIES_SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from apikeys.models import ApiKey
call_command("migrate", verbosity=0)
call_command("seed_demo", "--force", verbosity=0)
key = ApiKey.objects.active().filter(project__slug="demo").first()
client = Client(HTTP_HOST="console.example.com")
answers = [
    client.get("/accounts/login/", secure=True),
    client.post("/accounts/login/", {"username": "alice", "password": "alice-password"}, secure=True),
    client.post(f"/projects/demo/api-keys/{key.public_id}/revoke/", secure=True),
    client.post("/i18n/setlang/", {"language": "de", "next": "/"}, secure=True),
]
assert [answer.status_code for answer in answers] == [200, 302, 302, 302], [a.status_code for a in answers]
cookies = {}
for answer in answers:
    for name, morsel in answer.cookies.items():
        cookies[name] = {
            "secure": bool(morsel["secure"]), "httponly": bool(morsel["httponly"]), "samesite": morsel["samesite"]
        }
print(json.dumps(cookies))
"""


@pytest.mark.slow  # a subprocess with production settings
def test_every_cookie_is_httponly_secure_and_samesite_lax_in_production():
    env = production_env(
        DJANGO_SETTINGS_MODULE="config.settings", ALLOW_PROCESS_LOCAL_CACHE="1", DJANGO_PLAIN_STATIC="1"
    )
    result = subprocess.run(
        [sys.executable, "-c", COOKIES_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    cookies = json.loads(result.stdout.splitlines()[-1])  # after seed_demo's report
    assert set(cookies) == {"csrftoken", "sessionid", "messages", "django_language"}
    for name, attributes in cookies.items():
        assert attributes == {"secure": True, "httponly": True, "samesite": "Lax"}, name


def test_pages_carry_a_strict_csp_whose_nonce_is_on_the_scripts(client, admin_user):
    client.force_login(admin_user)
    first = client.get("/projects/demo/")
    second = client.get("/projects/demo/")
    policy = first["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert f'nonce="{nonce}"' in first.content.decode()
    assert nonce not in second["Content-Security-Policy"]
    assert first["X-Frame-Options"] == "DENY"
    assert first["Referrer-Policy"] == "same-origin"
    assert first["X-Content-Type-Options"] == "nosniff"


def test_htmx_is_configured_to_work_under_the_csp(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/projects/demo/").content.decode()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'", html).group(1))
    assert config["includeIndicatorStyles"] is False  # would need an inline <style>
    assert config["allowEval"] is False


# -- logs ---------------------------------------------------------------------------


def _formatted(record: logging.LogRecord) -> str:
    RedactSecretsFilter().filter(record)
    return logging.Formatter("%(message)s").format(record)


def test_filter_redacts_keys_and_authorization_headers_in_messages_and_arguments(settings):
    key = tokens.generate().raw
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "got %s with %s", (key, "Authorization: Bearer abc.def"), None
    )
    text = _formatted(record)
    assert key not in text and "abc.def" not in text
    assert text.count(REDACTED) == 2


def test_filter_redacts_keys_of_another_prefix_and_in_tracebacks(settings):
    settings.API_KEY_PREFIX = "zz"
    key = tokens.generate().raw
    try:
        raise ValueError(f"bad key {key}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = _formatted(record)
    assert key not in text and REDACTED in text


def test_every_handler_of_the_configured_logging_redacts(settings):
    from config.settings import LOGGING

    for name, handler in LOGGING["handlers"].items():
        assert "redact_secrets" in handler["filters"], name
    import importlib.util

    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "config" / "gunicorn.conf.py")
    gunicorn_conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gunicorn_conf)
    for name, handler in gunicorn_conf.logconfig_dict["handlers"].items():
        assert "redact_secrets" in handler["filters"], name
    # One definition: gunicorn writes through Django's handler, filter and format.
    for part in ("handlers", "filters", "formatters"):
        shared = LOGGING[part].keys() & gunicorn_conf.logconfig_dict[part].keys()
        assert shared and all(LOGGING[part][k] == gunicorn_conf.logconfig_dict[part][k] for k in shared), part
    assert gunicorn_conf.graceful_timeout > 0


@pytest.fixture
def request_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root, sql = logging.getLogger(), logging.getLogger("django.db.backends")
    levels = root.level, sql.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(levels[0])
    sql.setLevel(levels[1])


def test_one_line_per_request_names_key_id_and_user_but_never_the_key(client, project, admin_user, request_log):
    api_key = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])
    client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    client.force_login(admin_user)
    client.get("/projects/demo/")
    lines = [line for line in request_log.getvalue().splitlines() if line.startswith("console.request")]
    assert len(lines) == 2
    assert re.fullmatch(rf"console.request GET /api/v1/whoami 200 [\d.]+ms key={api_key.public_id} user=-", lines[0])
    assert re.fullmatch(rf"console.request GET /projects/demo/ 200 [\d.]+ms key=- user={admin_user.pk}", lines[1])


def test_creating_and_using_keys_logs_no_secret_anywhere(client, project, admin_user, request_log, settings):
    settings.DEBUG = True  # SQL logging on: every query text and parameter reaches the log
    parent = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {parent.secret}"}
    with CaptureQueriesContext(connection):
        response = client.post(
            "/api/v1/projects/demo/api-keys",
            data={"name": "child", "permissions": [catalog.READ_PROJECT], "expires_at": parent.expires_at.isoformat()},
            content_type="application/json",
            **auth,
        )
        child = response.json()["secret"]
        client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {child}")
        client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {child[:-1]}x")
        client.force_login(admin_user)
        page = client.get("/projects/demo/api-keys/create/")
        ticket = re.search(r'name="ticket" value="([^"]+)"', page.content.decode()).group(1)
        created = client.post(
            "/projects/demo/api-keys/create/",
            {"name": "console", "permissions": [catalog.READ_PROJECT], "expiration": "30", "ticket": ticket},
        )
        console_secret = re.search(
            r'id="api-key-secret" class="secret" value="([^"]+)"', created.content.decode()
        ).group(1)
    logged = request_log.getvalue()
    assert "apikeys_apikey" in logged  # the SQL really was logged
    for secret in (parent.secret, child, console_secret):
        assert secret not in logged
        assert secret[-49:-6] not in logged  # not even the random part alone


def test_api_requests_never_touch_the_session(client, project, admin_user, django_assert_num_queries):
    api_key = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key.secret}"}
    client.get("/api/v1/whoami", **auth)  # last use recorded: later calls are one query
    client.force_login(admin_user)  # a browser session cookie rides along from here

    with django_assert_num_queries(1):  # the key, and no session lookup
        response = client.get("/api/v1/whoami", **auth)

    assert response.status_code == 200
    assert "Cookie" not in response.get("Vary", "")
    assert "sessionid" not in response.cookies


@pytest.mark.django_db
def test_rotating_the_secret_key_keeps_the_sessions_made_with_the_old_one(admin_user, settings):
    old, new = "old-secret-" + "k" * 50, "new-secret-" + "q" * 50
    settings.SECRET_KEY = old
    kept, dropped = Client(), Client()
    kept.force_login(admin_user)
    dropped.force_login(admin_user)

    settings.SECRET_KEY = new
    assert dropped.get("/projects/").status_code == 302  # without the old key as a fallback: logged out

    settings.SECRET_KEY_FALLBACKS = [old]  # DJANGO_SECRET_KEY_FALLBACKS
    assert kept.get("/projects/").status_code == 200
    settings.SECRET_KEY_FALLBACKS = []  # that request moved the session to the new key
    assert kept.get("/projects/").status_code == 200
