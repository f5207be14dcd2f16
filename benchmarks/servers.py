"""What `make bench` and `make profile` serve: our application, the bare reference and the peer, each on its database.

- Ours: config.wsgi with the deployed settings (DEBUG off, DJANGO_SECURE,
  behind a TLS proxy, LOG_LEVEL=INFO), migrated and seeded with the demo data
  and one key for whoami.
- The bare reference (benchmarks/bare): one Django view, one middleware.
- The peer (benchmarks/peer): Django REST framework with
  djangorestframework-api-key, in its own throwaway venv (build/, gitignored).

Every app is served by gunicorn with config/gunicorn.conf.py (the settings
`make serve` uses), on 127.0.0.1, its output thrown away.
"""

import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
PYTHON = sys.executable
PEER_VENV = ROOT / "build" / "bench-peer-venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PG_HOST = "postgres@127.0.0.1:5432"
PG_ADMIN_URL = f"postgresql://{PG_HOST}/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
GUNICORN_CONFIG = "config/gunicorn.conf.py"
# Behind the TLS proxy every request arrives with this header: no SSL redirect.
PROXY_HEADER = ("X-Forwarded-Proto", "https")
# Settings of the caller's environment that would change what is measured.
OURS_KNOBS = (
    "DATABASE_CONN_MAX_AGE",
    "DATABASE_CONN_HEALTH_CHECKS",
    "REDIS_URL",
    "ALLOW_PROCESS_LOCAL_CACHE",
    "DJANGO_PLAIN_STATIC",
    "TRUSTED_PROXY_COUNT",
)


def log(text: str) -> None:
    print(text, flush=True)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {system}"


# -- databases ----------------------------------------------------------------------


WORKERS = 2  # as `make serve` starts gunicorn on a 2-core machine: WEB_CONCURRENCY


@dataclass(frozen=True)
class Database:
    name: str  # "sqlite" or "postgresql"
    ours_url: str
    peer_url: str  # what benchmarks/peer/settings.py reads: a file path or a postgresql:// URL
    redis_url: str | None  # the deployment's cache: Redis (DEBUG off needs it for several workers)

    @property
    def label(self) -> str:
        return "SQLite" if self.name == "sqlite" else "PostgreSQL (127.0.0.1, persistent connections)"


def database(name: str) -> Database:
    if name == "sqlite":
        return Database(name, f"sqlite:///{BUILD / 'ours.sqlite3'}", str(BUILD / "peer.sqlite3"), REDIS_URL)
    if name == "postgresql":
        return Database(
            name, f"postgresql://{PG_HOST}/apikeys_bench", f"postgresql://{PG_HOST}/apikeys_bench_peer", REDIS_URL
        )
    raise SystemExit(f"Unknown database {name!r}: sqlite or postgresql.")


def postgresql_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception as exc:  # noqa: BLE001
        log(f"PostgreSQL unavailable ({exc})")
        return False


def reset_database(db: Database) -> None:
    """Empty databases for ours and the peer, and an empty cache."""
    BUILD.mkdir(parents=True, exist_ok=True)
    if db.name == "sqlite":
        for path in BUILD.glob("*.sqlite3*"):
            path.unlink()
    else:
        for url in (db.ours_url, db.peer_url):
            _postgresql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            _postgresql(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    if db.redis_url:
        subprocess.run(["redis-cli", "-u", db.redis_url, "flushdb"], check=True, capture_output=True)


def drop_database(db: Database) -> None:
    if db.name == "postgresql":
        for url in (db.ours_url, db.peer_url):
            _postgresql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _postgresql(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


# -- our application ------------------------------------------------------------------


def ours_environment(db: Database) -> dict:
    """The default deployment: DEBUG off, secure, behind a TLS proxy, INFO logs; fresh secrets."""
    env = {k: v for k, v in os.environ.items() if k not in OURS_KNOBS}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECURE="1",
        DJANGO_BEHIND_TLS_PROXY="1",
        LOG_LEVEL="INFO",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        API_KEY_PEPPERS=f"bench:{secrets.token_urlsafe(32)}",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        DATABASE_URL=db.ours_url,
        # Refusal paths are measured for tens of thousands of requests: only the
        # over-limit server (run.py) has a limit it reaches.
        API_AUTH_FAILURE_LIMIT=str(10**9),
    )
    if db.redis_url:
        env["REDIS_URL"] = db.redis_url
    return env


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def django_script(env: dict, code: str, python: Path | str = PYTHON) -> str:
    return subprocess.run(
        [str(python), "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


# One real key (through the service, like every key) and the keys of the
# refusal paths, built with apikeys.tokens: the same key with its checksum's
# last character changed, a well-formed key whose id is in no row, and the
# key's own id with another secret.
CREATE_KEYS = """
import json, secrets
from apikeys import services, tokens
from django.contrib.auth import get_user_model
from projects.models import Project
admin = get_user_model().objects.get(username="admin")
created = services.api_key_create(project=Project.objects.get(slug="demo"),
    name="bench-whoami-" + secrets.token_hex(4),
    permissions=["can_read_project_in_project"], created_by=admin)
valid = created.secret
keys = {
    "valid": valid,
    "malformed": valid[:-1] + ("A" if valid[-1] != "A" else "B"),
    "unknown_id": tokens.generate().raw,
    "wrong_secret": tokens.generate(public_id=tokens.parse(valid).public_id).raw,
}
try:
    tokens.parse(keys["malformed"])
    raise SystemExit("the malformed key parses")
except tokens.InvalidKey:
    pass
tokens.parse(keys["unknown_id"]), tokens.parse(keys["wrong_secret"])  # well-formed: refused after the lookup
# A credential of seed_demo's service account (SPEC §8), through the same endpoint.
from serviceaccounts import services as account_services
from serviceaccounts.models import ServiceAccount
automation = ServiceAccount.objects.undeleted().get(name="demo-automation")
keys["credential"] = account_services.create_credential(automation, name="bench-" + secrets.token_hex(4),
    actor=account_services.Actor(operator="bench")).secret
print(json.dumps(keys))
"""


ANALYZE = """
from django.db import connection
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
else:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
"""


def setup_ours(env: dict, tab_sizes: tuple[int, ...]) -> dict[str, str]:
    """Migrate, load the demo, seed the tab's projects; the keys for wrk by path."""
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--force")
    if tab_sizes:
        code = f"for size in {tuple(tab_sizes)!r}:\n    seed_keys(f'bench-{{size}}', size)\n"
        django_script(env, "from benchmarks.seed import seed_keys\n" + code)
        # A table that grew to 10,000 rows in production has been analyzed by
        # autovacuum; one bulk-inserted a second ago has no statistics, and the
        # planner would guess. Measure the first, as deployed.
        django_script(env, ANALYZE)
    return json.loads(django_script(env, CREATE_KEYS).strip().splitlines()[-1])


def collectstatic(env: dict) -> None:
    """As `make serve` does: the hashed, compressed static files whitenoise serves."""
    manage(env, "collectstatic", "--noinput", "-v0")


# -- the peer --------------------------------------------------------------------------


def peer_requirements() -> list[str]:
    """The peer library and DRF at their newest; Django, gunicorn and psycopg at our pinned versions."""
    return [
        f"Django=={version('django')}",
        f"gunicorn=={version('gunicorn')}",
        f"psycopg[binary]=={version('psycopg')}",
        "djangorestframework",
        "djangorestframework-api-key",
    ]


def ensure_peer_venv() -> dict[str, str]:
    """Create or refresh build/bench-peer-venv; the versions it holds."""
    if not PEER_PYTHON.exists():
        log(f"creating {PEER_VENV.relative_to(ROOT)}")
        subprocess.run([PYTHON, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(PEER_PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", *peer_requirements()],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    code = (
        "import json; from importlib.metadata import version\n"
        "print(json.dumps({n: version(n) for n in "
        "('djangorestframework-api-key', 'djangorestframework', 'Django', 'gunicorn')}))"
    )
    output = subprocess.run([str(PEER_PYTHON), "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def peer_environment(db: Database) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="benchmarks.peer.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        BENCH_PEER_DATABASE=db.peer_url,
        LOG_LEVEL="INFO",
    )
    return env


def setup_peer(env: dict) -> str:
    """Migrate the peer's database and create its one key; the key."""
    subprocess.run([str(PEER_PYTHON), "-m", "django", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    code = "from rest_framework_api_key.models import APIKey\nprint(APIKey.objects.create_key(name='bench-peer')[1])\n"
    return django_script(env, code, python=PEER_PYTHON).strip().splitlines()[-1]


def bare_environment(db: Database) -> dict:
    """The bare reference; its `/whoami-query` asks our database for `SELECT 1`."""
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="benchmarks.bare.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        BARE_DATABASE_URL=db.ours_url,
    )


# -- gunicorn --------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen


def start(
    name: str,
    wsgi: str,
    env: dict,
    port: int,
    *,
    python: Path | str = PYTHON,
    config: str = GUNICORN_CONFIG,
    workers: int = WORKERS,
    ready_path: str = "/healthz",
) -> Server:
    """gunicorn as `make serve` starts it (WEB_CONCURRENCY workers), on 127.0.0.1:port; ready when it answers."""
    server_env = dict(env, PORT=str(port), HOST="127.0.0.1", WEB_CONCURRENCY=str(workers))
    process = subprocess.Popen(
        [str(python), "-m", "gunicorn", "-c", config, wsgi],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server(name, port, process)
    for _ in range(150):
        if process.poll() is not None:
            raise RuntimeError(f"{name}: gunicorn exited with status {process.returncode}")
        if status(port, ready_path) is not None:
            return server
        time.sleep(0.2)
    stop(server)
    raise RuntimeError(f"{name}: gunicorn did not answer on port {port}")


def stop(server: Server) -> None:
    """SIGTERM to gunicorn's master (graceful: workers finish and run their exit hooks)."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
    server.process.wait(timeout=60)


def status(port: int, path: str, authorization: str | None = None) -> int | None:
    """The status of one request, as wrk sends it (behind the TLS proxy); None if nothing answers."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=dict([PROXY_HEADER]))
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None
