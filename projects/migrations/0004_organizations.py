"""Organizations own projects (SPEC §8).

1. The organization tables and the default organization roles (a frozen copy
   of catalog.DEFAULT_ORGANIZATION_ROLES).
2. Existing projects go into one organization named DEFAULT_ORGANIZATION_NAME
   (slug "default"), whose Admins are those projects' Administrators: the
   users whose role in one of them holds can_become_administrator_in_project.
   Superusers appoint Owners in the admin.
3. Only then is a project's organization required.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import projects.models

# name -> (manages the organization, manages service accounts)
ORGANIZATION_ROLES = {"Owner": (True, True), "Admin": (False, True), "Member": (False, False)}


def organize_existing_projects(apps, schema_editor):
    OrganizationRole = apps.get_model("projects", "OrganizationRole")
    Organization = apps.get_model("projects", "Organization")
    OrganizationMembership = apps.get_model("projects", "OrganizationMembership")
    Project = apps.get_model("projects", "Project")
    Membership = apps.get_model("projects", "Membership")
    roles = {}
    for name, (manages_organization, manages_service_accounts) in ORGANIZATION_ROLES.items():
        roles[name], _ = OrganizationRole.objects.get_or_create(
            name=name,
            defaults={
                "manages_organization": manages_organization,
                "manages_service_accounts": manages_service_accounts,
            },
        )
    if not Project.objects.exists():
        return
    organization, _ = Organization.objects.get_or_create(
        slug="default", defaults={"name": settings.DEFAULT_ORGANIZATION_NAME}
    )
    Project.objects.filter(organization__isnull=True).update(organization=organization)
    administrators = (
        Membership.objects.filter(role__permissions__codename="can_become_administrator_in_project")
        .values_list("user_id", flat=True)
        .distinct()
    )
    for user_id in administrators:
        OrganizationMembership.objects.get_or_create(
            organization=organization, user_id=user_id, defaults={"role": roles["Admin"]}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_verbose_names_for_the_admin"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Organization",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("slug", models.SlugField(unique=True, verbose_name="slug")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
            ],
            options={
                "verbose_name": "organization",
                "verbose_name_plural": "organizations",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="OrganizationRole",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True, verbose_name="name")),
                ("description", models.TextField(blank=True, verbose_name="description")),
                (
                    "manages_organization",
                    models.BooleanField(
                        default=False,
                        help_text="Members, their roles (Owners included) and the service accounts' organization roles.",
                        verbose_name="manages the organization",
                    ),
                ),
                (
                    "manages_service_accounts",
                    models.BooleanField(
                        default=False,
                        help_text="Create, change, disable and delete service accounts, their project memberships and credentials.",
                        verbose_name="manages service accounts",
                    ),
                ),
            ],
            options={
                "verbose_name": "organization role",
                "verbose_name_plural": "organization roles",
                "ordering": ["-manages_organization", "-manages_service_accounts", "name"],
            },
        ),
        migrations.AddField(
            model_name="project",
            name="organization",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="projects",
                to="projects.organization",
                verbose_name="organization",
            ),
        ),
        migrations.CreateModel(
            name="OrganizationMembership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="projects.organization",
                        verbose_name="organization",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="organization_memberships",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
                (
                    "role",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="memberships",
                        to="projects.organizationrole",
                        verbose_name="role",
                    ),
                ),
            ],
            options={
                "verbose_name": "organization membership",
                "verbose_name_plural": "organization memberships",
                "ordering": ["organization", "user__username"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organization", "user"), name="one_membership_per_user_and_organization"
                    )
                ],
            },
        ),
        migrations.RunPython(organize_existing_projects, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="project",
            name="organization",
            field=models.ForeignKey(
                default=projects.models.default_organization,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="projects",
                to="projects.organization",
                verbose_name="organization",
            ),
        ),
    ]
