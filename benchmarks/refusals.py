"""`make bench-refusals`: server-side time of each way a key is refused, through the whole Django stack.

The refusal paths must not tell an attacker anything: an unknown public id
and a wrong secret for an existing id must cost the same (one query, one
HMAC, no instance built), and a client over the failure limit must cost less
than either (no query, no hash, no cache round trip). Measured in-process
with Django's test client (middleware, URL routing, the view, the JSON
answer), so the network and the WSGI server are left out on purpose: what
differs between the paths is our code, not the transport.

The database is BENCH_DATABASE_URL's (default: PostgreSQL on 127.0.0.1, the
deployment database); a throwaway test database is created and dropped. The
failure counter is in BENCH_REDIS_URL's Redis when given (as deployed; `make
bench` passes its own), else in memory. One more row times the counter's
write alone (`config.ratelimit.record`), what an unknown id or a wrong secret
may cost on top of a valid key. Prints a Markdown table for
docs/benchmarks.md, then one JSON line of the medians in milliseconds.

BENCH_AUTH_QUERY=orm replaces the key lookup compiled once
(apikeys.authentication.compile_key_lookup, which relies on ORM internals)
by the plain ORM query, to check after a Django upgrade that it is still
worth keeping.
"""

import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key")
os.environ.setdefault("API_KEY_PEPPERS", "b1:benchmark-only-pepper-value")
os.environ.setdefault("DJANGO_SECURE", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/apikeys_bench")
os.environ.pop("REDIS_URL", None)
if os.environ.get("BENCH_REDIS_URL"):
    os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
    os.environ["CACHE_KEY_PREFIX"] = "bench-refusals"
os.environ["ALLOW_PROCESS_LOCAL_CACHE"] = "1"  # without BENCH_REDIS_URL: one process, its cache in memory

import json  # noqa: E402

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
ROUNDS = 5
AUTH_QUERY = os.environ.get("BENCH_AUTH_QUERY", "compiled")


def main() -> None:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    if AUTH_QUERY == "orm":
        use_the_plain_orm_query()
    try:
        print(run())
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run() -> str:
    from apikeys import tokens
    from config import ratelimit
    from projects import catalog
    from tests.factories import ApiKeyFactory, ProjectFactory

    project = ProjectFactory(slug="bench")
    key = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT])
    client = Client()
    settings.API_AUTH_FAILURE_LIMIT = 10**9  # refusals stay 401s, except where the limit is the point

    def over_limit():
        ratelimit._api_tripped["127.0.0.1"] = time.monotonic() + 3600
        return f"Bearer {key.secret}"

    paths = {
        "valid key (200)": lambda: f"Bearer {key.secret}",
        "malformed key, bad checksum (401)": lambda: f"Bearer {key.secret[:-1]}{'A' if key.secret[-1] != 'A' else 'B'}",
        "unknown public id (401)": lambda: f"Bearer {tokens.generate().raw}",
        "wrong secret, existing id (401)": lambda: f"Bearer {tokens.generate(public_id=key.public_id).raw}",
        "client over the failure limit (429)": over_limit,
    }
    write = "the failure counter's write alone"
    # Alternate the paths round by round, so that drift hits them all alike.
    samples: dict[str, list[float]] = {name: [] for name in (*paths, write)}
    for _ in range(ROUNDS):
        for _ in range(REQUESTS // ROUNDS):
            started = time.perf_counter()
            ratelimit.record("bench-refusals:counter", 60)
            samples[write].append((time.perf_counter() - started) * 1000)
        for name, header in paths.items():
            ratelimit._api_tripped.clear()
            value = header()
            for _ in range(REQUESTS // ROUNDS):
                value = header() if "unknown" in name or "wrong" in name else value
                started = time.perf_counter()
                client.get("/api/v1/whoami", HTTP_AUTHORIZATION=value)
                samples[name].append((time.perf_counter() - started) * 1000)
    ratelimit._api_tripped.clear()

    cache = "Redis" if os.environ.get("REDIS_URL") else "in memory"
    lines = [
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, database {connection.vendor}, "
        f"failure counter {cache}; "
        f"{REQUESTS} requests per path in {ROUNDS} alternating rounds, through the test client; "
        f"key lookup: {AUTH_QUERY}.",
        "",
        "| refusal path | median | p90 |",
        "|---|---|---|",
    ]
    for name, values in samples.items():
        values.sort()
        lines.append(f"| {name} | {statistics.median(values):.3f} ms | {values[int(len(values) * 0.9)]:.3f} ms |")
    lines.append(json.dumps({name: statistics.median(values) for name, values in samples.items()}))
    return "\n".join(lines)


def use_the_plain_orm_query() -> None:
    """api_key_authenticate as it would be with the ORM's query: same steps, same answers."""
    from django.utils import timezone

    from apikeys import authentication, tokens
    from apikeys.authentication import UNKNOWN_KEY_HASH, AuthResult
    from apikeys.models import ApiKey

    def api_key_authenticate(raw, *, now=None, address=None, user_agent=""):
        try:
            parsed = tokens.parse(raw)
        except tokens.InvalidKey:
            return AuthResult(None, "invalid")
        api_key = ApiKey.objects.select_related("project").filter(public_id=parsed.public_id).first()
        if api_key is None:
            tokens.matches(parsed.raw, tokens.current_pepper_version(), UNKNOWN_KEY_HASH)
            return AuthResult(None, "invalid")
        if not tokens.matches(parsed.raw, api_key.pepper_version, api_key.secret_hash):
            return AuthResult(None, "invalid")
        return authentication.admit(api_key, now or timezone.now(), address, user_agent)

    authentication.api_key_authenticate = api_key_authenticate


if __name__ == "__main__":
    main()
