"""`make bench`: our API against a bare Django view and djangorestframework-api-key, the tab, key creation.

For each database (BENCH_DATABASES, default "sqlite,postgresql"):

a. Over HTTP, every app under gunicorn with config/gunicorn.conf.py and 2
   workers (as `make serve`), loaded by wrk one at a time (benchmarks/load.py)
   in BENCH_ROUNDS alternating rounds of BENCH_DURATION each: the bare view
   (benchmarks/bare), our /healthz and whoami, the peer's HasAPIKey view
   (benchmarks/peer, in build/bench-peer-venv), whoami's refusal paths, and on
   PostgreSQL whoami with other connection settings (VARIANTS).
b. The API Keys tab, page 1, at 25, 1,000 and 10,000 keys (in-process).
c. Keys created per second through the service (in-process).
d. Each refusal's server-side cost in-process (benchmarks/refusals.py).

Writes BENCH_REPORT (default docs/benchmarks.md; benchmarks/report.py).
Where the time goes inside a request: `make profile` (benchmarks/profiling.py).
"""

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import date

from benchmarks import load, pooler, report, servers
from benchmarks.servers import PYTHON, ROOT, Database, log

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
DURATION = os.environ.get("BENCH_DURATION", "6s")
WARM_UP = os.environ.get("BENCH_WARMUP", "2s")
BASE_PORT = int(os.environ.get("BENCH_PORT", "8097"))
REPORT = ROOT / os.environ.get("BENCH_REPORT", "docs/benchmarks.md")
# The machine may be shared: a run during which other processes took more than
# BENCH_MAX_OTHERS of the CPU is taken again (up to BENCH_RETRIES times), each
# attempt after waiting up to BENCH_QUIET_WAIT seconds for them to calm down.
MAX_OTHERS = float(os.environ.get("BENCH_MAX_OTHERS", "0.05"))
RETRIES = int(os.environ.get("BENCH_RETRIES", "2"))
QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "60"))
TAB_SIZES = (25, 1000, 10000)
WHOAMI = "/api/v1/whoami"
# The over-limit server: a limit it reaches at once, and a window that outlasts the run.
OVER_LIMIT = {"API_AUTH_FAILURE_LIMIT": "5", "API_AUTH_FAILURE_WINDOW_SECONDS": "86400"}


@dataclass(frozen=True)
class Variant:
    """Our whoami again, on a server of its own with other settings (PostgreSQL only)."""

    name: str
    env: dict
    needs: str | None = None  # a setting config/settings.py must read, else the variant is skipped
    pooler: bool = False  # through PgBouncer (benchmarks/pooler.py), else skipped when it is not installed


# Goal 2: what persistent connections (our default: CONN_MAX_AGE=60, no ping
# before reuse), the prepared key lookup and a pooler change. One line per variant.
VARIANTS = [
    Variant("whoami, new connection per request (DATABASE_CONN_MAX_AGE=0)", {"DATABASE_CONN_MAX_AGE": "0"}),
    Variant(
        "whoami, ping before reusing a connection (DATABASE_CONN_HEALTH_CHECKS=1)",
        {"DATABASE_CONN_HEALTH_CHECKS": "1"},
        "DATABASE_CONN_HEALTH_CHECKS",
    ),
    Variant(
        "whoami, the key lookup not prepared (DATABASE_PREPARED_STATEMENTS=0)",
        {"DATABASE_PREPARED_STATEMENTS": "0"},
        "DATABASE_PREPARED_STATEMENTS",
    ),
    Variant(
        # Debian's PgBouncer (1.18) cannot keep prepared statements in transaction pooling.
        "whoami through PgBouncer (transaction pooling, persistent connections to it, not prepared)",
        {"DATABASE_URL": pooler.URL, "DATABASE_PREPARED_STATEMENTS": "0"},
        pooler=True,
    ),
]


@dataclass(frozen=True)
class Target:
    """One path of one server, as wrk loads it."""

    name: str
    server: str
    path: str
    auth: str | None  # a key of the authorizations dict
    status: int = 200

    @property
    def refused(self) -> bool:
        return self.status >= 400


TARGETS = [
    Target("bare view", "bare", "/whoami", None),
    Target("bare view after one query", "bare", "/whoami-query", None),
    Target("healthz", "ours", "/healthz", None),
    Target("whoami", "ours", WHOAMI, "valid"),
    # SPEC §8: a service account's credential, whose whoami also reads its memberships (two queries).
    Target("whoami, service-account credential", "ours", WHOAMI, "credential"),
    Target("project, service-account credential", "ours", "/api/v1/projects/demo", "credential"),
    Target("peer HasAPIKey", "peer", "/whoami", "peer"),
    Target("peer HasAPIKey, one lookup", "peer", "/whoami-once", "peer"),
    Target("malformed key (bad checksum)", "ours", WHOAMI, "malformed", 401),
    Target("unknown public id", "ours", WHOAMI, "unknown_id", 401),
    Target("wrong secret", "ours", WHOAMI, "wrong_secret", 401),
    Target("over the failure limit", "ours-limited", WHOAMI, "wrong_secret", 429),
]


@dataclass
class DatabaseRun:
    db: Database
    results: dict[str, list[load.Result]] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    in_process: dict = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)  # section d's tables by key lookup
    refusal_ms: dict[str, float] = field(default_factory=dict)  # section d's medians, compiled lookup


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    names = [n.strip() for n in os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",") if n.strip()]
    not_measured = []
    if "postgresql" in names and not servers.postgresql_available():
        names.remove("postgresql")
        not_measured.append(f"PostgreSQL: no server answered at {servers.PG_ADMIN_URL}, so only SQLite was measured.")
    log("peer venv: " + str(servers.PEER_VENV.relative_to(ROOT)))
    versions = servers.ensure_peer_venv()
    log(f"   {versions}")
    runs = [bench_database(servers.database(name)) for name in names]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report.markdown(runs, context(versions) | {"not_measured": not_measured}))
    print(report.summary(runs), flush=True)
    log(f"wrote {REPORT.relative_to(ROOT)}")


def context(versions: dict) -> dict:
    return {
        "date": date.today().isoformat(),
        "machine": servers.machine(),
        "rounds": ROUNDS,
        "duration": DURATION,
        "warm_up": WARM_UP,
        "threads": os.environ.get("GUNICORN_THREADS", "1"),
        "versions": versions,
        "report": str(REPORT.relative_to(ROOT)),
        "max_others": MAX_OTHERS,
        "retries": RETRIES,
    }


def bench_database(db: Database) -> DatabaseRun:
    run = DatabaseRun(db)
    log(f"== {db.label}")
    servers.reset_database(db)
    ours_env = servers.ours_environment(db)
    peer_env = servers.peer_environment(db)
    try:
        servers.collectstatic(ours_env)
        log("setting up ours and the peer")
        keys = servers.setup_ours(ours_env, TAB_SIZES)
        authorizations = {name: f"Bearer {key}" for name, key in keys.items()}
        authorizations["peer"] = f"Api-Key {servers.setup_peer(peer_env)}"
        specs = server_specs(db, ours_env, peer_env, run)
        pooled = any(spec["env"].get("DATABASE_URL") == pooler.URL for spec in specs.values())
        bouncer = pooler.start() if pooled else None
        try:
            http_rounds(run, specs, authorizations)
        finally:
            if bouncer:
                pooler.stop(bouncer)
        log("b./c. the tab and key creation (in-process)")
        run.in_process = in_process(ours_env)
        log("d. refusals (in-process)")
        run.refusals, run.refusal_ms = refusals(db)
    finally:
        servers.drop_database(db)
    return run


def server_specs(db: Database, ours_env: dict, peer_env: dict, run: DatabaseRun) -> dict[str, dict]:
    """name -> keyword arguments of servers.start(); adds the variants' targets to `run`."""
    specs = {
        "bare": {"wsgi": "benchmarks.bare.wsgi", "env": servers.bare_environment(db)},
        "ours": {"wsgi": "config.wsgi", "env": ours_env},
        "ours-limited": {"wsgi": "config.wsgi", "env": dict(ours_env, CACHE_KEY_PREFIX="bench-limited", **OVER_LIMIT)},
        "peer": {"wsgi": "benchmarks.peer.wsgi", "env": peer_env, "python": servers.PEER_PYTHON},
    }
    run.targets = list(TARGETS)
    if db.name == "postgresql":
        settings_text = (ROOT / "config" / "settings.py").read_text()
        for number, variant in enumerate(VARIANTS):
            if variant.needs and not re.search(rf"\b{variant.needs}\b", settings_text):
                run.skipped.append(f"{variant.name}: config/settings.py does not read {variant.needs}")
                continue
            if variant.pooler and not pooler.binary():
                run.skipped.append(f"{variant.name}: pgbouncer is not installed (apt-get install pgbouncer)")
                continue
            specs[f"variant-{number}"] = {"wsgi": "config.wsgi", "env": dict(ours_env, **variant.env)}
            run.targets.append(Target(variant.name, f"variant-{number}", WHOAMI, "valid"))
    return specs


def http_rounds(run: DatabaseRun, specs: dict[str, dict], authorizations: dict[str, str]) -> None:
    """Every server up at once on its own port, idle but for the one wrk loads."""
    started: dict[str, servers.Server] = {}
    try:
        for port, (name, spec) in enumerate(specs.items(), start=BASE_PORT):
            try:
                started[name] = servers.start(name, port=port, **spec)
            except RuntimeError as error:
                if not name.startswith("variant-"):
                    raise
                run.skipped.append(str(error))
        run.targets = [t for t in run.targets if t.server in started]
        trip_the_limit(started["ours-limited"].port, authorizations["wrong_secret"])
        for target in run.targets:
            port = started[target.server].port
            answer = servers.status(port, target.path, authorizations.get(target.auth))
            if answer != target.status:
                raise SystemExit(f"{target.name}: {target.path} answered {answer}, not {target.status}")
            measure(target, port, authorizations, WARM_UP, retry=False)
        for number in range(1, ROUNDS + 1):
            log(f"a. round {number} of {ROUNDS}")
            for target in run.targets:
                result = measure(target, started[target.server].port, authorizations, DURATION)
                run.results.setdefault(target.name, []).append(result)
                log(f"   {target.name}: {result.rps:.0f} req/s, p50 {result.p50:.1f} ms, p99 {result.p99:.1f} ms")
    finally:
        for server in started.values():
            servers.stop(server)


def measure(target: Target, port: int, authorizations: dict, duration: str, *, retry: bool = True) -> load.Result:
    """wrk on one target; with `retry`, again while other processes took the CPU (see MAX_OTHERS)."""
    for attempt in range(RETRIES + 1 if retry else 1):
        if retry:
            load.wait_for_quiet(MAX_OTHERS, QUIET_WAIT, log)
        result = load.wrk(port, target.path, authorizations.get(target.auth), duration, refused=target.refused)
        if result.others_cpu <= MAX_OTHERS:
            break
        if retry and attempt < RETRIES:
            log(f"   {target.name}: other processes took {result.others_cpu:.0%} of the CPU; again")
    return result


def trip_the_limit(port: int, authorization: str) -> None:
    """Fail until every worker refuses with 429 (each learns it on its own first refusal)."""
    in_a_row = 0
    for _ in range(500):
        in_a_row = in_a_row + 1 if servers.status(port, WHOAMI, authorization) == 429 else 0
        if in_a_row >= 30:
            return
    raise SystemExit("The over-limit server never refused with 429.")


def in_process(env: dict) -> dict:
    env = dict(env, BENCH_TAB_SIZES=",".join(str(size) for size in TAB_SIZES))
    load.wait_for_quiet(MAX_OTHERS, QUIET_WAIT, log)
    output = subprocess.run(
        [PYTHON, "-m", "benchmarks.inprocess"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def refusals(db: Database) -> tuple[dict[str, str], dict[str, float]]:
    """benchmarks/refusals.py's tables (a throwaway test database, our Redis), its medians with the compiled lookup.

    On PostgreSQL also with the plain ORM query.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "API_", "REDIS_"))}
    env["BENCH_DATABASE_URL"] = db.ours_url
    if db.redis_url:
        env["BENCH_REDIS_URL"] = db.redis_url
    runs = {"compiled": env}
    if db.name == "postgresql":
        runs["orm"] = dict(env, BENCH_AUTH_QUERY="orm")
    tables, medians = {}, {}
    for name, run_env in runs.items():
        load.wait_for_quiet(MAX_OTHERS, QUIET_WAIT, log)
        started = time.perf_counter()
        done = subprocess.run(
            [PYTHON, "benchmarks/refusals.py"], cwd=ROOT, env=run_env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"benchmarks/refusals.py failed:\n{done.stderr.strip()[-2000:]}")
        tables[name], _, last = done.stdout.strip().rpartition("\n")
        if name == "compiled":
            medians = json.loads(last)
        log(f"   {name}: {time.perf_counter() - started:.0f} s")
    return tables, medians


if __name__ == "__main__":
    main()
