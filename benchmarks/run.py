"""`make bench`: measure the API, the API Keys tab and key creation; write docs/benchmarks.md.

a. Key-authenticated GET /api/v1/whoami against GET /healthz (the same
   server's floor): gunicorn with 2 workers, wrk with 16 connections, three
   alternating rounds. Again with keys verified by Argon2 instead of HMAC
   (benchmarks/argon2_wsgi.py) to show what a slow hash would cost.
b. The API Keys tab, page 1, with 10, 1,000 and 10,000 keys in one project:
   time and number of queries (in-process, Django's test client).
c. Keys created per second through the service.

The database is BENCH_DATABASE_URL (default: a throwaway PostgreSQL database
on 127.0.0.1, created and dropped here; SQLite if PostgreSQL is unreachable).
"""

import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = int(os.environ.get("BENCH_PORT", "8097"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = 16
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "apikeys_bench"


def log(text: str) -> None:
    print(text, flush=True)


def database_url() -> tuple[str, bool]:
    if url := os.environ.get("BENCH_DATABASE_URL"):
        return url, False
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
        return f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}", True
    except Exception as exc:  # noqa: BLE001
        log(f"PostgreSQL unavailable ({exc}); using SQLite")
        return f"sqlite:///{ROOT / 'bench.sqlite3'}", False


def drop_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def environment(db_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECURE="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        API_KEY_PEPPERS=f"bench:{secrets.token_urlsafe(32)}",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        DATABASE_URL=db_url,
        LOG_LEVEL="WARNING",
        API_AUTH_FAILURE_LIMIT="1000000",
    )
    env.pop("REDIS_URL", None)
    return env


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def django_script(env: dict, code: str) -> str:
    return subprocess.run(
        [PYTHON, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


CREATE_KEY = """
from apikeys import services
from django.contrib.auth import get_user_model
from projects.models import Project
admin = get_user_model().objects.get(username="admin")
created = services.api_key_create(project=Project.objects.get(slug="demo"),
    name="bench-whoami-" + __import__("secrets").token_hex(4),
    permissions=["can_read_project_in_project"], created_by=admin)
print(created.secret)
"""


# -- a. HTTP ----------------------------------------------------------------------


def start_gunicorn(env: dict, wsgi: str) -> subprocess.Popen:
    server_env = dict(env, PORT=str(PORT), HOST="127.0.0.1", WEB_CONCURRENCY="2")
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", wsgi],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1).read()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=40)


def wrk(path: str, secret: str | None) -> tuple[float, float]:
    """Requests per second and p99 latency (ms)."""
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency"]
    if secret:
        command += ["-H", f"Authorization: Bearer {secret}"]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{PORT}{path}"], check=True, capture_output=True, text=True
    ).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise SystemExit(f"wrk saw errors on {path}:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, p99


def http_benchmark(env: dict, wsgi: str, secret: str) -> dict:
    process = start_gunicorn(env, wsgi)
    try:
        wrk("/healthz", None)  # warm-up
        wrk("/api/v1/whoami", secret)
        floors, calls = [], []
        for _ in range(ROUNDS):
            floors.append(wrk("/healthz", None))
            calls.append(wrk("/api/v1/whoami", secret))
    finally:
        stop(process)
    floor_rps = statistics.median(r for r, _ in floors)
    whoami_rps = statistics.median(r for r, _ in calls)
    return {
        "healthz_rps": floor_rps,
        "healthz_p99": statistics.median(p for _, p in floors),
        "whoami_rps": whoami_rps,
        "whoami_p99": statistics.median(p for _, p in calls),
        "ratio": whoami_rps / floor_rps,
        "rounds": list(zip(floors, calls, strict=True)),
    }


# -- b. and c. in-process -------------------------------------------------------------

IN_PROCESS = r"""
import json, statistics, time
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from apikeys import services
from projects import catalog
from projects.models import Membership, Project, Role

admin = get_user_model().objects.get(username="alice")
role = Role.objects.get(name=catalog.ADMINISTRATOR)
client = Client()
client.force_login(admin)
tab = {}
for size in (10, 25, 1000, 10000):
    project = Project.objects.get(slug=f"bench-{size}")
    Membership.objects.get_or_create(project=project, user=admin, defaults={"role": role})
    url = f"/projects/{project.slug}/api-keys/"
    for _ in range(5):
        assert client.get(url).status_code == 200
    times = []
    for _ in range(30):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    tab[size] = {"median_ms": statistics.median(times), "p90_ms": sorted(times)[26], "queries": len(queries)}

project = Project.objects.get(slug="demo")
count = 300
started = time.perf_counter()
for i in range(count):
    services.api_key_create(
        project=project, name=f"rate-{i}-{time.time_ns()}", permissions=[catalog.READ_PROJECT], created_by=admin
    )
elapsed = time.perf_counter() - started
print(json.dumps({"tab": tab, "create_per_second": count / elapsed}))
"""


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


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    db_url, created = database_url()
    env = environment(db_url)
    try:
        log("migrating and seeding")
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo", "--force")
        django_script(
            env,
            "from benchmarks.seed import seed_keys\n"
            "for size in (10, 25, 1000, 10000):\n"
            "    seed_keys(f'bench-{size}', size)\n",
        )
        secret = django_script(env, CREATE_KEY).strip()
        log("a. whoami vs healthz (HMAC-SHA256 keys)")
        hmac_result = http_benchmark(env, "config.wsgi", secret)
        log(f"   {hmac_result}")
        log("a. whoami vs healthz (Argon2-verified keys)")
        argon_env = dict(env, BENCH_ARGON2_SECRET=secret)
        argon_result = http_benchmark(argon_env, "benchmarks.argon2_wsgi", secret)
        log(f"   {argon_result}")
        log("b./c. tab and creation")
        import json

        in_process = json.loads(django_script(env, IN_PROCESS).strip().splitlines()[-1])
        log(f"   {in_process}")
    finally:
        if created:
            drop_database()
    write_report(db_url, hmac_result, argon_result, in_process)


def write_report(db_url: str, hmac_result: dict, argon_result: dict, in_process: dict) -> None:
    database = "PostgreSQL (127.0.0.1)" if db_url.startswith("postgres") else "SQLite"
    tab = {int(k): v for k, v in in_process["tab"].items()}
    tab_ratio = tab[10000]["median_ms"] / tab[10]["median_ms"]
    same_queries = len({v["queries"] for v in tab.values()}) == 1
    lines = [
        "# Benchmarks",
        "",
        f"Run by `make bench` (benchmarks/run.py) on {date.today().isoformat()}.",
        "",
        f"- Machine: {machine()}.",
        f"- Database: {database}; cache: per-process memory; DEBUG off.",
        f"- Server: gunicorn, 2 sync workers; load: wrk, 2 threads, {CONNECTIONS} connections, "
        f"{DURATION} per run, {ROUNDS} alternating rounds (healthz, whoami), medians reported. "
        "wrk runs on the same 2-core machine, so it takes CPU from the server.",
        "",
        "## a. Key-authenticated API call against the server's floor",
        "",
        "| | healthz req/s | whoami req/s | whoami / healthz | healthz p99 | whoami p99 |",
        "|---|---|---|---|---|---|",
    ]
    for label, result in (("HMAC-SHA256 (what we ship)", hmac_result), ("Argon2 (for comparison)", argon_result)):
        lines.append(
            f"| {label} | {result['healthz_rps']:.0f} | {result['whoami_rps']:.0f} | {result['ratio']:.2f} | "
            f"{result['healthz_p99']:.1f} ms | {result['whoami_p99']:.1f} ms |"
        )
    lines += [
        "",
        f"Goal: whoami ≥ 0.7 × healthz and p99 < 50 ms. "
        f"Result: {hmac_result['ratio']:.2f} × and {hmac_result['whoami_p99']:.1f} ms: "
        + ("met." if hmac_result["ratio"] >= 0.7 and hmac_result["whoami_p99"] < 50 else "NOT met, see below."),
        "",
        "What whoami adds to healthz is the work it must do: parse and checksum the key, one indexed query "
        "for the key with its project (compiled once per process, not by the ORM per request), one "
        "HMAC-SHA256 and a JSON body; no session, no cache, no write (last use is recorded at most once a "
        "minute). wrk runs on the same two cores as the two gunicorn workers and PostgreSQL, so every "
        "number is shared CPU and varies noticeably between runs on this virtual machine; the floor's own p99 is "
        f"{hmac_result['healthz_p99']:.1f} ms. The Argon2 row shows what a slow hash would cost.",
        "",
        "Each round (req/s, p99 ms), HMAC: "
        + "; ".join(f"healthz {f[0]:.0f}/{f[1]:.1f}, whoami {c[0]:.0f}/{c[1]:.1f}" for f, c in hmac_result["rounds"]),
        "",
        "## b. The API Keys tab, page 1",
        "",
        "| keys in the project | median | p90 | queries |",
        "|---|---|---|---|",
    ]
    for size in sorted(tab):
        row = tab[size]
        lines.append(f"| {size:,} | {row['median_ms']:.1f} ms | {row['p90_ms']:.1f} ms | {row['queries']} |")
    lines += [
        "",
        f"Goal: time at 10,000 ≤ 1.5 × time at 10, same number of queries. Result: {tab_ratio:.2f} ×, "
        + ("same" if same_queries else "different")
        + " number of queries: "
        + ("met." if tab_ratio <= 1.5 and same_queries else "NOT met."),
        "",
        "Page 1 shows 10 entries at 10 keys but 25 (a full page) from 25 keys on, so the goal compares "
        "pages of different length. With the same 25 entries on the page, 10,000 keys take "
        f"{tab[10000]['median_ms'] / tab[25]['median_ms']:.2f} × the time of 25 keys: the size of the "
        "table itself costs next to nothing; the rest is rendering 15 more entries. Every page costs the "
        f"same {tab[10]['queries']} queries.",
        "",
        "## c. Key creation through the service",
        "",
        f"{in_process['create_per_second']:.0f} keys per second (one transaction each: ticket-free create, "
        "name check, insert, audit event), single process.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "apt-get install wrk   # once",
        "make bench            # BENCH_DURATION=10s BENCH_ROUNDS=3 by default",
        "```",
        "",
    ]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines))
    log("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
