"""The report of `make bench`: goals met or not per database, then every number behind them.

Everything here is generated from one run; nothing in the report is edited by hand.
"""

import statistics
from pathlib import Path

from benchmarks.servers import PG_HOST, WORKERS

COUNTER_WRITE = "the failure counter's write alone"  # benchmarks/refusals.py's row

# Issue 13's goals.
WHOAMI_VS_BARE = 0.6
WHOAMI_VS_PEER = 2.0
WHOAMI_P99_MS = 25.0
TAB_RATIO = 1.2
TAB_P90_MS = 60.0


def median(values) -> float:
    return statistics.median(list(values))


def rps(run, name: str) -> float:
    return median(r.rps for r in run.results[name])


def p99(run, name: str) -> float:
    return median(r.p99 for r in run.results[name])


def noise(run) -> float:
    """The floor's own spread between rounds: (max - min) / median of healthz's req/s."""
    values = [r.rps for r in run.results["healthz"]]
    return (max(values) - min(values)) / median(values)


def ratio(run, name: str, reference: str) -> float:
    """The median of each round's ratio of req/s: both sides of a pair were measured in the same round,
    so a machine that slows down for a while moves both sides of a ratio, not one."""
    return median(a.rps / b.rps for a, b in zip(run.results[name], run.results[reference], strict=True))


def ratio_range(run, name: str, reference: str) -> str:
    ratios = [a.rps / b.rps for a, b in zip(run.results[name], run.results[reference], strict=True)]
    return f"{min(ratios):.2f}–{max(ratios):.2f}"


def at_least(value: float, goal: float) -> str:
    return "met" if value >= goal else "**not met**"


def at_least_within_noise(value: float, goal: float, spread: float) -> str:
    if value >= goal:
        return "met"
    return "met within noise" if value >= goal * (1 - spread) else "**not met**"


def goals(run) -> list[tuple[str, str, str]]:
    """(goal, measured, verdict) rows for one database."""
    spread = noise(run)
    rows = []
    whoami = rps(run, "whoami")
    value = ratio(run, "whoami", "bare view")
    rows.append(
        (
            f"whoami ≥ {WHOAMI_VS_BARE} × bare view",
            f"{value:.2f} × (rounds {ratio_range(run, 'whoami', 'bare view')})",
            at_least(value, WHOAMI_VS_BARE),
        )
    )
    value = ratio(run, "whoami", "bare view after one query")
    rows.append(
        (
            f"(where the time goes) whoami ≥ {WHOAMI_VS_BARE} × bare view after one query",
            f"{value:.2f} × (rounds {ratio_range(run, 'whoami', 'bare view after one query')}); the query alone "
            f"takes the bare view to {ratio(run, 'bare view after one query', 'bare view'):.2f} ×",
            at_least(value, WHOAMI_VS_BARE),
        )
    )
    value = ratio(run, "whoami", "peer HasAPIKey")
    rows.append(
        (
            f"whoami ≥ {WHOAMI_VS_PEER:.0f} × peer's HasAPIKey view",
            f"{value:.2f} × (rounds {ratio_range(run, 'whoami', 'peer HasAPIKey')}); "
            f"{ratio(run, 'whoami', 'peer HasAPIKey, one lookup'):.2f} × its one-lookup form",
            at_least(value, WHOAMI_VS_PEER),
        )
    )
    value = p99(run, "whoami")
    rows.append(
        (f"whoami p99 < {WHOAMI_P99_MS:.0f} ms", f"{value:.1f} ms", "met" if value < WHOAMI_P99_MS else "**not met**")
    )
    for name in ("whoami, service-account credential", "project, service-account credential"):
        value = ratio(run, name, "whoami")
        rows.append(
            (
                f"(measured, no goal) {name} against whoami with an API key",
                f"{value:.2f} × (rounds {ratio_range(run, name, 'whoami')}), p99 {p99(run, name):.1f} ms",
                "measured",
            )
        )
    for name in ("malformed key (bad checksum)", "over the failure limit"):
        value = ratio(run, name, "healthz")
        rows.append(
            (
                f"{name} ≥ healthz (req/s)",
                f"{value:.2f} × (rounds {ratio_range(run, name, 'healthz')})",
                at_least_within_noise(value, 1.0, spread),
            )
        )
    # Worker time per request under load (workers / req/s) against whoami's plus
    # the counter's write alone (section d: in-process, the same Redis).
    write_ms = run.refusal_ms[COUNTER_WRITE]
    whoami_ms = WORKERS * 1000 / whoami
    for name in ("unknown public id", "wrong secret"):
        cost_ms = WORKERS * 1000 / rps(run, name)
        budget_ms = whoami_ms + write_ms
        rows.append(
            (
                f"{name}: worker time per request ≤ whoami's + the failure counter's write",
                f"{cost_ms:.2f} ms ≤ {whoami_ms:.2f} + {write_ms:.2f} = {budget_ms:.2f} ms; "
                f"{ratio(run, name, 'whoami'):.2f} × whoami's req/s (rounds {ratio_range(run, name, 'whoami')})",
                at_least_within_noise(budget_ms / cost_ms, 1.0, spread),
            )
        )
    tab = {int(size): row for size, row in run.in_process["tab"].items()}
    value = tab[10000]["median_ms"] / tab[25]["median_ms"]
    rows.append(
        (
            f"tab page 1: 10,000 keys ≤ {TAB_RATIO} × 25 keys",
            f"{value:.2f} ×",
            "met" if value <= TAB_RATIO else "**not met**",
        )
    )
    value = tab[10000]["p90_ms"]
    rows.append(
        (
            f"tab page 1 at 10,000 keys: p90 < {TAB_P90_MS:.0f} ms",
            f"{value:.1f} ms",
            "met" if value < TAB_P90_MS else "**not met**",
        )
    )
    return rows


def summary(runs) -> str:
    lines = []
    for run in runs:
        lines += ["", f"{run.db.label}: healthz rounds spread {noise(run):.0%}"]
        width = max(len(goal) for goal, _, _ in goals(run))
        for goal, measured, verdict in goals(run):
            lines.append(f"  {goal:<{width}}  {measured:<48}  {verdict.strip('*')}")
    return "\n".join(lines)


def markdown(runs, ctx: dict) -> str:
    versions = ctx["versions"]
    # docs/benchmarks-before.md (BENCH_REPORT) is titled "Benchmarks: before".
    label = Path(ctx["report"]).stem.removeprefix("benchmarks").lstrip("-_")
    lines = [
        f"# Benchmarks: {label}" if label else "# Benchmarks",
        "",
        f"Generated by `make bench` (benchmarks/run.py) on {ctx['date']} into `{ctx['report']}`; "
        "nothing here is edited by hand. Where the time goes inside a request: `make profile` "
        "(cProfile under load, docs/profile/).",
        "",
        "Needs `wrk`, Redis at 127.0.0.1:6379 (db 14 is flushed) and, for the PostgreSQL half, PostgreSQL at "
        f"{PG_HOST} with trust authentication (it creates and drops its own databases); without "
        "PostgreSQL it measures SQLite only and says so here.",
        "",
        *(f"**Not measured.** {note}\n" for note in ctx.get("not_measured", [])),
        f"- Machine: {ctx['machine']}. wrk runs on the same machine and takes CPU from the server, "
        "and on PostgreSQL the database server shares it too: read the ratios, not the absolute numbers.",
        "- Every app is served by gunicorn with config/gunicorn.conf.py as `make serve` starts it: "
        f"2 sync workers (WEB_CONCURRENCY=2, {ctx['threads']} thread), each app on its own port on 127.0.0.1, "
        "all running, one loaded at a time.",
        "- Ours: deployed settings (DJANGO_DEBUG=0, DJANGO_SECURE=1, DJANGO_BEHIND_TLS_PROXY=1, LOG_LEVEL=INFO, "
        "logs to /dev/null), persistent database connections (CONN_MAX_AGE 60, no ping before reuse), on "
        "PostgreSQL the key lookup prepared; "
        "cache: Redis (db 14, flushed first), as deployed with several workers.",
        "- Bare view (benchmarks/bare): one Django view returning a whoami-shaped JSON body, one middleware "
        "(SecurityMiddleware), the same security settings behind a TLS proxy, DEBUG off, no database. "
        "`bare view after one query` is the same view after `SELECT 1` on our database over a persistent "
        "connection: the floor of any key check that asks a database, which ours must (a key revoked on one "
        "node is refused on every node at the very next request).",
        f"- Peer (benchmarks/peer): djangorestframework-api-key {versions['djangorestframework-api-key']} with "
        f"Django REST framework {versions['djangorestframework']} (newest), Django {versions['Django']} and "
        f"gunicorn {versions['gunicorn']} (ours), in build/bench-peer-venv; SecurityMiddleware only, the same "
        "TLS-proxy settings, DEBUG off, CONN_MAX_AGE 60, its own database with one key from "
        "`APIKey.objects.create_key()`. `peer HasAPIKey` is the view as the library documents it (HasAPIKey "
        "checks the key, the view gets it again with `get_from_key()`); `one lookup` keeps the key HasAPIKey "
        "verified, so it costs one query.",
        f"- Load: wrk, 2 threads, 16 connections, `X-Forwarded-Proto: https` (as the TLS proxy sends it), "
        f"{ctx['duration']} per path, {ctx['rounds']} rounds alternating over every path (after a "
        f"{ctx['warm_up']} warm-up of each); medians over the rounds, and ratios as the median of each round's "
        "ratio (both sides measured in the same round, seconds apart). Refusal paths send their own "
        "`Authorization`; their 401 and 429 answers are checked, not counted as errors.",
        "- Refusal keys: malformed = a valid key with its checksum's last character changed (refused before any "
        "query); unknown public id = a well-formed key whose id is in no row; wrong secret = the valid key's id "
        "with another secret; over the failure limit = the wrong-secret key against a server of ours started "
        "with API_AUTH_FAILURE_LIMIT=5 and tripped first.",
        '- "Within noise": short of the goal by less than the floor\'s own spread between rounds '
        "(healthz, (max − min) / median).",
        f"- Worker time per request: {WORKERS} workers / req/s, what one request takes of a worker under load. "
        "An unknown id or a wrong secret may cost whoami's plus the failure counter's write, timed alone in "
        "section d (one Redis command, the machine otherwise idle).",
        "- The machine may be shared: each run notes the share of its CPU that processes other than the "
        "bench's (servers, wrk, PostgreSQL, Redis) took meanwhile; a run over "
        f"{ctx['max_others']:.0%} was taken again (up to {ctx['retries']} times, after waiting for quiet). "
        "The most any kept run saw is given per database.",
    ]
    for run in runs:
        lines += database_section(run)
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "apt-get install wrk pgbouncer   # once; without pgbouncer its line is skipped",
        "make bench                 # BENCH_ROUNDS=5 BENCH_DURATION=6s BENCH_DATABASES=sqlite,postgresql",
        "make profile               # PROFILE_LABEL=current: docs/profile/<path>-<database>-current.txt",
        "make bench-refusals        # section d alone; BENCH_DATABASE_URL picks the database",
        "```",
        "",
    ]
    return "\n".join(lines)


def database_section(run) -> list[str]:
    whoami = rps(run, "whoami")
    lines = [
        "",
        f"## {run.db.label}",
        "",
        "| goal | measured | |",
        "|---|---|---|",
        *(f"| {goal} | {measured} | {verdict} |" for goal, measured, verdict in goals(run)),
        "",
        f"healthz's spread between rounds: {noise(run):.0%}. Other processes took at most "
        f"{max(r.others_cpu for rs in run.results.values() for r in rs):.0%} of the CPU during a kept run.",
        "",
        "### a. Over HTTP (medians of the rounds)",
        "",
        "| path | req/s | p50 | p90 | p99 | req/s vs whoami |",
        "|---|---|---|---|---|---|",
    ]
    for target in run.targets:
        results = run.results[target.name]
        lines.append(
            f"| {target.name} (`{target.path}`, {target.status}) | {rps(run, target.name):.0f} | "
            f"{median(r.p50 for r in results):.1f} ms | {median(r.p90 for r in results):.1f} ms | "
            f"{p99(run, target.name):.1f} ms | {rps(run, target.name) / whoami:.2f} |"
        )
    lines += [f"- skipped: {reason}" for reason in run.skipped]
    variants = [t.name for t in run.targets if t.server.startswith("variant-")]
    if variants:
        p50 = median(r.p50 for r in run.results["whoami"])
        lines += [
            "",
            "Connections: whoami as deployed keeps its worker's connection (CONN_MAX_AGE 60), does not ping it "
            "before reuse (the key lookup reconnects by itself, config/db.py) and runs the key lookup as a "
            "prepared statement. "
            + "; ".join(
                f"{name}: {rps(run, name) / whoami:.2f} × its req/s, p50 "
                f"{median(r.p50 for r in run.results[name]):.1f} ms against {p50:.1f} ms"
                for name in variants
            )
            + ".",
        ]
    lines += [
        "",
        "Each round, req/s / p99 ms (other processes' CPU share):",
        "",
        "| path | " + " | ".join(f"round {i + 1}" for i in range(len(run.results["whoami"]))) + " |",
    ]
    lines.append("|---|" + "---|" * len(run.results["whoami"]))
    for target in run.targets:
        cells = " | ".join(f"{r.rps:.0f} / {r.p99:.1f} ({r.others_cpu:.0%})" for r in run.results[target.name])
        lines.append(f"| {target.name} | {cells} |")
    errors = {t.name: r.socket_errors for t in run.targets for r in run.results[t.name] if r.socket_errors}
    if errors:
        lines += ["", "wrk's socket errors: " + "; ".join(f"{name}: {text}" for name, text in errors.items())]
    tab = {int(size): row for size, row in run.in_process["tab"].items()}
    check = run.in_process["secret_check"]
    lines += [
        "",
        "### b. The API Keys tab, page 1 (in-process, Django's test client, deployed settings)",
        "",
        "| keys in the project | entries on the page | median | p90 | queries |",
        "|---|---|---|---|---|",
        *(
            f"| {size:,} | {row['entries']} | {row['median_ms']:.1f} ms | {row['p90_ms']:.1f} ms | {row['queries']} |"
            for size, row in sorted(tab.items())
        ),
        "",
        "### c. Key creation through the service (in-process)",
        "",
        f"{run.in_process['create_per_second']:.0f} keys per second, single process (one transaction each).",
        "",
        "### c2. Checking a key's secret (in-process, one process, the median of many checks)",
        "",
        "| how | per check |",
        "|---|---|",
        f"| ours: HMAC-SHA256 under the pepper | {check['hmac_ms'] * 1000:.1f} µs |",
        f"| Argon2 as Django hashes the console's passwords ({check['argon2_parameters']}) "
        f"| {check['argon2_ms']:.0f} ms |",
        "",
        "### d. What each refusal costs server-side (benchmarks/refusals.py, in-process)",
        "",
        "Through the whole Django stack with the test client, transport and WSGI server left out; a throwaway "
        "test database (in memory on SQLite) and the failure counter in the bench's Redis, as deployed. "
        "Generated by this run:",
        "",
        run.refusals["compiled"],
    ]
    if "orm" in run.refusals:
        lines += [
            "",
            "The same with `BENCH_AUTH_QUERY=orm` (the plain ORM query instead of the lookup compiled once, "
            "`apikeys.authentication.compile_key_lookup`), to see whether the compiled lookup still pays:",
            "",
            run.refusals["orm"],
        ]
    return lines
