"""Concurrent writers on SQLite, as `make run` serves it: a real threaded runserver on a database file.

The suite's own SQLite database is in memory (one connection's world), so
parallel requests can only be shown against a server of its own: parallel
creates all succeed (writers queue, none fails with "database is locked"),
and a key's children never outlive its revocation.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from projects import catalog
from tests.servers import free_port, start_runserver

BASE_DIR = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,  # a runserver of its own
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="a SQLite server of its own; the PostgreSQL run has tests/test_races.py"
    ),
]

SEED = f"""
from datetime import timedelta
from django.utils import timezone
from apikeys import services
from projects.models import Project
from django.contrib.auth import get_user_model
project = Project.objects.create(name="Race", slug="race")
user = get_user_model().objects.create_superuser("root", password="root-password")
created = services.api_key_create(
    project=project, name="root", permissions={sorted(catalog.CODENAMES)!r}, created_by=user,
    expires_at=timezone.now() + timedelta(days=30),
)
print(created.secret)
"""


class Server:
    def __init__(self, port: int, root_secret: str):
        self.base, self.root_secret = f"http://127.0.0.1:{port}", root_secret

    def call(self, method: str, path: str, secret: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {secret}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sqlite-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DJANGO_DEBUG="1",  # as `make run`
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        API_AUTH_FAILURE_LIMIT="100000",
        LOG_LEVEL="WARNING",
    )
    python = sys.executable
    for args in (["migrate", "--noinput", "-v0"],):
        result = subprocess.run([python, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    seeded = subprocess.run(
        [python, "manage.py", "shell", "-c", SEED], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert seeded.returncode == 0, seeded.stderr
    log = directory / "server.log"
    process = start_runserver(port, env, log)
    try:
        yield Server(port, seeded.stdout.strip().splitlines()[-1])
    finally:
        process.terminate()
        process.wait(10)
    assert "Traceback" not in log.read_text(), log.read_text()


def all_at_once(calls) -> list:
    barrier = threading.Barrier(len(calls), timeout=30)
    results: list = [None] * len(calls)

    def run(index):
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return results


def create_body(name: str, permissions=(catalog.READ_PROJECT,)) -> dict:
    expires_at = datetime.now(UTC) + timedelta(days=10 if catalog.CREATE_API_KEYS in permissions else 5)
    return {"name": name, "permissions": list(permissions), "expires_at": expires_at.isoformat()}


def test_eight_parallel_creates_all_succeed(server):
    path = "/api/v1/projects/race/api-keys"
    calls = [lambda i=i: server.call("POST", path, server.root_secret, create_body(f"parallel-{i}")) for i in range(8)]

    results = all_at_once(calls)

    assert [status for status, _ in results] == [201] * 8, results
    assert len({body["id"] for _, body in results}) == 8


def test_children_created_while_their_parent_is_revoked_never_outlive_it(server):
    """Many rounds of child creations with key P racing P's revocation: afterwards no child works."""
    path = "/api/v1/projects/race/api-keys"
    survivors, raced = [], 0
    for round_number in range(12):
        status, parent = server.call(
            "POST",
            path,
            server.root_secret,
            create_body(f"parent-{round_number}", [catalog.READ_PROJECT, catalog.CREATE_API_KEYS]),
        )
        assert status == 201, parent

        def revoke(delay=0.002 * (round_number % 6), parent=parent):
            time.sleep(delay)
            return server.call("POST", f"{path}/{parent['id']}/revoke", server.root_secret)

        children = [
            lambda i=i, parent=parent, round_number=round_number: server.call(
                "POST", path, parent["secret"], create_body(f"child-{round_number}-{i}")
            )
            for i in range(5)
        ]
        results = all_at_once([revoke, *children])

        assert results[0][0] == 200, results[0]
        for status, body in results[1:]:
            assert status in {201, 401}, body
            if status == 201:
                raced += 1
                if server.call("GET", "/api/v1/whoami", body["secret"])[0] != 401:
                    survivors.append(body["name"])
    assert survivors == []
    assert server.call("GET", "/api/v1/whoami", server.root_secret)[0] == 200
