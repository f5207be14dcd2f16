"""Bulk keys for benchmarks: `manage.py bench_seed --project bench --count 10000`.

The rows are inserted in bulk with random hashes (no usable secrets), which
is what the listing benchmark needs; real keys come from the service.
"""

import secrets
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apikeys import tokens
from apikeys.models import ApiKey
from projects import catalog
from projects.models import Project

BATCH = 1000


class Command(BaseCommand):
    help = "Create a project holding exactly COUNT benchmark keys (bulk insert; the keys have no usable secret)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Slug of the project to create or fill.")
        parser.add_argument("--count", type=int, required=True)

    @transaction.atomic
    def handle(self, *args, project: str, count: int, **options):
        if count < 0 or count > 1_000_000:
            raise CommandError("--count must be between 0 and 1,000,000.")
        target, _ = Project.objects.get_or_create(slug=project, defaults={"name": f"Benchmark {project}"})
        existing = ApiKey.objects.filter(project=target).count()
        if existing > count:
            raise CommandError(f"{target.slug} already holds {existing} keys, more than {count}.")
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
        self.stdout.write(f"{target.slug}: {count} keys")
