"""In-process parts of `make bench`: the API Keys tab, key creation, checking a secret; prints one JSON line.

Run by benchmarks/run.py with our deployed environment, after setup_ours()
seeded the projects bench-<size>. The tab is measured through Django's test
client (middleware, view, template), the transport left out; the client sends
X-Forwarded-Proto: https as the TLS proxy would.
"""

import json
import os
import statistics
import time

import django

WARM_UP = 5
SAMPLES = int(os.environ.get("BENCH_TAB_SAMPLES", "40"))
CREATED = 300
HASHED = 2000
ARGON2_CHECKS = 20


def main() -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apikeys import services
    from projects import catalog
    from projects.models import Membership, Project, Role

    sizes = [int(size) for size in os.environ["BENCH_TAB_SIZES"].split(",")]
    user = get_user_model().objects.get(username="alice")
    role = Role.objects.get(name=catalog.ADMINISTRATOR)
    client = Client(HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user)
    urls = {}
    for size in sizes:
        project = Project.objects.get(slug=f"bench-{size}")
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
        urls[size] = f"/projects/{project.slug}/api-keys/"
        for _ in range(WARM_UP):
            response = client.get(urls[size])
            if response.status_code != 200:
                raise SystemExit(f"{urls[size]} answered {response.status_code}")
    # The sizes take turns, sample by sample: a burst of other work on the
    # machine slows every size alike instead of the one measured meanwhile.
    times = {size: [] for size in sizes}
    for _ in range(SAMPLES):
        for size in sizes:
            started = time.perf_counter()
            client.get(urls[size])
            times[size].append((time.perf_counter() - started) * 1000)
    tab = {}
    for size in sizes:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(urls[size])
        samples = sorted(times[size])
        tab[size] = {
            "median_ms": statistics.median(samples),
            "p90_ms": samples[int(len(samples) * 0.9)],
            "queries": len(queries),
            "entries": response.content.count(b'class="key-entry '),  # rows on the page
        }

    project = Project.objects.get(slug="demo")
    started = time.perf_counter()
    for i in range(CREATED):
        services.api_key_create(
            project=project, name=f"rate-{i}-{time.time_ns()}", permissions=[catalog.READ_PROJECT], created_by=user
        )
    elapsed = time.perf_counter() - started
    print(json.dumps({"tab": tab, "create_per_second": CREATED / elapsed, "secret_check": secret_check()}))


def secret_check() -> dict:
    """One key's secret checked our way (HMAC-SHA256 under the pepper) and the way passwords are (Argon2).

    Argon2 with the parameters Django's Argon2PasswordHasher uses for the
    console's passwords: what a slow hash would add to every API call.
    """
    from django.contrib.auth.hashers import Argon2PasswordHasher

    from apikeys import tokens

    raw = tokens.generate().raw
    version = tokens.current_pepper_version()
    stored = tokens.hash_key(raw, version)

    def median_ms(check, count: int) -> float:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            if not check():
                raise SystemExit("a secret check refused the right secret")
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    argon2 = Argon2PasswordHasher()
    encoded = argon2.encode(raw, argon2.salt())
    return {
        "hmac_ms": median_ms(lambda: tokens.matches(raw, version, stored), HASHED),
        "argon2_ms": median_ms(lambda: argon2.verify(raw, encoded), ARGON2_CHECKS),
        "argon2_parameters": f"time_cost={argon2.time_cost}, memory_cost={argon2.memory_cost} KiB, "
        f"parallelism={argon2.parallelism}",
    }


if __name__ == "__main__":
    main()
