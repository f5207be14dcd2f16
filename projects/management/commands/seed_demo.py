from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from projects import catalog
from projects.models import Membership, Project
from projects.roles import default_role

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


class Command(BaseCommand):
    help = "Create the demo roles, projects and users (password: <username>-password). Idempotent."

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

        projects = {}
        for slug, (name, description) in PROJECTS.items():
            projects[slug], _ = Project.objects.update_or_create(
                slug=slug, defaults={"name": name, "description": description}
            )

        User = get_user_model()
        for username, memberships in USERS.items():
            user = self._user(User, username, superuser=False)
            Membership.objects.filter(user=user).exclude(project__slug__in=memberships).delete()
            for slug, role_name in memberships.items():
                Membership.objects.update_or_create(
                    user=user, project=projects[slug], defaults={"role": roles[role_name]}
                )
        self._user(User, "admin", superuser=True)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready: alice, bob, carol, mallory and admin, each with password <username>-password."
            )
        )

    def _user(self, User, username: str, *, superuser: bool):
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        user.is_active = True
        user.is_staff = superuser
        user.is_superuser = superuser
        if not user.check_password(f"{username}-password"):
            user.set_password(f"{username}-password")
        user.save()
        return user
