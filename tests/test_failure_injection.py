"""What happens when something the application depends on fails.

- The database fails in the middle of creating a key: nothing is half-saved,
  the one-time form ticket is not spent, and the user is told (no 500).
- Redis (the rate limiter's cache) is unreachable: authentication and log-in
  keep working, the limiter fails open and logs it (docs/deployment.md).
- gunicorn gets SIGTERM under load: requests it accepted are answered in
  full, and it exits cleanly within its graceful timeout.
"""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.test import Client, override_settings
from django.urls import reverse

from apikeys import tokens
from apikeys.models import ApiKey, AuditEvent, CreationTicket
from apikeys.openapi import document
from projects import catalog
from tests.factories import ApiKeyFactory
from tests.htmltree import parse
from tests.servers import free_port

BASE_DIR = Path(django_settings.BASE_DIR)
TEMPORARY_PROBLEM = "The key could not be created because of a temporary problem. Nothing was saved; please try again."


# -- the database fails in the middle of a create -------------------------------------------------------


def failing_audit(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


def real_sql_error(*args, **kwargs):
    # A genuine error from the database itself, inside the service's transaction
    # (on PostgreSQL it aborts the transaction, as a real failure would).
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM table_that_does_not_exist")


# Where the failure strikes: each step of the service's transaction.
INJECTIONS = [
    pytest.param("apikeys.services.AuditEvent.objects.create", DatabaseError("disk full"), id="audit-insert"),
    pytest.param("apikeys.services._audit", failing_audit, id="audit-connection-lost"),
    pytest.param("apikeys.services.ApiKey.objects.create", InterfaceError("connection closed"), id="key-insert"),
    pytest.param(
        "apikeys.models.CreationTicketQuerySet.consume", OperationalError("deadlock detected"), id="ticket-update"
    ),
    pytest.param("apikeys.services._audit", real_sql_error, id="real-sql-error"),
]


def create_url(project) -> str:
    return reverse("apikeys:create", args=[project.slug])


def open_form(client, project) -> dict:
    response = client.get(create_url(project))
    assert response.status_code == 200
    ticket = parse(response).find("input", name="ticket").attrs["value"]
    return {
        "name": "deploy",
        "description": "made while the database hiccuped",
        "tags": "ci",
        "expiration": "30",
        "ticket": ticket,
        "permissions": [catalog.READ_PROJECT, catalog.READ_API_KEYS],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("target", "failure"), INJECTIONS)
def test_database_failure_during_create_saves_nothing_and_the_form_can_be_sent_again(
    client, admin_user, project, target, failure
):
    client.force_login(admin_user)
    data = open_form(client, project)

    with mock.patch(target, side_effect=failure):
        response = client.post(create_url(project), data)

    # Not a 500: the form again, with what was typed, and a clear message.
    assert response.status_code == 503
    page = parse(response)
    errors = page.find("div", class_="form-errors")
    assert errors is not None and errors.text() == TEMPORARY_PROBLEM
    assert page.find("input", name="name").attrs["value"] == "deploy"
    assert page.find("input", name="ticket").attrs["value"] == data["ticket"]
    assert page.by_id("api-key-secret") is None
    assert not re.search(tokens.scanner_regex(), response.content.decode())
    assert "no-store" in response["Cache-Control"]
    # Nothing half-saved, the ticket not spent.
    assert not ApiKey.objects.exists()
    assert not AuditEvent.objects.exists()
    assert CreationTicket.objects.get(token=data["ticket"]).used_at is None

    # The database is back: the very same form goes through, once.
    response = client.post(create_url(project), data)
    assert response.status_code == 201
    assert parse(response).by_id("api-key-secret") is not None
    key = ApiKey.objects.get()
    assert key.name == "deploy" and key.permissions == [catalog.READ_PROJECT, catalog.READ_API_KEYS]
    assert AuditEvent.objects.filter(api_key=key, action=AuditEvent.Action.CREATED).count() == 1
    assert client.post(create_url(project), data).status_code == 302  # and not a second time
    assert ApiKey.objects.count() == 1


@pytest.mark.django_db
def test_database_failure_during_create_is_logged_for_the_operator(client, admin_user, project, caplog):
    client.force_login(admin_user)
    data = open_form(client, project)

    with (
        caplog.at_level(logging.ERROR),
        mock.patch("apikeys.services.AuditEvent.objects.create", side_effect=OperationalError("disk full")),
    ):
        client.post(create_url(project), data)

    assert any(record.levelno >= logging.ERROR and record.exc_info for record in caplog.records)
    assert "disk full" in caplog.text


@pytest.fixture
def api_key(project):
    return ApiKeyFactory(project=project, permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT], expires_at=None)


def post_create(client, key, body):
    return client.post(
        f"/api/v1/projects/{key.project.slug}/api-keys",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.secret}",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("target", "failure"), [p for p in INJECTIONS if p.id != "ticket-update"])
def test_database_failure_during_api_create_is_a_503_and_saves_nothing(client, api_key, target, failure):
    body = {"name": "child", "permissions": [catalog.READ_PROJECT]}

    with mock.patch(target, side_effect=failure):
        response = post_create(client, api_key, body)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    assert set(payload) == {"error", "detail"}
    assert payload["error"] == "unavailable"
    assert "secret" not in payload
    assert int(response["Retry-After"]) > 0
    assert ApiKey.objects.count() == 1  # only the caller
    # Documented, so clients know to retry.
    described = document("http://testserver/api/v1")["paths"]["/projects/{slug}/api-keys"]["post"]["responses"]
    assert "503" in described

    retried = post_create(client, api_key, body)
    assert retried.status_code == 201
    assert ApiKey.objects.count() == 2


# -- Redis unreachable ---------------------------------------------------------------------------------------

# Nothing listens on port 1: every cache call fails at once with "connection refused".
UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "config.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


@pytest.fixture
def redis_down(clean_cache):
    """The settings of a deployment with REDIS_URL, while its Redis is down.

    Depends on `clean_cache` so that it is undone before that fixture clears
    the (then local again) cache.
    """
    from django.core.cache import cache

    with override_settings(CACHES=UNREACHABLE_REDIS):
        with pytest.raises(Exception):  # noqa: B017 - really unreachable, whatever redis-py raises
            cache.get("probe")
        yield


def limiter_errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "config.ratelimit" and r.levelno >= logging.ERROR]


@pytest.mark.django_db
def test_valid_key_authenticates_while_redis_is_down(client, redis_down, caplog):
    key = ApiKeyFactory(permissions=[catalog.READ_PROJECT])

    with caplog.at_level(logging.INFO):
        response = client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {key.secret}")

    assert response.status_code == 200
    assert response.json()["id"] == key.public_id
    # A client whose key is right never touches the cache.
    assert limiter_errors(caplog) == []


@pytest.mark.django_db
def test_invalid_key_gets_401_and_the_limiter_fails_open_and_logs(client, redis_down, caplog, settings):
    settings.API_AUTH_FAILURE_LIMIT = 3

    with caplog.at_level(logging.INFO):
        responses = [
            client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {tokens.generate().raw}")
            for _ in range(settings.API_AUTH_FAILURE_LIMIT + 3)
        ]

    # Never a 500, and never locked: failures cannot be counted, so none is.
    assert [r.status_code for r in responses] == [401] * len(responses)
    assert all(r.json()["error"] == "invalid_token" for r in responses)
    errors = limiter_errors(caplog)
    assert len(errors) == len(responses)
    assert "Rate limiter unavailable" in errors[0].getMessage()
    assert errors[0].exc_info is not None


@pytest.mark.django_db
def test_log_in_works_while_redis_is_down(client, admin_user, redis_down, caplog, settings):
    with caplog.at_level(logging.INFO):
        failed = [
            client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
            for _ in range(settings.LOGIN_FAILURE_LIMIT_PER_USERNAME + 2)
        ]
        response = client.post("/accounts/login/", {"username": "alice", "password": "password"})

    assert [r.status_code for r in failed] == [200] * len(failed)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(admin_user.pk)
    assert client.get("/projects/").status_code == 200
    assert limiter_errors(caplog)


@pytest.mark.django_db
def test_console_create_and_api_create_work_while_redis_is_down(client, admin_user, project, redis_down):
    client.force_login(admin_user)
    data = open_form(client, project)
    assert client.post(create_url(project), data).status_code == 201

    key = ApiKeyFactory(project=project, permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT], expires_at=None)
    assert post_create(Client(), key, {"name": "child", "permissions": [catalog.READ_PROJECT]}).status_code == 201


# -- gunicorn: SIGTERM under load ------------------------------------------------------------------------------

GRACEFUL_TIMEOUT = 8
NEVER_ACCEPTED = (ConnectionRefusedError, ConnectionResetError, BrokenPipeError)
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def server_env(tmp_path: Path, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "GUNICORN_ACCESS_LOG"}}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECURE="0",
        DJANGO_SECRET_KEY="sigterm-test-secret-key-not-for-deployment-0123456789",
        API_KEY_PEPPERS="s1:sigterm-test-pepper-not-for-deployment",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="1",
        GUNICORN_GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT),
        LOG_LEVEL="WARNING",
        # gunicorn's control socket defaults to one path per user; keep ours apart
        # from any other gunicorn running on this machine.
        XDG_RUNTIME_DIR=str(tmp_path),
    )
    return env


class Outcome:
    """What one client saw: refused / reset before any byte (never accepted), or bytes."""

    def __init__(self, data: bytes = b"", error: BaseException | None = None):
        self.data, self.error = data, error

    @property
    def accepted(self) -> bool:
        # A connection the server never took is refused, or reset with nothing sent back.
        return bool(self.data)

    def complete_200(self) -> bool:
        head, sep, body = self.data.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1.1 200 "):
            return False
        fields = (line.partition(b":") for line in head.split(b"\r\n")[1:])
        headers = {name.strip().lower(): value.strip() for name, _, value in fields}
        length = headers.get(b"content-length")
        return length is not None and len(body) == int(length) and body == b'{"status": "ok"}'

    def __repr__(self):
        return f"Outcome(data={self.data[:80]!r}..., error={self.error!r})"


def request(port: int, *, slow_until: threading.Event | None = None) -> Outcome:
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            if slow_until is None:
                sock.sendall(REQUEST)
            else:
                # A slow client: the request line now, the rest when told.
                head, rest = REQUEST[:30], REQUEST[30:]
                sock.sendall(head)
                slow_until.wait(10)
                sock.sendall(rest)
            while chunk := sock.recv(65536):
                data += chunk
    except OSError as error:
        return Outcome(data, error)
    return Outcome(data)


def wait_until_serving(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        if request(port).complete_200():
            return
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer /healthz:\n{log.read_text()}")


@pytest.mark.slow  # gunicorn under load
def test_sigterm_under_load_finishes_accepted_requests_and_exits_cleanly(tmp_path):
    port = free_port()
    env = server_env(tmp_path, port)
    python = sys.executable
    migrate = subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [python, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(port, server, log)

        outcomes: list[Outcome] = []
        lock = threading.Lock()
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                outcome = request(port)
                with lock:
                    outcomes.append(outcome)
                if isinstance(outcome.error, ConnectionRefusedError):
                    time.sleep(0.01)

        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(20)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)

        # One request in flight when the signal comes: its worker has it and is
        # still reading it (a slow client), and must finish it.
        finish_slow = threading.Event()
        slow: list[Outcome] = []
        slow_thread = threading.Thread(target=lambda: slow.append(request(port, slow_until=finish_slow)))
        slow_thread.start()
        time.sleep(0.5)
        with lock:
            answered_before = sum(o.complete_200() for o in outcomes)

        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        finish_slow.set()

        returncode = server.wait(timeout=GRACEFUL_TIMEOUT + 5)
        stopped_after = time.monotonic() - signalled
        stop.set()
        for thread in [*threads, slow_thread]:
            thread.join(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    server_log = log.read_text()
    assert returncode == 0, server_log
    assert stopped_after < GRACEFUL_TIMEOUT, f"took {stopped_after:.1f}s: workers killed, not stopped\n{server_log}"
    assert answered_before >= 20, f"no real load: {answered_before} answers before SIGTERM\n{server_log}"
    # The in-flight request was answered in full, after the signal.
    assert slow and slow[0].complete_200(), f"{slow}\n{server_log}"
    # Every request the server took was answered in full; the others were
    # refused or reset without a byte (never half an answer).
    broken = [o for o in outcomes if o.accepted and not o.complete_200()]
    assert broken == [], f"{broken[:5]}\n{server_log}"
    # A connection closed without a byte and without a reset was taken and dropped.
    dropped = [o for o in outcomes if not o.accepted and not isinstance(o.error, NEVER_ACCEPTED)]
    assert dropped == [], f"{dropped[:5]}\n{server_log}"
    assert "Traceback" not in server_log, server_log


def test_database_failure_during_an_admin_create_is_a_clear_error_and_saves_nothing(
    client, superuser, project, monkeypatch
):
    client.force_login(superuser)
    page = client.get("/admin/apikeys/apikey/add/")
    ticket = re.search(r'name="ticket" value="([^"]+)"', page.content.decode()).group(1)
    monkeypatch.setattr("apikeys.services._audit", mock.Mock(side_effect=DatabaseError("disk full")))

    response = client.post(
        "/admin/apikeys/apikey/add/",
        {"project": project.pk, "name": "admin-made", "permissions": [catalog.READ_PROJECT], "ticket": ticket},
    )

    assert response.status_code == 503
    assert "Nothing was saved" in response.content.decode()
    assert not ApiKey.objects.exists()
