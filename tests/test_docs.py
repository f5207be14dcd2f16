"""The README is the first thing people try: its examples run, as written, against the demo it describes.

A demo server is set up as `make run` sets it up (migrate, seed_demo,
runserver with DEBUG on, SQLite). A key is made by following the README's
"Try" path (log in as alice, Demo Project, API Keys, Create, a name and
permissions, the form's default expiry), then every command of the README's
"Using a key" block runs in bash with that key in `$KEY`, and the view-once
page's own `curl` runs too. Each call must answer 2xx.
"""

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from projects import catalog
from tests.htmltree import parse
from tests.servers import free_port, start_runserver, stop_servers

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTED_BASE = "http://127.0.0.1:8000"

BENCHMARKS = ROOT / "docs" / "benchmarks.md"


def readme_block(heading: str) -> str:
    """The first ```sh block after a heading of the README."""
    text = README.read_text()
    section = text[text.index(heading) :]
    return re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)


def commands(block: str) -> list[str]:
    """The block's commands: paragraphs separated by blank lines, each with its comment."""
    return [paragraph.strip() for paragraph in block.split("\n\n") if paragraph.strip()]


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    """The environment of `make run`'s demo: a migrated, seeded SQLite database."""
    directory = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(DJANGO_DEBUG="1", DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}", LOG_LEVEL="WARNING")
    for args in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
        manage(env, *args)
    return directory, env


@pytest.fixture(scope="module")
def demo(demo_env):
    """`make run`'s demo behind runserver."""
    directory, env = demo_env
    log = directory / "server.log"
    port = free_port()
    process = start_runserver(port, env, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_servers(process)
    assert "Traceback" not in log.read_text(), log.read_text()


class Browser:
    """A visitor without JavaScript: cookies, forms, redirects."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, fields: list[tuple[str, str]]) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return response.read().decode()


def hidden(page, name: str) -> str:
    return page.find("input", name=name).attrs["value"]


@pytest.fixture(scope="module")
def created(demo):
    """The README's "Try" path up to the secret page."""
    browser = Browser(demo)
    login = parse(browser.get("/accounts/login/"))
    browser.post(
        "/accounts/login/",
        [
            ("csrfmiddlewaretoken", hidden(login, "csrfmiddlewaretoken")),
            ("username", "alice"),
            ("password", "alice-password"),
        ],
    )
    assert "API Keys" in browser.get("/projects/demo/")
    form = parse(browser.get("/projects/demo/api-keys/create/"))
    default_expiry = next(
        radio.attrs["value"] for radio in form.find_all("input", name="expiration") if radio.has("checked")
    )
    secret_page = parse(
        browser.post(
            "/projects/demo/api-keys/create/",
            [
                ("csrfmiddlewaretoken", hidden(form, "csrfmiddlewaretoken")),
                ("ticket", hidden(form, "ticket")),
                ("name", "readme-try"),
                ("permissions", catalog.READ_PROJECT),
                ("permissions", catalog.CREATE_API_KEYS),
                ("expiration", default_expiry),
            ],
        )
    )
    return {
        "secret": secret_page.by_id("api-key-secret").attrs["value"],
        "curl": secret_page.by_id("api-key-curl").attrs["value"],
        "default_expiry": default_expiry,
    }


def run(command: str, base: str, key: str, variable: str = "KEY") -> str:
    """One README command in bash; curl fails the command on any non-2xx answer."""
    script = 'curl() { command curl --silent --show-error --fail-with-body "$@"; }\nset -eo pipefail\n' + command
    result = subprocess.run(
        ["bash", "-c", script.replace(DOCUMENTED_BASE, base)],
        env={**os.environ, variable: key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow  # a subprocess server
def test_the_form_default_is_a_limited_lifetime(created):
    # The child example must work below a parent that expires: the default one does.
    assert created["default_expiry"].isdigit()


@pytest.mark.slow  # a subprocess server
def test_the_secret_pages_curl_runs(demo, created):
    assert created["curl"].startswith("curl ")
    answer = json.loads(run(created["curl"], demo, created["secret"]))
    assert answer["name"] == "readme-try"


@pytest.mark.slow  # a subprocess server
def test_every_example_of_using_a_key_runs_as_written(demo, created):
    examples = commands(readme_block("## Using a key"))
    assert len(examples) == 7
    outputs = []
    for example in examples:
        if "<id>" in example:
            # The one placeholder: the id of the key the example before created.
            example = example.replace("<id>", json.loads(outputs[-1])["id"])
        outputs.append(run(example, demo, created["secret"]))

    whoami, may, project, listing, child, revoked, rolled = (json.loads(output) for output in outputs)
    assert whoami["name"] == "readme-try"
    assert may == whoami  # 200: the key holds can_read_project_in_project
    assert project["slug"] == "demo"
    assert "readme-try" in [key["name"] for key in listing["results"]]
    assert child["secret"].startswith("cpk_") and child["permissions"] == [catalog.READ_PROJECT]
    assert child["expires_at"] == whoami["expires_at"]
    assert revoked["id"] == child["id"] and revoked["status"] == "revoked"
    assert rolled["predecessor"] == whoami["id"] and rolled["secret"].startswith("cpk_")
    assert rolled["name"] == "readme-try" and rolled["permissions"] == whoami["permissions"]


@pytest.mark.slow  # a subprocess server
def test_every_example_of_using_a_service_account_runs_as_written(demo, demo_env):
    _, env = demo_env
    documented = re.search(r"python manage.py (create_service_account_credential[^\n`\[]*)", README.read_text())
    credential = manage(env, *documented.group(1).split()).strip()
    examples = commands(readme_block("## Service accounts"))
    assert len(examples) == 9
    outputs = []
    for example in examples:
        if outputs[2:]:
            example = example.replace("<account id>", json.loads(outputs[2])["id"])
        if outputs[4:]:
            example = example.replace("<credential id>", json.loads(outputs[4])["id"])
        outputs.append(run(example, demo, credential, variable="CREDENTIAL"))

    whoami, may, account, granted, minted, narrowed, revoked, disabled, deleted = map(json.loads, outputs)
    assert whoami["type"] == "service_account" and whoami["name"] == "demo-automation"
    assert [p["slug"] for p in whoami["projects"]] == ["demo", "sandbox"]
    assert may == whoami
    assert account["name"] == "ci-runner" and account["organization"] == "demo-org"
    assert granted == {"slug": "demo", "permissions": [catalog.READ_PROJECT, "can_create_clusters_in_metakube"]}
    assert minted["secret"].startswith("csa_") and minted["allowed_ips"] == ["203.0.113.0/24"]
    assert narrowed["permissions"] == [catalog.READ_PROJECT]
    assert revoked["status"] == "revoked"
    assert disabled["state"] == "disabled" and deleted["state"] == "deleted"


def test_the_cost_of_argon2_in_prose_is_the_measured_one():
    """README.md and SECURITY.md say what Argon2 would cost per call; docs/benchmarks.md measures it."""
    measured = [int(ms) for ms in re.findall(r"\| Argon2 as Django hashes [^|]*\| (\d+) ms \|", BENCHMARKS.read_text())]
    assert measured, "docs/benchmarks.md has no Argon2 measurement"
    for document in (README, ROOT / "SECURITY.md"):
        said = re.findall(r"Argon2[^.]*?~(\d+) ms", document.read_text().replace("\n", " "))
        assert said, f"{document.name} no longer says what Argon2 costs"
        for ms in map(int, said):
            assert all(0.75 <= ms / value <= 1.25 for value in measured), (document.name, ms, measured)


def test_the_gain_of_prepared_statements_in_prose_is_the_measured_one():
    """The README's settings table says how much more whoami answers with the lookup prepared."""
    unprepared = re.search(
        r"whoami, the key lookup not prepared \(DATABASE_PREPARED_STATEMENTS=0\): ([\d.]+) × its req/s",
        BENCHMARKS.read_text(),
    )
    assert unprepared, "docs/benchmarks.md no longer measures whoami without prepared statements"
    said = re.search(r"whoami answered ([\d.]+) × as many requests", README.read_text())
    assert said, "the README no longer says what prepared statements gain"
    assert float(said.group(1)) == pytest.approx(1 / float(unprepared.group(1)), rel=0.05)


def test_every_variable_the_settings_read_is_in_the_readmes_table():
    """An operator learns the settings from the README's table: none may exist only in the code."""
    read = set()
    for source in (ROOT / "config").glob("*.py"):
        read |= set(re.findall(r"env_(?:raw|str|bool|int|list)\(\s*\"([A-Z_]+)\"", source.read_text()))
    table = README.read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z_]+)`", table))
    assert len(read) > 30
    assert read - documented == set()
