"""Create the catalog's Permission rows and the three default roles (SPEC §6).

Permission rows are normally made after all migrations by post_migrate; the
roles need them now, so they are created here from the same catalog.
"""

from django.db import migrations

from projects import catalog


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Role = apps.get_model("projects", "Role")
    content_type, _ = ContentType.objects.get_or_create(app_label="projects", model="project")
    by_codename = {}
    for entry in catalog.CATALOG:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=entry.codename, defaults={"name": entry.label}
        )
        by_codename[entry.codename] = permission
    for name, codenames in catalog.DEFAULT_ROLES.items():
        role, created = Role.objects.get_or_create(name=name)
        if created:
            role.permissions.set([by_codename[c] for c in codenames])


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
