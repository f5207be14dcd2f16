"""Create the catalog's Permission rows and the three default roles.

Permission rows are normally made after all migrations by post_migrate; the
roles need them now, so they are created here. The data is a frozen copy of
projects/catalog.py (CATALOG, DEFAULT_ROLES) as of this migration: an old
migration must not change when the catalog does. A later change to the
default roles needs a new data migration (tests/test_seed_demo.py compares
this copy with the catalog).
"""

from django.db import migrations

# (codename, name) of the catalog's Permission rows.
PERMISSIONS = (
    ("can_become_administrator_in_project", "Become administrator of the project"),
    ("can_crud_permissions_in_project", "Manage members and their permissions"),
    ("can_read_project_in_project", "View the project"),
    ("can_delete_project_in_project", "Delete the project"),
    ("can_create_api_keys_in_project", "API Key Creation Permission: view, create and revoke API keys"),
    ("can_read_api_keys_in_project", "View API keys (read-only)"),
    ("can_become_viewer_in_openstack", "OpenStack viewer"),
    ("can_become_editor_in_openstack", "OpenStack editor"),
    ("can_create_clusters_in_metakube", "Create clusters"),
    ("can_read_clusters_in_metakube", "View clusters"),
    ("can_update_clusters_in_metakube", "Update clusters"),
    ("can_delete_clusters_in_metakube", "Delete clusters"),
    ("can_create_ssh_keys_in_metakube", "Create SSH keys"),
    ("can_read_ssh_keys_in_metakube", "View SSH keys"),
    ("can_update_ssh_keys_in_metakube", "Update SSH keys"),
    ("can_delete_ssh_keys_in_metakube", "Delete SSH keys"),
    ("can_create_databases_in_dbaas", "Create databases"),
    ("can_read_databases_in_dbaas", "View databases"),
    ("can_update_databases_in_dbaas", "Update databases"),
    ("can_delete_databases_in_dbaas", "Delete databases"),
    ("can_read_backups_from_databases_in_dbaas", "View database backups"),
    ("can_become_reader_in_observability", "Observability reader"),
    ("can_become_editor_in_observability", "Observability editor"),
    ("can_become_admin_in_observability", "Observability admin"),
)

# role name -> codenames
ROLES = {
    "Administrator": (
        "can_become_administrator_in_project",
        "can_crud_permissions_in_project",
        "can_read_project_in_project",
        "can_delete_project_in_project",
        "can_create_api_keys_in_project",
        "can_read_api_keys_in_project",
        "can_become_viewer_in_openstack",
        "can_become_editor_in_openstack",
        "can_create_clusters_in_metakube",
        "can_read_clusters_in_metakube",
        "can_update_clusters_in_metakube",
        "can_delete_clusters_in_metakube",
        "can_create_ssh_keys_in_metakube",
        "can_read_ssh_keys_in_metakube",
        "can_update_ssh_keys_in_metakube",
        "can_delete_ssh_keys_in_metakube",
        "can_create_databases_in_dbaas",
        "can_read_databases_in_dbaas",
        "can_update_databases_in_dbaas",
        "can_delete_databases_in_dbaas",
        "can_read_backups_from_databases_in_dbaas",
        "can_become_reader_in_observability",
        "can_become_editor_in_observability",
        "can_become_admin_in_observability",
    ),
    "Member": (
        "can_read_project_in_project",
        "can_create_api_keys_in_project",
        "can_read_api_keys_in_project",
        "can_become_viewer_in_openstack",
        "can_become_editor_in_openstack",
        "can_create_clusters_in_metakube",
        "can_read_clusters_in_metakube",
        "can_update_clusters_in_metakube",
        "can_delete_clusters_in_metakube",
        "can_create_ssh_keys_in_metakube",
        "can_read_ssh_keys_in_metakube",
        "can_update_ssh_keys_in_metakube",
        "can_delete_ssh_keys_in_metakube",
        "can_create_databases_in_dbaas",
        "can_read_databases_in_dbaas",
        "can_update_databases_in_dbaas",
        "can_delete_databases_in_dbaas",
        "can_read_backups_from_databases_in_dbaas",
        "can_become_reader_in_observability",
        "can_become_editor_in_observability",
        "can_become_admin_in_observability",
    ),
    "Viewer": (
        "can_read_project_in_project",
        "can_read_api_keys_in_project",
        "can_become_viewer_in_openstack",
        "can_read_clusters_in_metakube",
        "can_read_ssh_keys_in_metakube",
        "can_read_databases_in_dbaas",
        "can_read_backups_from_databases_in_dbaas",
        "can_become_reader_in_observability",
    ),
}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Role = apps.get_model("projects", "Role")
    content_type, _ = ContentType.objects.get_or_create(app_label="projects", model="project")
    by_codename = {}
    for codename, name in PERMISSIONS:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        by_codename[codename] = permission
    for name, codenames in ROLES.items():
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
