"""Several nodes as one (issue 13): two `make serve` nodes on one PostgreSQL and one Redis.

Two gunicorn processes (config/gunicorn.conf.py, WEB_CONCURRENCY=2 each, DEBUG
off, DJANGO_SECURE=1 behind a TLS proxy) listen on their own ports and share
the pytest test database and the suite's Redis, with the same secret key and
peppers. The test plays the load balancer: every request carries the public
Host, `X-Forwarded-Proto: https` and `X-Forwarded-For: <client>`
(TRUSTED_PROXY_COUNT=1), and goes to whichever node the scenario names. A
browser's cookies (every one marked Secure) are kept by hand and sent to both
nodes, as a browser does behind one hostname.

Each scenario is one test with its own data (factories; a transactional
database, so the nodes see committed rows) and its own client address, so
neither the shared counters nor a worker's memory of tripped addresses leaks
from one to the next. The nodes outlive the flush between tests.

The one departure from `make serve`: STATIC_ROOT is a constant of
config/settings.py (BASE_DIR/staticfiles), so the nodes run a settings module
that imports config.settings and only moves STATIC_ROOT to a temporary
directory, where collectstatic puts the hashed files; the working tree is left
alone. docs/deployment.md ("Several nodes") describes the topology proven here.
"""

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password
from django.core.cache import cache
from django.db import connection

from apikeys import tokens
from apikeys.jsonapi import REVOKED
from apikeys.models import ApiKey, AuditEvent
from config import ratelimit
from projects import catalog
from tests.factories import (
    ApiKeyFactory,
    CredentialFactory,
    MembershipFactory,
    OrganizationFactory,
    ServiceAccountFactory,
    UserFactory,
    role,
)
from tests.htmltree import parse
from tests.servers import ROOT, free_port, spawn_gunicorn, stop_servers, wait_until_accepting

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (ON_POSTGRESQL and settings.REDIS_URL),
        reason="several nodes need a database and a cache they can all reach: set DATABASE_URL=postgresql://… "
        "and REDIS_URL=redis://… (the CI run on PostgreSQL sets both)",
    ),
    pytest.mark.django_db(transaction=True),
]

HOST = "console.example.com"  # what the load balancer serves; both nodes see it
ORIGIN = f"https://{HOST}"
API_LIMIT = 6  # API_AUTH_FAILURE_LIMIT of the nodes
LOGIN_LIMIT = 4  # LOGIN_FAILURE_LIMIT_PER_USERNAME of the nodes
PASSWORD = "multinode-password"
WHOAMI = "/api/v1/whoami"
THROTTLED = "Too many failed log-in attempts"
ALREADY_SUBMITTED = "This form was already submitted, so no second key was created."

SETTINGS_OVERLAY = '''"""config.settings with STATIC_ROOT in a temporary directory (tests/test_multinode.py)."""
import os
from pathlib import Path

from config.settings import *  # noqa: F403

STATIC_ROOT = Path(os.environ["MULTINODE_STATIC_ROOT"])
'''


# -- HTTP through the "load balancer" ---------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    name: str
    port: int
    log: Path
    process: subprocess.Popen

    def __repr__(self):
        return f"node {self.name} (:{self.port})"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> dict:
        return json.loads(self.body)


def send(node: Node, method: str, path: str, *, address: str, headers=None, body: bytes | None = None) -> Reply:
    """One request as the TLS-terminating load balancer forwards it; a connection per request."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=20)
    try:
        conn.request(
            method,
            path,
            body=body,
            headers={
                "Host": HOST,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": address,
                "Connection": "close",
                **(headers or {}),
            },
        )
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def api(node: Node, method: str, path: str, *, address: str, key: str | None = None, payload=None) -> Reply:
    headers = {"Accept": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    body = None
    if payload is not None:
        body = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    return send(node, method, path, address=address, headers=headers, body=body)


class Browser:
    """One user's browser: one cookie jar for the site, whichever node answers.

    Every cookie the nodes set must be marked Secure (DJANGO_SECURE=1); a
    stdlib jar would then never send it over the test's plain HTTP, so the
    cookies are kept here, by hand.
    """

    def __init__(self, address: str):
        self.address = address
        self.cookies: dict[str, str] = {}

    def get(self, node: Node, path: str) -> Reply:
        return self._send(node, "GET", path)

    def post(self, node: Node, path: str, fields: list[tuple[str, str]]) -> Reply:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            # What a browser sends with a form post over HTTPS (Django checks it).
            "Origin": ORIGIN,
            "Referer": ORIGIN + path,
        }
        return self._send(node, "POST", path, headers=headers, body=urlencode(fields).encode())

    def log_in(self, node: Node, username: str, password: str) -> Reply:
        form = self.get(node, "/accounts/login/")
        assert form.status == 200, form.text
        fields = [("csrfmiddlewaretoken", hidden(form, "csrfmiddlewaretoken"))]
        return self.post(node, "/accounts/login/", [*fields, ("username", username), ("password", password)])

    def _send(self, node: Node, method: str, path: str, headers=None, body: bytes | None = None) -> Reply:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        reply = send(node, method, path, address=self.address, headers=headers, body=body)
        for line in reply.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(line)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0":  # a deletion (Django does not mark those Secure)
                    self.cookies.pop(name, None)
                else:
                    assert morsel["secure"], f"{node} set the cookie {name} without Secure: {line}"
                    self.cookies[name] = morsel.value
        return reply


def hidden(reply: Reply, name: str) -> str:
    field = parse(reply.text).find("input", name=name)
    assert field is not None, f"no {name} field in:\n{reply.text[:2000]}"
    return field.attrs["value"]


# -- the nodes --------------------------------------------------------------------------------------------


def database_url() -> str:
    """The pytest test database (created by django_db_setup), as a DATABASE_URL."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        user += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql://{user}@{db['HOST'] or 'localhost'}{port}/{quote(db['NAME'], safe='')}"


def node_env(tmp: Path) -> dict:
    """One environment for every node: as the same env file on every host."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="multinode_settings",
        PYTHONPATH=os.pathsep.join(filter(None, [str(tmp), os.environ.get("PYTHONPATH")])),
        MULTINODE_STATIC_ROOT=str(tmp / "static"),
        DJANGO_DEBUG="0",
        DJANGO_SECURE="1",
        DJANGO_BEHIND_TLS_PROXY="1",
        # Not the test process's key: sessions, CSRF tokens and message cookies
        # are signed by one node and read by the other, so they share this one.
        DJANGO_SECRET_KEY="multinode-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 2,
        # The test process's peppers: it creates the keys the nodes verify.
        API_KEY_PEPPERS=",".join(f"{version}:{secret}" for version, secret in settings.API_KEY_PEPPERS.items()),
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_CSRF_TRUSTED_ORIGINS=ORIGIN,
        TRUSTED_PROXY_COUNT="1",
        FORWARDED_ALLOW_IPS="127.0.0.1",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        API_AUTH_FAILURE_LIMIT=str(API_LIMIT),
        LOGIN_FAILURE_LIMIT_PER_USERNAME=str(LOGIN_LIMIT),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="1",
        GUNICORN_GRACEFUL_TIMEOUT="5",
        LOG_LEVEL="WARNING",
        XDG_RUNTIME_DIR=str(tmp),
    )
    return env


def manage(env: dict, *commands: list[str]) -> None:
    """`manage.py <command>` for each command, side by side; each must succeed."""
    running = [
        (
            command,
            subprocess.Popen(
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
        for command in commands
    ]
    for command, process in running:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"manage.py {' '.join(command)}:\n{output}"


def wait_until_healthy(node: Node, timeout: float = 30) -> None:
    """What the load balancer waits for: GET /healthz → 200 {"status": "ok"}."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            reply = send(node, "GET", "/healthz", address="192.0.2.1")
            if reply.status == 200 and reply.json() == {"status": "ok"}:
                return
        if node.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{node} is not healthy:\n{node.log.read_text()}")
        time.sleep(0.1)


def start_nodes(env: dict, tmp: Path, names: list[str]) -> list[Node]:
    """Boot the nodes side by side; each is up once /healthz answers."""
    nodes = []
    try:
        for name in names:
            port, log = free_port(), tmp / f"node-{name}.log"
            nodes.append(Node(name, port, log, spawn_gunicorn(port, env, log)))
        for node in nodes:
            wait_until_accepting(node.process, node.port, node.log)
            wait_until_healthy(node)
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def stop_nodes(nodes: list[Node]) -> None:
    stop_servers(*(node.process for node in nodes))


@dataclass(frozen=True)
class Deployment:
    env: dict
    tmp: Path
    nodes: list[Node]


@pytest.fixture(scope="module")
def deployment(django_db_setup, tmp_path_factory):
    """Nodes A and B, booted once for the module, as `make serve` boots each host."""
    tmp = tmp_path_factory.mktemp("multinode")
    (tmp / "multinode_settings.py").write_text(SETTINGS_OVERLAY)
    env = node_env(tmp)
    # What `make serve` runs before gunicorn (the test database is migrated already).
    manage(env, ["collectstatic", "--noinput", "-v0"], ["check", "--deploy", "--fail-level", "WARNING"])
    nodes = start_nodes(env, tmp, ["A", "B"])
    try:
        yield Deployment(env, tmp, nodes)
    finally:
        stop_nodes(nodes)


@pytest.fixture
def nodes(deployment):
    """(A, B); after the test, neither logged a traceback (a 500, a crash) meanwhile."""
    for node in deployment.nodes:
        assert node.process.poll() is None, f"{node} died:\n{node.log.read_text()}"
    offsets = {node.name: node.log.stat().st_size for node in deployment.nodes}
    yield tuple(deployment.nodes)
    for node in deployment.nodes:
        with node.log.open() as log:
            log.seek(offsets[node.name])
            written = log.read()
        assert "Traceback" not in written, f"{node}:\n{written}"


# -- data -------------------------------------------------------------------------------------------------


@pytest.fixture
def bootstrap_key(project):
    """A key that may create and revoke keys in `project` ("demo", conftest), made in the test process."""
    return ApiKeyFactory(
        project=project, name="bootstrap", permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT], expires_at=None
    )


def console_user(project, username: str):
    """An Administrator of `project` whose password the nodes can check (Argon2, as deployed)."""
    user = UserFactory(username=username)
    # Set after creation: the factory would hash a given value again, with the tests' fast hasher.
    user.password = make_password(PASSWORD, hasher=Argon2PasswordHasher())
    user.save(update_fields=["password"])
    MembershipFactory(project=project, user=user, role=role(catalog.ADMINISTRATOR))
    return user


def create_over_api(node: Node, key: ApiKey, name: str, address: str) -> dict:
    reply = api(
        node,
        "POST",
        f"/api/v1/projects/{key.project.slug}/api-keys",
        key=key.secret,
        payload={"name": name, "permissions": [catalog.READ_PROJECT]},
        address=address,
    )
    assert reply.status == 201, f"{node}: {reply.status} {reply.text}"
    return reply.json()


# -- the scenarios ----------------------------------------------------------------------------------------


def test_a_key_created_on_one_node_works_on_the_other_at_once(nodes, bootstrap_key):
    a, b = nodes
    address = "203.0.113.10"

    created = create_over_api(a, bootstrap_key, "deploy-bot", address)

    # The very next request, on the other node: no warm-up, no retry.
    whoami = api(b, "GET", WHOAMI, key=created["secret"], address=address)
    assert whoami.status == 200, whoami.text
    assert whoami.json()["id"] == created["id"]
    assert whoami.json()["project"] == "demo"
    assert whoami.json()["permissions"] == [catalog.READ_PROJECT]
    assert api(b, "GET", "/api/v1/projects/demo", key=created["secret"], address=address).status == 200
    # B lists it, as created by the bootstrap key on A.
    listed = api(b, "GET", "/api/v1/projects/demo/api-keys", key=bootstrap_key.secret, address=address).json()
    by_id = {entry["id"]: entry for entry in listed["results"]}
    assert by_id[created["id"]]["created_by"] == {"type": "api_key", "id": bootstrap_key.public_id}
    assert ApiKey.objects.get(public_id=created["id"]).created_by_key == bootstrap_key


def test_a_key_revoked_on_one_node_is_refused_by_the_other_on_the_very_next_request(nodes, bootstrap_key):
    a, b = nodes
    address = "203.0.113.20"
    created = create_over_api(b, bootstrap_key, "soon-revoked", address)
    # B has served it, on whichever of its workers: nothing it may remember.
    for _ in range(4):
        assert api(b, "GET", WHOAMI, key=created["secret"], address=address).status == 200

    revoked = api(
        a, "POST", f"/api/v1/projects/demo/api-keys/{created['id']}/revoke", key=bootstrap_key.secret, address=address
    )
    assert revoked.status == 200, revoked.text
    assert revoked.json()["status"] == "revoked"

    refused = api(b, "GET", WHOAMI, key=created["secret"], address=address)
    assert refused.status == 401
    assert refused.json() == {"error": "invalid_token", "detail": REVOKED}
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert api(a, "GET", WHOAMI, key=created["secret"], address=address).status == 401
    # Only that key: the one that revoked it still works on both.
    for node in nodes:
        assert api(node, "GET", WHOAMI, key=bootstrap_key.secret, address=address).status == 200


def test_a_service_accounts_edits_on_one_node_hold_on_the_other_on_the_very_next_request(nodes, project):
    """SPEC §8: permission edits and disabling take effect on the next request on every node (no per-process cache)."""
    a, b = nodes
    address = "203.0.113.25"
    project.organization = OrganizationFactory(slug="multinode-org")
    project.save(update_fields=["organization"])
    clusters = "can_create_clusters_in_metakube"
    automation = CredentialFactory(
        service_account=ServiceAccountFactory(
            organization=project.organization, admin=True, projects={project: sorted(catalog.CODENAMES)}
        )
    )
    worker = ServiceAccountFactory(
        organization=project.organization, projects={project: [catalog.READ_PROJECT, clusters]}
    )
    credential = CredentialFactory(service_account=worker)
    ask = f"/api/v1/whoami?permission={clusters}&project=demo"
    base = f"/api/v1/orgs/multinode-org/service-accounts/{worker.public_id}"
    for _ in range(4):  # both nodes, several workers, have served it
        for node in nodes:
            assert api(node, "GET", ask, key=credential.secret, address=address).status == 200

    narrowed = api(
        a,
        "PUT",
        f"{base}/projects/demo",
        key=automation.secret,
        address=address,
        payload={"permissions": [catalog.READ_PROJECT]},
    )
    assert narrowed.status == 200, narrowed.text
    assert api(b, "GET", ask, key=credential.secret, address=address).status == 403

    disabled = api(b, "PATCH", base, key=automation.secret, address=address, payload={"disabled": True})
    assert disabled.status == 200, disabled.text
    refused = api(a, "GET", WHOAMI, key=credential.secret, address=address)
    assert refused.status == 401 and "disabled" in refused.json()["detail"]


def test_failed_authentications_on_both_nodes_count_toward_one_limit(nodes, project):
    a, b = nodes
    address = "203.0.113.30"

    def guess(node: Node) -> Reply:
        return api(node, "GET", WHOAMI, key=tokens.generate().raw, address=address)

    # Alternating: each node sees only half of the failures.
    answers = [guess(nodes[n % 2]).status for n in range(API_LIMIT)]
    assert answers == [401] * API_LIMIT
    assert cache.get(ratelimit._api_failure_key(address)) == API_LIMIT  # one count, in Redis

    # The next failure, on either node, is over the limit overall. Counted per
    # node, each would be at half the limit and answer 401 up to 2 × the limit.
    over = guess(nodes[API_LIMIT % 2])
    assert over.status == 429, over.text
    assert over.json()["error"] == "rate_limited"
    assert over.headers["Retry-After"] == str(settings.API_AUTH_FAILURE_WINDOW_SECONDS)
    assert guess(nodes[(API_LIMIT + 1) % 2]).status == 429
    assert [guess(node).status for node in (a, b, a, b)] == [429] * 4

    # Another client address is not affected, on either node.
    for node in nodes:
        assert api(node, "GET", WHOAMI, key=tokens.generate().raw, address="203.0.113.31").status == 401


def test_a_create_form_from_one_node_creates_once_on_the_other_and_never_again(nodes, project):
    a, b = nodes
    user = console_user(project, "alice")
    browser = Browser("203.0.113.40")
    logged_in = browser.log_in(a, "alice", PASSWORD)
    assert logged_in.status == 302 and logged_in.headers["Location"] == "/projects/", logged_in.text
    assert "sessionid" in browser.cookies

    form = browser.get(a, "/projects/demo/api-keys/create/")
    assert form.status == 200, form.text
    fields = [
        ("csrfmiddlewaretoken", hidden(form, "csrfmiddlewaretoken")),
        ("ticket", hidden(form, "ticket")),
        ("name", "made-across-nodes"),
        ("description", "rendered by A, sent to B"),
        ("tags", "multinode"),
        ("expiration", "30"),
        ("permissions", catalog.READ_PROJECT),
        ("permissions", catalog.READ_API_KEYS),
    ]

    # B takes A's session, CSRF token and one-time ticket.
    created = browser.post(b, "/projects/demo/api-keys/create/", fields)
    assert created.status == 201, created.text[:3000]
    assert "no-store" in created.headers["Cache-Control"]
    shown = parse(created.text).by_id("api-key-secret")
    assert shown is not None
    secret = shown.attrs.get("value") or shown.text()
    assert re.fullmatch(tokens.scanner_regex(), secret)
    key = ApiKey.objects.get()
    assert (key.name, key.created_by, key.permissions) == (
        "made-across-nodes",
        user,
        [catalog.READ_PROJECT, catalog.READ_API_KEYS],
    )
    assert api(a, "GET", WHOAMI, key=secret, address=browser.address).json()["id"] == key.public_id

    # The same form again, to A (a reload, a double click the balancer sent elsewhere).
    again = browser.post(a, "/projects/demo/api-keys/create/", fields)
    assert again.status == 302, again.text[:3000]
    assert again.headers["Location"] == "/projects/demo/api-keys/"
    assert secret not in again.text
    assert ApiKey.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATED).count() == 1
    # The "already submitted" answer, set by A, shown by B on the next page.
    listing = browser.get(b, "/projects/demo/api-keys/")
    assert listing.status == 200
    assert ALREADY_SUBMITTED in " ".join(parse(listing.text).text().split())
    assert not re.search(tokens.scanner_regex(), listing.text)


def test_log_in_failures_on_both_nodes_count_toward_one_limit(nodes, project):
    a, b = nodes
    console_user(project, "alice")
    console_user(project, "bob")
    browser = Browser("203.0.113.50")

    for n in range(LOGIN_LIMIT):
        failed = browser.log_in(nodes[n % 2], "alice", "wrong-password")
        assert failed.status == 200, f"failure {n + 1} on {nodes[n % 2]}: {failed.status}"
        assert "sessionid" not in browser.cookies

    # Each node saw half the limit; together they reached it: the right
    # password is now refused on both, without being checked.
    for node in (a, b):
        refused = browser.log_in(node, "alice", PASSWORD)
        assert refused.status == 429, f"{node}: {refused.status}"
        assert THROTTLED in parse(refused.text).text()
        assert "sessionid" not in browser.cookies
    # The limit is alice's: another user from the same address logs in.
    assert browser.log_in(b, "bob", PASSWORD).status == 302
    assert "sessionid" in browser.cookies


def test_a_node_whose_redis_is_down_still_authenticates_and_fails_open(deployment, project, tmp_path):
    """REDIS_URL points where nothing listens: keys and log-ins work; nothing is counted, it is logged."""
    env = {**deployment.env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    (node,) = start_nodes(env, tmp_path, ["C"])
    try:
        address = "203.0.113.60"
        key = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT])
        assert api(node, "GET", WHOAMI, key=key.secret, address=address).status == 200

        guesses = [api(node, "GET", WHOAMI, key=tokens.generate().raw, address=address) for _ in range(API_LIMIT + 2)]
        assert [reply.status for reply in guesses] == [401] * len(guesses)  # refused, never locked

        console_user(project, "carol")
        browser = Browser(address)
        for _ in range(LOGIN_LIMIT + 1):
            assert browser.log_in(node, "carol", "wrong-password").status == 200
        assert browser.log_in(node, "carol", PASSWORD).status == 302
        assert browser.get(node, "/projects/").status == 200
    finally:
        stop_nodes([node])
    assert "Rate limiter unavailable" in node.log.read_text()
