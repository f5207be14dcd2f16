"""Print what "Move to a service account" would create for every active key of a project (SPEC §8, Migration).

Read-only: it writes nothing. For each key that still works, the service
account (its name, made unique in the organization), the membership with
exactly the key's permissions, and the first credential with the key's
expiry and allowed addresses; keys that cannot be moved say why. Moving
itself is done in the console ("Move to a service account" on the key's
page), by a user holding the organization role Admin or Owner and every
permission of the key.
"""

import json as jsonlib

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apikeys.models import ApiKey
from projects.models import Project
from serviceaccounts import services


class Command(BaseCommand):
    help = "Print what moving each active API key of a project to a service account would create. Writes nothing."

    def add_arguments(self, parser):
        parser.add_argument("project", help="The project's slug.")
        parser.add_argument("--json", action="store_true", help="Print one JSON document instead of text.")

    def handle(self, *args, project: str, **options):
        found = Project.objects.select_related("organization").filter(slug=project).first()
        if found is None:
            raise CommandError(f"No project with the slug {project!r}.")
        now = timezone.now()
        keys = ApiKey.objects.filter(project=found).active(now).select_related("project__organization")
        plans = [services.plan_move(key, now) for key in keys.order_by("name", "id")]
        if options["json"]:
            self.stdout.write(_json(found, plans))
            return
        self._text(found, plans)

    def _text(self, project: Project, plans: list[services.MovePlan]) -> None:
        organization = project.organization
        self.stdout.write(
            f"Project {project.slug} (organization {organization.slug}): "
            f"{len(plans)} active API key{'' if len(plans) == 1 else 's'}. Nothing is written."
        )
        for plan in plans:
            key = plan.api_key
            self.stdout.write("")
            self.stdout.write(f"API key {key.name} ({key.public_id})")
            if plan.refusal:
                self.stdout.write(f"  cannot be moved: {plan.refusal}")
                continue
            expiry = f"{plan.expires_at:%Y-%m-%d %H:%M} UTC" if plan.expires_at else "never"
            self.stdout.write(f"  service account: {plan.name}")
            self.stdout.write(f"  membership in {project.slug}: {', '.join(plan.permissions)}")
            self.stdout.write(f"  first credential {key.name}: expires {expiry}")
            self.stdout.write(f"    allowed addresses: {', '.join(plan.allowed_ips) or 'any'}")
        if plans:
            self.stdout.write("")
            self.stdout.write(
                "Move a key on its page in the console (Move to a service account); it keeps working until revoked."
            )


def _json(project: Project, plans: list[services.MovePlan]) -> str:
    return jsonlib.dumps(
        {
            "project": project.slug,
            "organization": project.organization.slug,
            "keys": [
                {
                    "id": plan.api_key.public_id,
                    "name": plan.api_key.name,
                    "refusal": plan.refusal,
                    "service_account": None
                    if plan.refusal
                    else {
                        "name": plan.name,
                        "projects": [{"slug": project.slug, "permissions": plan.permissions}],
                        "credential": {
                            "name": plan.api_key.name,
                            "expires_at": plan.expires_at.isoformat() if plan.expires_at else None,
                            "allowed_ips": plan.allowed_ips,
                        },
                    },
                }
                for plan in plans
            ],
        },
        indent=2,
    )
