from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apikeys import schema, services, usage
from apikeys.errors import ApiKeyError
from apikeys.models import ApiKey
from projects import catalog
from projects.models import Membership, Organization, OrganizationMembership, Project
from projects.roles import default_organization_role, default_role
from serviceaccounts import services as account_services
from serviceaccounts.models import ServiceAccount

PROJECTS = {
    "demo": ("Demo Project", "A project to try the API Keys console with."),
    "sandbox": ("Sandbox", "A second project, to see that keys and roles are per project."),
}
# username -> {project slug: role}
USERS = {
    "alice": {"demo": catalog.ADMINISTRATOR, "sandbox": catalog.VIEWER},
    "bob": {"demo": catalog.VIEWER, "sandbox": catalog.ADMINISTRATOR},
    "carol": {"demo": catalog.MEMBER},
    "mallory": {},
}
# The organization owning both projects (SPEC §8), its members' roles, and its automation account.
ORGANIZATION = ("demo-org", "Demo Organization")
ORGANIZATION_ROLES = {"alice": catalog.OWNER, "bob": catalog.ADMIN, "carol": catalog.ORGANIZATION_MEMBER}
AUTOMATION = "demo-automation"
AUTOMATION_DESCRIPTION = "Automation (a Terraform provider, say): manages the organization's service accounts."
OPERATOR = "seed_demo"  # how the audit trail names this command


@dataclass(frozen=True)
class DemoKey:
    project: str
    name: str
    description: str
    tags: tuple[str, ...]
    permissions: tuple[str, ...]  # a subset of what the creator holds in the project
    created_by: str  # a username; ignored when `parent` is set
    expires_in: timedelta | None  # from now; negative: the key is already expired
    parent: str | None = None  # the name of the key (same project) that creates this one
    revoked: bool = False  # revoked by its creator right after creation
    rolled: timedelta | None = None  # rolled by its creator right after creation, with this grace period
    allowed_ips: tuple[str, ...] = ()  # where the key may be used from
    # A use recorded as of an hour ago, as the API records one: from this
    # address and user agent, needing these permissions.
    used: tuple[str, str, tuple[str, ...]] | None = None


READ_PROJECT, CREATE_KEYS, READ_KEYS = catalog.READ_PROJECT, catalog.CREATE_API_KEYS, catalog.READ_API_KEYS
DAY = timedelta(days=1)
# How long before it expired the expired key was created.
EXPIRED_KEY_LIFETIME = 90 * DAY

# One key in every status. Names differ from those the e2e tests create
# (ci-deploy, nightly-report, old-import, leaked-laptop, ...): they find rows by name.
DEMO_KEYS = (
    DemoKey(
        "demo",
        "legacy-billing-export",
        "Exported usage to the old billing system until it was shut down.",
        ("billing", "legacy"),
        (READ_PROJECT, "can_read_databases_in_dbaas"),
        created_by="alice",
        expires_in=-12 * DAY,
    ),
    DemoKey(
        "demo",
        "staging-smoke-tests",
        "Smoke tests against staging. Revoked after it was pasted into a public chat.",
        ("staging", "ci"),
        (READ_PROJECT, "can_read_clusters_in_metakube"),
        created_by="alice",
        expires_in=60 * DAY,
        revoked=True,
    ),
    DemoKey(
        "demo",
        "backup-verification",
        "Checks last night's database backups every morning. Replace it before it expires.",
        ("dbaas", "backups"),
        (READ_PROJECT, "can_read_databases_in_dbaas", "can_read_backups_from_databases_in_dbaas"),
        created_by="carol",
        expires_in=5 * DAY,
    ),
    DemoKey(
        "demo",
        "grafana-monitoring",
        "Read-only access for the Grafana dashboards and alerts.",
        ("monitoring", "read-only"),
        (
            READ_PROJECT,
            "can_read_clusters_in_metakube",
            "can_read_databases_in_dbaas",
            "can_become_reader_in_observability",
        ),
        created_by="alice",
        expires_in=None,
        allowed_ips=("10.20.0.0/16", "2001:db8:20::/48"),
    ),
    DemoKey(
        "demo",
        "terraform-automation",
        "The Terraform pipeline. It creates short-lived keys for its runners.",
        ("terraform", "automation"),
        (
            READ_PROJECT,
            CREATE_KEYS,
            READ_KEYS,
            "can_create_clusters_in_metakube",
            "can_read_clusters_in_metakube",
            "can_update_clusters_in_metakube",
            "can_delete_clusters_in_metakube",
            "can_create_databases_in_dbaas",
            "can_read_databases_in_dbaas",
        ),
        created_by="alice",
        expires_in=90 * DAY,
    ),
    DemoKey(
        "demo",
        "terraform-staging-runner",
        "Created by the terraform-automation key for the staging runner.",
        ("terraform", "staging"),
        (READ_PROJECT, "can_create_clusters_in_metakube", "can_read_clusters_in_metakube"),
        created_by="alice",
        parent="terraform-automation",
        expires_in=30 * DAY,
    ),
    DemoKey(
        "demo",
        "github-actions-deploy",
        "Deploys the main branch to production from GitHub Actions.",
        ("ci", "production"),
        (
            READ_PROJECT,
            "can_read_clusters_in_metakube",
            "can_update_clusters_in_metakube",
            "can_read_ssh_keys_in_metakube",
            "can_become_editor_in_openstack",
        ),
        created_by="alice",
        expires_in=180 * DAY,
        used=(
            "203.0.113.40",
            "GitHub-Actions/2.321.0",
            (READ_PROJECT, "can_read_clusters_in_metakube", "can_update_clusters_in_metakube"),
        ),
    ),
    DemoKey(
        "demo",
        "payments-webhook",
        "Signs the payment provider's webhook calls. Rolled: the old secret works one more day.",
        ("payments", "production"),
        (READ_PROJECT, "can_read_databases_in_dbaas"),
        created_by="alice",
        expires_in=90 * DAY,
        rolled=DAY,
    ),
    DemoKey(
        "demo",
        "log-shipper",
        "Ships the clusters' logs to observability. Rolled with no grace period: the old secret is retired.",
        ("observability",),
        (READ_PROJECT, "can_become_reader_in_observability"),
        created_by="alice",
        expires_in=90 * DAY,
        rolled=timedelta(0),
    ),
    DemoKey(
        "sandbox",
        "load-test-runner",
        "Creates throwaway databases for load tests.",
        ("experiment", "dbaas"),
        (
            READ_PROJECT,
            "can_create_databases_in_dbaas",
            "can_read_databases_in_dbaas",
            "can_delete_databases_in_dbaas",
        ),
        created_by="bob",
        expires_in=30 * DAY,
    ),
)


class Command(BaseCommand):
    help = (
        "Create the demo roles, projects, users (password: <username>-password) and API keys. Idempotent: "
        "a demo key is created only if no key of its name exists in its project."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off. The demo passwords are public: never on a real deployment.",
        )

    @transaction.atomic
    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with well-known passwords; it refuses to run with "
                "DEBUG off. Use --force if this really is a throwaway deployment."
            )
        roles = {name: default_role(name, reset=True) for name in catalog.DEFAULT_ROLES}
        organization_roles = {name: default_organization_role(name) for name in catalog.DEFAULT_ORGANIZATION_ROLES}
        slug, name = ORGANIZATION
        organization, _ = Organization.objects.update_or_create(slug=slug, defaults={"name": name})

        projects = {}
        for slug, (name, description) in PROJECTS.items():
            projects[slug], _ = Project.objects.update_or_create(
                slug=slug, defaults={"name": name, "description": description, "organization": organization}
            )

        User = get_user_model()
        users = {}
        for username, memberships in USERS.items():
            user = users[username] = self._user(User, username, superuser=False)
            Membership.objects.filter(user=user).exclude(project__slug__in=memberships).delete()
            for slug, role_name in memberships.items():
                Membership.objects.update_or_create(
                    user=user, project=projects[slug], defaults={"role": roles[role_name]}
                )
        self._user(User, "admin", superuser=True)
        OrganizationMembership.objects.filter(organization=organization).exclude(
            user__username__in=ORGANIZATION_ROLES
        ).delete()
        for username, role_name in ORGANIZATION_ROLES.items():
            OrganizationMembership.objects.update_or_create(
                organization=organization, user=users[username], defaults={"role": organization_roles[role_name]}
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready: alice, bob, carol, mallory and admin, each with password <username>-password."
            )
        )
        self._api_keys(projects, users)
        self._automation(organization, organization_roles[catalog.ADMIN], projects)

    def _user(self, User, username: str, *, superuser: bool):
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        user.is_active = True
        user.is_staff = superuser
        user.is_superuser = superuser
        if not user.check_password(f"{username}-password"):
            user.set_password(f"{username}-password")
        user.save()
        return user

    # -- the service account --------------------------------------------------

    def _automation(self, organization: Organization, admin_role, projects: dict[str, Project]) -> None:
        """demo-automation: organization Admin, every permission in both projects, one active credential.

        Through the service, audited as this command. Restored when changed
        (enabled again, its role and memberships reset); a deleted one is
        made anew. The credential's secret is dropped on the spot, never
        printed: an operator mints one with create_service_account_credential.
        """
        actor = account_services.Actor(operator=OPERATOR)
        account = ServiceAccount.objects.undeleted().filter(organization=organization, name=AUTOMATION).first()
        if account is None:
            account = account_services.create_service_account(
                organization=organization, name=AUTOMATION, description=AUTOMATION_DESCRIPTION, actor=actor
            )
        account = account_services.update_service_account(account, organization_role=admin_role, actor=actor)
        for project in projects.values():
            account_services.set_membership(
                account, project=project, permissions=[p.codename for p in catalog.CATALOG], actor=actor
            )
        account_services.set_disabled(account, False, actor=actor)
        if not account.credentials.active().exists():
            now = timezone.now()
            latest = services.latest_allowed_expiry(now, None)  # within the lifetime policy
            expires_at = min(now + 90 * DAY, latest) if latest is not None else now + 90 * DAY
            account_services.create_credential(account, name="bootstrap", expires_at=expires_at, actor=actor)
        self.stdout.write(
            self.style.SUCCESS(
                f"Service account {AUTOMATION} in {organization.slug}: organization Admin, every permission in "
                f"{' and '.join(projects)}, {account.credentials.active().count()} active credential(s) "
                "(secrets are never printed; mint one with create_service_account_credential)."
            )
        )

    # -- API keys ---------------------------------------------------------------

    def _api_keys(self, projects: dict[str, Project], users: dict) -> None:
        """Create the demo keys that are missing, through the service (so each has its audit trail).

        A demo key is created only if no key of its name exists in its
        project, whatever that key's status: a key someone revoked, or one
        that expired since, is neither re-activated nor made again, and a
        second run creates nothing. The secrets are dropped on the spot:
        never printed, logged or stored.
        """
        created = 0
        if reason := services.creation_disabled_reason():
            self.stdout.write(f"No demo API keys created: {reason}")
        else:
            for spec in DEMO_KEYS:
                project = projects[spec.project]
                if ApiKey.objects.filter(project=project, name=spec.name).exists():
                    continue
                try:
                    created += self._create(spec, project, users)
                except ApiKeyError as error:  # e.g. a look-alike name taken since
                    self.stderr.write(f"Demo API key {spec.name} skipped: {error.message}")
        total = ApiKey.objects.filter(project__in=projects.values()).count()
        self.stdout.write(
            self.style.SUCCESS(f"API keys in the demo projects: {total} ({created} created by this run).")
        )

    def _create(self, spec: DemoKey, project: Project, users: dict) -> bool:
        now = timezone.now()
        if spec.expires_in is not None and spec.expires_in < timedelta(0):
            self._create_expired(spec, project, users[spec.created_by], now)
            return True
        creator: dict = {"created_by": users[spec.created_by]}
        parent = None
        if spec.parent is not None:
            parent = ApiKey.objects.filter(project=project, name=spec.parent).active(now).first()
            if parent is None:
                self.stderr.write(f"Demo API key {spec.name} skipped: {spec.parent} is missing, revoked or expired.")
                return False
            creator = {"created_by_key": parent}
        api_key = services.api_key_create(
            project=project,
            name=spec.name,
            description=spec.description,
            tags=list(spec.tags),
            permissions=list(spec.permissions),
            expires_at=self._expiry(spec.expires_in, now, parent),
            allowed_ips=list(spec.allowed_ips),
            **creator,
        ).api_key
        if spec.used is not None:
            address, agent, needed = spec.used
            an_hour_ago = now - timedelta(hours=1)
            usage.touch_last_used(api_key, an_hour_ago, address, agent)
            for codename in needed:
                usage.record_permission_check(api_key, codename, an_hour_ago)
        if spec.revoked:
            services.api_key_revoke(api_key=api_key, revoked_by=users[spec.created_by])
        if spec.rolled is not None:
            services.api_key_roll(api_key=api_key, grace=spec.rolled, rolled_by=users[spec.created_by])
        return True

    @staticmethod
    def _expiry(expires_in: timedelta | None, now: datetime, parent: ApiKey | None) -> datetime | None:
        """`now + expires_in`, within the operator's lifetime policy and the parent key's expiry."""
        expires_at = now + expires_in if expires_in is not None else None
        if expires_at is None and settings.API_KEY_REQUIRE_EXPIRY:
            expires_at = now + 365 * DAY
        latest = services.latest_allowed_expiry(now, parent)
        if latest is not None and (expires_at is None or expires_at > latest):
            expires_at = latest
        return expires_at

    def _create_expired(self, spec: DemoKey, project: Project, user, now: datetime) -> None:
        """The expired key: written as api_key_create would have written it EXPIRED_KEY_LIFETIME ago.

        The service refuses an expiry in the past, and a key cannot be changed
        after its creation, so this one key is written with
        services.insert_key after the same checks (values, permissions the
        creator holds): a real keyed hash of a fresh secret that is then
        discarded, and its audit event.
        """
        created_at = now + spec.expires_in - EXPIRED_KEY_LIFETIME
        values = schema.parse(
            name=spec.name,
            description=spec.description,
            tags=list(spec.tags),
            permissions=list(spec.permissions),
            expires_at=self._expiry(EXPIRED_KEY_LIFETIME, created_at, None),
            now=created_at,
        )
        if not_held := set(values.permissions) - services.grantable_permissions(user=user, project=project):
            raise CommandError(f"Demo key {spec.name}: {user} does not hold {', '.join(sorted(not_held))}.")
        # The secret is dropped at once: nobody ever sees it.
        services.insert_key(values, project=project, created_by=user, now=created_at)
