"""Every log line is free of keys and is one line, whoever writes it.

The checks walk what exists at run time (loggers, their handlers, Python's
last resort handler) and run the real dev server, rather than read our
configuration dicts: Django's default handlers, gunicorn's and any added later
must keep the promise as much as ours.
"""

import contextlib
import io
import json
import logging
import os
import re
import runpy
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from unittest import mock

import pytest
from django.core import mail
from django.test import Client, RequestFactory, override_settings
from django.utils.log import AdminEmailHandler

from apikeys import tokens
from tests.servers import free_port, spawn_gunicorn, start_runserver, stop_servers, wait_until_accepting

ROOT = Path(__file__).resolve().parent.parent

# Control characters a log line must never carry raw: C0 (but the line
# terminator itself), DEL, C1, and the Unicode line and paragraph separators.
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")
FORGED = "1999-12-31 INFO console.request GET /admin 200"
FORGING_PATHS = [
    "/foo%0a1999-12-31%20INFO%20console.request%20GET%20/admin%20200",
    "/foo%0d%0a1999-12-31%20INFO%20console.request%20GET%20/admin%20200",
    "/foo%1b[31mred%1b[0m",
    "/foo%e2%80%a81999-12-31%20INFO%20console.request%20GET%20/admin%20200",
    "/foo%c2%851999-12-31%20INFO%20console.request%20GET%20/admin%20200",  # NEL, a C1 control
    "/foo%e2%80%ae002%20eurt=nimda",  # a right-to-left override: shown reversed in a viewer
    "/foo?x=%0a1999-12-31%20INFO%20console.request%20GET%20/admin%20200",
]


def leaks(text: str, key: str) -> bool:
    return key in text or key[-49:-6] in text  # the key, or its random part alone


# -- every handler of every logger -------------------------------------------------


def _written(handler: logging.Handler, record: logging.LogRecord) -> str:
    """What `handler` writes for `record`: its stream, or the mail it sends."""
    if isinstance(handler, AdminEmailHandler):
        mail.outbox = []
        include_html, handler.include_html = handler.include_html, True  # the HTML report too
        try:
            handler.handle(record)
        finally:
            handler.include_html = include_html
        return "\n".join(
            "\n".join([message.subject, message.body, *(content for content, _ in message.alternatives)])
            for message in mail.outbox
        )
    if isinstance(handler, logging.StreamHandler):
        stream = io.StringIO()
        if handler is logging.lastResort:  # it writes to whatever sys.stderr is at the time
            with contextlib.redirect_stderr(stream):
                handler.handle(record)
        else:
            previous = handler.setStream(stream)
            try:
                handler.handle(record)
            finally:
                handler.setStream(previous)
        return stream.getvalue()
    if isinstance(handler, logging.NullHandler):
        return ""
    raise AssertionError(f"This test cannot read what {handler!r} writes: teach _written().")


def written_by_every_handler(key: str) -> dict[str, str]:
    """What each handler of every logger that exists now writes for records carrying `key`.

    The key is in the message, in the arguments and in an exception (whose
    frames hold it as a local variable); each record names a request with the
    key in its path, query, form and headers, as Django's error records do.
    Handlers are called directly, so no logger level or filter shields them.
    Also imported by the gunicorn test's subprocess.
    """
    request = RequestFactory().post(
        f"/projects/{key}/?key={key}", {"key": key}, HTTP_REFERER=f"https://example.com/?key={key}"
    )
    try:
        raise ValueError(f"refused {key}")
    except ValueError:
        exc_info = sys.exc_info()
    records = [(f"message {key}", (), None), ("args %s", (key,), None), ("exception", (), exc_info)]

    loggers = [logging.getLogger()]
    loggers += [logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    handlers = {id(logging.lastResort): ("lastResort", logging.getLogger(), logging.lastResort)}
    for logger in loggers:
        for handler in logger.handlers:
            handlers.setdefault(id(handler), (f"{logger.name}: {handler!r}", logger, handler))

    written = dict.fromkeys((label for label, _, _ in handlers.values()), "")
    # Django's default handlers write in one mode or the other (require_debug_true/false).
    for debug in (False, True):
        with override_settings(
            DEBUG=debug,
            ADMINS=[("Ops", "ops@example.com")],
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        ):
            for label, logger, handler in handlers.values():
                for message, args, exc in records:
                    record = logger.makeRecord(
                        logger.name, logging.ERROR, __file__, 1, message, args, exc, extra={"request": request}
                    )
                    written[label] += _written(handler, record)
    return written


def assert_every_handler_wrote_no_key(written: dict[str, str], key: str) -> None:
    assert {label: text for label, text in written.items() if leaks(text, key)} == {}
    silent = [label for label, text in written.items() if not text and "NullHandler" not in label]
    assert silent == [], "these handlers wrote nothing, so the check proves nothing for them"


def test_every_handler_of_every_logger_writes_no_key():
    key = tokens.generate().raw

    written = written_by_every_handler(key)

    assert "lastResort" in written
    assert any(label.startswith("django: ") and "AdminEmailHandler" in label for label in written)
    assert_every_handler_wrote_no_key(written, key)


GUNICORN_PROCESS = """
import json, sys
from gunicorn.app.wsgiapp import WSGIApplication

# What `gunicorn -c config/gunicorn.conf.py config.wsgi` does before it forks:
# read the config file, set up its logging, preload the application.
sys.argv = ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"]
app = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog="gunicorn")
app.cfg.logger_class(app.cfg)
app.wsgi()

from apikeys import tokens
from tests.servers import free_port, start_runserver
from tests.test_logging import written_by_every_handler

key = tokens.generate().raw
print(json.dumps([key, written_by_every_handler(key)]))
"""


@pytest.mark.slow  # a server in a subprocess
def test_every_handler_in_a_gunicorn_process_writes_no_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_KEY", "REDIS_URL", "GUNICORN_"))}
    env.update(
        DJANGO_SECRET_KEY="logging-test-secret-key-not-for-deployment-0123456789",
        API_KEY_PEPPERS="l1:logging-test-pepper-not-for-deployment",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    result = subprocess.run(
        [sys.executable, "-c", GUNICORN_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    key, written = json.loads(result.stdout)

    assert any(label.startswith("gunicorn.error: ") for label in written)  # gunicorn.access shares it
    assert_every_handler_wrote_no_key(written, key)


def test_admin_error_mail_carries_no_key(db, settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    key = tokens.generate().raw
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a-session-id-that-fails-to-load"

    with mock.patch("django.contrib.sessions.backends.db.SessionStore.load", side_effect=RuntimeError(f"no {key}")):
        response = client.post(f"/projects/{key}/?key={key}", {"key": key}, HTTP_REFERER=f"https://x.example/?k={key}")

    assert response.status_code == 500
    [message] = mail.outbox
    assert "/projects/" in message.body  # the report names the request...
    text = "\n".join([message.subject, message.body, *(content for content, _ in message.alternatives)])
    assert not leaks(text, key)  # ...but not the key


# -- one request, one line ---------------------------------------------------------


@pytest.fixture
def log_lines():
    """Every line our loggers write, through a handler without any filter of ours.

    It runs first, so it sees each record as created, before another
    handler's filter could rewrite it.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root, django_request = logging.getLogger(), logging.getLogger("django.request")
    levels = root.level, django_request.level
    root.handlers.insert(0, handler)
    root.setLevel(logging.INFO)
    django_request.setLevel(logging.WARNING)  # its "Not Found: <path>" line carries request data too
    yield lambda: stream.getvalue().split("\n")[:-1]
    root.removeHandler(handler)
    root.setLevel(levels[0])
    django_request.setLevel(levels[1])


@pytest.mark.parametrize("path", FORGING_PATHS)
def test_a_request_writes_one_line_per_logger_whatever_its_path_holds(client, log_lines, path):
    client.get(path)

    lines = log_lines()
    assert sorted(line.split()[3] for line in lines) == ["console.request", "django.request"], lines
    assert not any(RAW_CONTROL.search(line) for line in lines), lines
    assert not any(line.startswith(FORGED[:10]) for line in lines)


def test_escaping_is_visible_and_keeps_text_readable():
    from config.logfilters import escape_controls

    assert escape_controls("a\nb\rc\td\x1b[31me\x00f\x85g\u2028h\u2029i") == (
        r"a\nb\rc\td\x1b[31me\x00f\x85g\u2028h\u2029i"
    )
    assert escape_controls("/café/日本/ü?q=ß") == "/café/日本/ü?q=ß"
    assert escape_controls("a\u202eb\u2066c\u200fd") == r"a\u202eb\u2066c\u200fd"


def test_a_cut_or_glued_key_is_redacted_too():
    from config.logfilters import redact

    key = tokens.generate().raw
    # A key missing its checksum still carries the whole secret; one glued to
    # other text is still a key.
    for text in (key[:-6], key[:-1], f"{key}x", f"{key}_more", f"{'a' * 20}{key}", f"x{key}y"):
        assert not leaks(redact(f"?key={text}"), key), text


# -- the dev server (`make run`) -----------------------------------------------------


def dev_server_output(tmp_path: Path, targets: list[str], headers: dict[str, dict] | None = None) -> str:
    """Run `manage.py runserver` as `make run` does, GET each target, return all it wrote.

    Requests are written to the socket as is: no client library refuses a
    raw control character on our behalf. `headers` adds headers per target.

    The database is a fresh, unmigrated SQLite file: a request that loads a
    session errors (500), as in any deployment whose database fails.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_KEY", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        DJANGO_DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", LOG_LEVEL="INFO", PYTHONUNBUFFERED="1"
    )
    output = tmp_path / "runserver.log"
    server = start_runserver(port, env, output)
    try:
        for target in targets:
            extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).get(target, {}).items())
            request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n"
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(request.encode("latin-1"))  # bytes as typed, as http.server reads them
                while sock.recv(65536):
                    pass
    finally:
        server.terminate()
        server.wait(timeout=30)
    return output.read_text()


@pytest.mark.slow  # a server in a subprocess
def test_dev_server_writes_no_key(tmp_path):
    key = tokens.generate().raw

    failing = f"/projects/{key}/?key={key}"  # 500: its session cannot load
    output = dev_server_output(
        tmp_path,
        [f"/api/v1/whoami?key={key}", f"/no/such/page/{key}", failing],  # 401, 404, 500
        headers={failing: {"Cookie": "sessionid=a-session-that-cannot-load"}},
    )

    assert output.count(" console.request GET ") == 3, output
    assert "Internal Server Error: /projects/" in output  # Django's own error line was written...
    assert not leaks(output, key), output  # ...and no line holds the key


@pytest.mark.slow  # a server in a subprocess
def test_dev_server_writes_one_line_per_request_and_no_raw_control_character(tmp_path):
    raw = "/raw\x1b[31mred\x85"  # not even percent-encoded: runserver's own line shows it
    output = dev_server_output(tmp_path, [*FORGING_PATHS, raw, "/caf%C3%A9"])

    lines = output.split("\n")
    request_lines = [line for line in lines if " console.request " in line]
    assert len(request_lines) == len(FORGING_PATHS) + 2, output
    # Refused (400) by the input guard, and logged escaped.
    assert r'django.server "GET /raw\x1b[31mred\x85 HTTP/1.1" 400' in output, output
    assert re.search(r" console\.request GET /café 404 [\d.]+ms key=- user=-$", request_lines[-1]), output
    assert not RAW_CONTROL.search(output), output
    assert not any(line.startswith(FORGED[:10]) for line in lines), output


@pytest.mark.slow  # two gunicorn servers
@pytest.mark.parametrize("access_log", ["", "-"], ids=["without GUNICORN_ACCESS_LOG", "with GUNICORN_ACCESS_LOG=-"])
def test_gunicorn_writes_an_access_line_only_when_asked(tmp_path, access_log):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_KEY", "REDIS_URL", "GUNICORN_"))}
    env.update(
        DJANGO_SECRET_KEY="logging-test-secret-key-not-for-deployment-0123456789",
        API_KEY_PEPPERS="l1:logging-test-pepper-not-for-deployment",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SECURE="0",
        ALLOW_PROCESS_LOCAL_CACHE="1",
        WEB_CONCURRENCY="1",
        GUNICORN_ACCESS_LOG=access_log,
    )
    port, log = free_port(), tmp_path / "gunicorn.log"
    server = spawn_gunicorn(port, env, log)
    try:
        wait_until_accepting(server, port, log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?probe=access-line", timeout=10) as response:
            assert response.status == 200
    finally:
        stop_servers(server)

    access_lines = [line for line in log.read_text().splitlines() if '"GET /healthz?probe=access-line' in line]
    assert len(access_lines) == (1 if access_log else 0), log.read_text()


def test_gunicorn_builds_no_access_line_that_nobody_asked_for():
    # gunicorn formats the line for every request when logconfig_dict is set,
    # then drops it by level: our logger class does not even start.
    from gunicorn.config import Config

    conf = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("logconfig_dict", conf["logconfig_dict"])
    logger = conf["logger_class"](cfg)

    logger.access(resp=None, req=None, environ=None, request_time=None)  # would fail on the first atom
