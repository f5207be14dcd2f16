"""Mint a service account's credential at the command line and print its secret once (SPEC §8, Bootstrap).

How an operator hands the first automation (a Terraform provider, say) its
credential: no console session and no other credential is needed. Audited as
created by the operator's system user. The secret goes to standard output
only, never to a log.
"""

import getpass
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apikeys.errors import ApiKeyError
from projects.models import Organization
from serviceaccounts import services
from serviceaccounts.models import ServiceAccount


class Command(BaseCommand):
    help = "Create a credential of a service account and print its secret once."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="The organization's slug.")
        parser.add_argument("service_account", help="The service account's name.")
        parser.add_argument("--name", required=True, help="The credential's name.")
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            help="Days until it expires (default: never, if policy allows).",
        )

    def handle(self, *args, organization: str, service_account: str, name: str, expires_in_days, **options):
        found = Organization.objects.filter(slug=organization).first()
        if found is None:
            raise CommandError(f"No organization with the slug {organization!r}.")
        account = ServiceAccount.objects.undeleted().filter(organization=found, name=service_account).first()
        if account is None:
            raise CommandError(f"No service account named {service_account!r} in {found.slug}.")
        if expires_in_days is not None and not 1 <= expires_in_days <= 36500:
            raise CommandError("--expires-in-days must be between 1 and 36500.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days is not None else None
        try:
            created = services.create_credential(
                account, name=name, expires_at=expires_at, actor=services.Actor(operator=_system_user())
            )
        except ApiKeyError as error:
            raise CommandError(error.message) from None
        credential = created.credential
        self.stderr.write(
            f"Credential {credential.name} ({credential.public_id}) of {account.name} in {found.slug}"
            + (f", expires {credential.expires_at:%Y-%m-%d %H:%M} UTC" if credential.expires_at else ", no expiry")
            + ". The secret below is shown once; it cannot be retrieved again."
        )
        self.stdout.write(created.secret)


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return "unknown"
