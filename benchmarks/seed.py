"""Benchmark data: a project holding exactly COUNT keys, for the API Keys tab benchmark.

Benchmark-only (benchmarks/run.py calls seed_keys()). The rows are inserted in
bulk with random hashes, so they have no usable secret, no creator and no
audit event: the listing benchmark needs 10,000 rows quickly, not 10,000 real
keys. Every real key comes from apikeys.services.api_key_create().
"""

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apikeys import tokens
from apikeys.models import ApiKey
from projects import catalog
from projects.models import Project

BATCH = 1000


@transaction.atomic
def seed_keys(slug: str, count: int) -> None:
    """Create project `slug` if missing and fill it up to `count` keys."""
    if count < 0 or count > 1_000_000:
        raise ValueError("count must be between 0 and 1,000,000.")
    target, _ = Project.objects.get_or_create(slug=slug, defaults={"name": f"Benchmark {slug}"})
    existing = ApiKey.objects.filter(project=target).count()
    if existing > count:
        raise ValueError(f"{target.slug} already holds {existing} keys, more than {count}.")
    now = timezone.now()
    permissions = [p.codename for p in catalog.CATALOG][:6]
    todo = count - existing
    while todo > 0:
        size = min(BATCH, todo)
        ApiKey.objects.bulk_create(
            [
                ApiKey(
                    public_id=tokens.new_public_id(),
                    secret_hash=secrets.token_hex(32),
                    pepper_version=tokens.current_pepper_version(),
                    last4="abcd",
                    project=target,
                    name=f"bench key {existing + todo - i}",
                    description="Benchmark key",
                    tags=["bench", f"batch-{todo // BATCH}"],
                    permissions=permissions,
                    expires_at=now + timedelta(days=30 + i % 400),
                    created_at=now - timedelta(seconds=todo - i),
                )
                for i in range(size)
            ]
        )
        todo -= size
