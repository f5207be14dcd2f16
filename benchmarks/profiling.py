"""`make profile`: where the time of a request goes in our app under load, as cProfile sees it.

For each database (PROFILE_DATABASES, default "sqlite,postgresql") and each
path (PATHS): our app as `make bench` serves it (deployed settings, same
database set-up) but with ONE gunicorn worker profiled around every request
(benchmarks/gunicorn_profile.conf.py), loaded by wrk (16 connections) for
PROFILE_DURATION; then the top functions by cumulative and by own time into
docs/profile/<path>-<database>-<PROFILE_LABEL>.txt. PROFILE_LABEL (default
"current") keeps runs apart: `make profile PROFILE_LABEL=before`, then
`PROFILE_LABEL=after` once the code changed.

cProfile slows every Python call down, so the per-request times in the files
are inflated; compare files with each other (and the calls per request, which
the profiler does not change), not with docs/benchmarks.md.
"""

import io
import json
import os
import pstats
import subprocess
import sysconfig
from datetime import UTC, datetime

from benchmarks import load, servers
from benchmarks.servers import BUILD, ROOT, log

LABEL = os.environ.get("PROFILE_LABEL", "current")
DURATION = os.environ.get("PROFILE_DURATION", "20s")
PORT = int(os.environ.get("BENCH_PORT", "8097"))
OUT = ROOT / "docs" / "profile"
CONFIG = "benchmarks/gunicorn_profile.conf.py"
TOP = 40
# name -> (path, the key wrk sends, from setup_ours(), the status it gets); PROFILE_PATHS picks some.
PATHS = {
    "whoami": ("/api/v1/whoami", "valid", 200),
    "healthz": ("/healthz", None, 200),
    "unknown-id": ("/api/v1/whoami", "unknown_id", 401),
}
# As in benchmarks/run.py: a run during which other processes took the CPU is taken again.
MAX_OTHERS = float(os.environ.get("BENCH_MAX_OTHERS", "0.05"))
RETRIES = int(os.environ.get("BENCH_RETRIES", "2"))
QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "60"))


def main() -> None:
    if not LABEL.replace("-", "").replace("_", "").isalnum():
        raise SystemExit("PROFILE_LABEL must be letters, digits, - or _.")
    names = [n.strip() for n in os.environ.get("PROFILE_DATABASES", "sqlite,postgresql").split(",") if n.strip()]
    chosen = [n.strip() for n in os.environ.get("PROFILE_PATHS", ",".join(PATHS)).split(",") if n.strip()]
    if unknown := set(chosen) - set(PATHS):
        raise SystemExit(f"PROFILE_PATHS: no such path {', '.join(sorted(unknown))}; choose from {', '.join(PATHS)}.")
    if "postgresql" in names and not servers.postgresql_available():
        names.remove("postgresql")
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        db = servers.database(name)
        log(f"== {db.label}")
        servers.reset_database(db)
        env = servers.ours_environment(db)
        try:
            servers.collectstatic(env)
            keys = servers.setup_ours(env, ())
            for path_name in chosen:
                path, key, expected = PATHS[path_name]
                authorization = f"Bearer {keys[key]}" if key else None
                target = OUT / f"{path_name}-{db.name}-{LABEL}.txt"
                target.write_text(profile(db, env, path, authorization, expected))
                log(f"wrote {target.relative_to(ROOT)}")
            target = OUT / f"layers-{db.name}-{LABEL}.txt"
            target.write_text(layers(db, env))
            log(f"wrote {target.relative_to(ROOT)}")
        finally:
            servers.drop_database(db)


def profile(db: servers.Database, env: dict, path: str, authorization: str | None, expected: int) -> str:
    """One profiled server per attempt; again if other processes took the CPU meanwhile (as `make bench`)."""
    raw = BUILD / "profile.prof"
    for attempt in range(RETRIES + 1):
        raw.unlink(missing_ok=True)
        server = servers.start(
            "ours (profiled)", "config.wsgi", dict(env, BENCH_PROFILE_OUT=str(raw)), PORT, config=CONFIG, workers=1
        )
        try:
            if (answer := servers.status(PORT, path, authorization)) != expected:
                raise SystemExit(f"{path} answered {answer}, not {expected}")
            load.wait_for_quiet(MAX_OTHERS, QUIET_WAIT, log)
            result = load.wrk(PORT, path, authorization, DURATION, refused=expected >= 400)
        finally:
            servers.stop(server)
        if result.others_cpu <= MAX_OTHERS:
            break
        if attempt < RETRIES:
            log(f"   other processes took {result.others_cpu:.0%} of the CPU; again")
    served = json.loads(raw.with_suffix(".json").read_text())
    return render(db, path, result, served, raw)


def layers(db: servers.Database, env: dict) -> str:
    """benchmarks/layers.py: whoami's time, layer by layer, without the profiler's distortion."""
    load.wait_for_quiet(MAX_OTHERS, QUIET_WAIT, log)
    table = subprocess.run(
        [servers.PYTHON, "-m", "benchmarks.layers"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the app's log lines, as the servers' go to /dev/null
        text=True,
        check=True,
    ).stdout
    header = [
        f"Where whoami's time goes, layer by layer, our app on {db.label}; label {LABEL!r}. "
        "Generated by `make profile` (benchmarks/layers.py); do not edit.",
        "",
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"Machine: {servers.machine()}",
        "Deployed settings (DJANGO_DEBUG=0, DJANGO_SECURE=1, DJANGO_BEHIND_TLS_PROXY=1, LOG_LEVEL=INFO, logs to "
        f"/dev/null{', Redis cache' if db.redis_url else ''}), one process, the machine otherwise idle.",
        "",
    ]
    return "\n".join(header) + table


def render(db: servers.Database, path: str, result: load.Result, served: dict, raw) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(str(raw), stream=buffer)
    requests = served["requests"]
    header = [
        f"cProfile of GET {path}, our app on {db.label}; label {LABEL!r}. Generated by `make profile`; do not edit.",
        "",
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"Machine: {servers.machine()}",
        f"Command: make profile PROFILE_LABEL={LABEL} (benchmarks/profiling.py): gunicorn -c {CONFIG} config.wsgi, "
        "1 sync worker, deployed settings (DJANGO_DEBUG=0, DJANGO_SECURE=1, DJANGO_BEHIND_TLS_PROXY=1, "
        f"LOG_LEVEL=INFO, logs to /dev/null{', Redis cache' if db.redis_url else ''}); "
        f"wrk -t{load.THREADS} -c{load.CONNECTIONS} -d{DURATION}, X-Forwarded-Proto: https.",
        f"Requests served by the profiled worker: {requests} (wrk: {result.rps:.0f} req/s, "
        f"p50 {result.p50:.1f} ms, p99 {result.p99:.1f} ms, profiler on; other processes took "
        f"{result.others_cpu:.0%} of the CPU meanwhile).",
        f"Time per request inside the worker (parse, application, answer; profiler on): "
        f"{served['seconds'] / requests * 1000:.3f} ms.",
        f"Function calls per request: {stats.total_calls / requests:.0f} "
        f"({stats.prim_calls / requests:.0f} primitive).",
        "",
        "Cumulative and own (tottime) seconds are totals over all requests; divide by the requests above.",
        "",
    ]
    for title, key in (("cumulative time", "cumulative"), ("own time", "tottime")):
        buffer.write(f"\n=== Top {TOP} functions by {title} ===\n")
        stats.sort_stats(key).print_stats(TOP)
    return "\n".join(header) + shorten(buffer.getvalue())


def shorten(text: str) -> str:
    """Paths relative to the project, site-packages and the standard library."""
    for prefix in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"], str(ROOT)):
        text = text.replace(prefix + "/", "")
    lines = [line.rstrip() for line in text.splitlines() if not line.endswith(".prof")]  # pstats' date and file
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
