"""The deployment files the guide ships (.env.example, deploy/), read and run as the guide says.

The env file is read here as systemd's EnvironmentFile= reads it: blank lines
and lines starting with # or ; are skipped, and everything after the first
"=" is the value, a comment after it included.
"""

import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port, wait_until_accepting

pytestmark = pytest.mark.slow  # runs manage.py in subprocesses

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / ".env.example"
UNIT = ROOT / "deploy" / "apikeys.service"
WRAPPER = ROOT / "deploy" / "manage"
APP_SOURCES = ("config/settings.py", "config/env.py", "config/gunicorn.conf.py")


def environment_file(text: str) -> dict[str, str]:
    """KEY=value pairs as systemd's EnvironmentFile= takes them (no quotes in our files)."""
    pairs = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        pairs[key.strip()] = value
    return pairs


def filled_template(**changes: str) -> str:
    """The template with test values for its placeholders, as an operator fills it in."""
    text = TEMPLATE.read_text()
    text = text.replace("<secret key>", secrets.token_urlsafe(50)).replace("<pepper>", secrets.token_urlsafe(32))
    text = text.replace("<database password>", "db-password").replace("<smtp password>", "smtp-password")
    for key, value in changes.items():
        text = re.sub(rf"^{key}=.*$", f"{key}={value}", text, flags=re.MULTILINE)
    return text


def deploy_manage(tmp_path: Path, env_text: str, *args: str) -> subprocess.CompletedProcess:
    """deploy/manage with the given env file and nothing else from this test process's environment."""
    env_file = tmp_path / "env"
    env_file.write_text(env_text)
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "APIKEYS_ENV_FILE": str(env_file)}
    return subprocess.run([str(WRAPPER), *args], env=clean, capture_output=True, text=True, timeout=120)


def test_the_template_puts_no_comment_after_a_value():
    for key, value in environment_file(TEMPLATE.read_text()).items():
        assert not re.search(r"\s#", value), key


def test_the_template_sets_only_variables_the_app_reads():
    sources = "".join((ROOT / path).read_text() for path in APP_SOURCES)
    for key in environment_file(TEMPLATE.read_text()):
        assert f'"{key}"' in sources or f"'{key}'" in sources, key


def test_the_filled_template_passes_the_deploy_checks_through_deploy_manage(tmp_path):
    result = deploy_manage(tmp_path, filled_template(), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_comment_after_a_value_in_the_env_file_stops_deploy_manage_with_one_line(tmp_path):
    result = deploy_manage(tmp_path, filled_template(WEB_CONCURRENCY="4  # about 2 × cores"), "check")

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "Configuration error: WEB_CONCURRENCY has a comment after its value. systemd's EnvironmentFile keeps it "
        "as part of the value; put comments on lines of their own."
    ]


def test_without_its_env_file_deploy_manage_says_which_file(tmp_path):
    clean = {"PATH": os.environ["PATH"], "APIKEYS_ENV_FILE": str(tmp_path / "missing")}
    result = subprocess.run([str(WRAPPER), "check"], env=clean, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert str(tmp_path / "missing") in result.stderr


def test_the_unit_checks_then_serves_with_the_shipped_config_and_the_env_file():
    unit = environment_file(UNIT.read_text())  # unit files share the KEY=value and comment rules

    assert unit["EnvironmentFile"] == "/etc/apikeys/env"
    assert unit["ExecStartPre"].endswith("manage.py check --deploy --fail-level WARNING")
    assert unit["ExecStart"].endswith("gunicorn -c config/gunicorn.conf.py config.wsgi")
    assert unit["KillSignal"] == "SIGTERM"
    assert (ROOT / "config" / "gunicorn.conf.py").exists()
    for key, value in unit.items():
        assert not re.search(r"\s#", value), key


def test_the_daily_clean_up_runs_clear_expired_with_the_env_file():
    service = environment_file((ROOT / "deploy" / "apikeys-cleanup.service").read_text())
    timer = environment_file((ROOT / "deploy" / "apikeys-cleanup.timer").read_text())

    assert service["EnvironmentFile"] == "/etc/apikeys/env"
    assert service["ExecStart"].endswith("manage.py clear_expired")
    assert timer["OnCalendar"] == "daily"


def test_the_daily_expiry_warnings_run_notify_expiring_keys_with_the_env_file():
    service = environment_file((ROOT / "deploy" / "apikeys-notify.service").read_text())
    timer = environment_file((ROOT / "deploy" / "apikeys-notify.timer").read_text())

    assert service["EnvironmentFile"] == "/etc/apikeys/env"
    assert service["ExecStart"].endswith("manage.py notify_expiring_keys")
    assert timer["OnCalendar"] == "daily"
    guide = (ROOT / "docs" / "deployment.md").read_text()
    assert "root /srv/apikeys/deploy/manage notify_expiring_keys" in guide


def test_the_filled_template_sends_the_expiry_warnings_through_its_smtp_server(tmp_path):
    """deploy/manage with the filled template: the warnings command reads the mail settings it sets."""
    code = (
        "from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.CONSOLE_BASE_URL)"
    )
    result = deploy_manage(tmp_path, filled_template(), "shell", "-c", code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [  # after Django's shell's note on its imports
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.internal",
        "587",
        "True",
        "https://console.example.com",
    ]


def test_the_guide_as_written_serves_the_load_balancers_probe_and_stops_on_sigterm(tmp_path):
    """docs/deployment.md end to end on one host: the filled env file, deploy/manage's steps, the unit's commands.

    Deviations, each for the test machine only: the database is a SQLite file
    here, and gunicorn binds 127.0.0.1 on a free port instead of 0.0.0.0:8000.
    """
    port = free_port()
    env_text = filled_template(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", HOST="127.0.0.1", PORT=str(port))
    for step in (("migrate", "--noinput"), ("collectstatic", "--noinput", "-v0")):
        done = deploy_manage(tmp_path, env_text, *step)
        assert done.returncode == 0, done.stdout + done.stderr

    unit = environment_file(UNIT.read_text())
    check = deploy_manage(tmp_path, env_text, *unit["ExecStartPre"].split("manage.py ", 1)[1].split())
    assert check.returncode == 0, check.stdout + check.stderr

    # ExecStart, from the working directory, with the env file as systemd passes it.
    command = unit["ExecStart"].split("/gunicorn ", 1)[1].split()
    server_env = {"PATH": os.environ["PATH"], **environment_file(env_text)}
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *command], cwd=ROOT, env=server_env, stdout=sink, stderr=sink
        )
    try:
        wait_until_accepting(server, port, log)
        # The load balancer probes by address, over plain HTTP, without the console's host name.
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        probe.request("GET", "/healthz", headers={"Host": f"10.0.3.17:{port}"})
        answer = probe.getresponse()
        assert (answer.status, json.loads(answer.read())) == (200, {"status": "ok"})
    finally:
        server.send_signal(signal.SIGTERM)  # KillSignal=SIGTERM
        returncode = server.wait(timeout=40)  # TimeoutStopSec
    assert returncode == 0, log.read_text()
