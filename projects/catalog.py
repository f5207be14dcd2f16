"""The provider's project permission catalog, defined once.

Every permission is a Django permission of the `projects` app (see
`Project.Meta.permissions`), checked with
`user.has_perm("projects.<codename>", project)`. The codenames are the
provider's real names; keep them exactly.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogPermission:
    codename: str
    label: str
    group: str

    @property
    def perm(self) -> str:
        """The dotted name Django's has_perm() expects."""
        return f"projects.{self.codename}"


PROJECT = "Project"
OPENSTACK = "OpenStack"
METAKUBE = "MetaKube"
DBAAS = "DBaaS"
OBSERVABILITY = "Observability"

GROUPS = (PROJECT, OPENSTACK, METAKUBE, DBAAS, OBSERVABILITY)

CREATE_API_KEYS = "can_create_api_keys_in_project"
READ_API_KEYS = "can_read_api_keys_in_project"
READ_PROJECT = "can_read_project_in_project"

CATALOG: tuple[CatalogPermission, ...] = (
    CatalogPermission("can_become_administrator_in_project", "Become administrator of the project", PROJECT),
    CatalogPermission("can_crud_permissions_in_project", "Manage members and their permissions", PROJECT),
    CatalogPermission(READ_PROJECT, "View the project", PROJECT),
    CatalogPermission("can_delete_project_in_project", "Delete the project", PROJECT),
    CatalogPermission(CREATE_API_KEYS, "API Key Creation Permission: view, create and revoke API keys", PROJECT),
    CatalogPermission(READ_API_KEYS, "View API keys (read-only)", PROJECT),
    CatalogPermission("can_become_viewer_in_openstack", "OpenStack viewer", OPENSTACK),
    CatalogPermission("can_become_editor_in_openstack", "OpenStack editor", OPENSTACK),
    CatalogPermission("can_create_clusters_in_metakube", "Create clusters", METAKUBE),
    CatalogPermission("can_read_clusters_in_metakube", "View clusters", METAKUBE),
    CatalogPermission("can_update_clusters_in_metakube", "Update clusters", METAKUBE),
    CatalogPermission("can_delete_clusters_in_metakube", "Delete clusters", METAKUBE),
    CatalogPermission("can_create_ssh_keys_in_metakube", "Create SSH keys", METAKUBE),
    CatalogPermission("can_read_ssh_keys_in_metakube", "View SSH keys", METAKUBE),
    CatalogPermission("can_update_ssh_keys_in_metakube", "Update SSH keys", METAKUBE),
    CatalogPermission("can_delete_ssh_keys_in_metakube", "Delete SSH keys", METAKUBE),
    CatalogPermission("can_create_databases_in_dbaas", "Create databases", DBAAS),
    CatalogPermission("can_read_databases_in_dbaas", "View databases", DBAAS),
    CatalogPermission("can_update_databases_in_dbaas", "Update databases", DBAAS),
    CatalogPermission("can_delete_databases_in_dbaas", "Delete databases", DBAAS),
    CatalogPermission("can_read_backups_from_databases_in_dbaas", "View database backups", DBAAS),
    CatalogPermission("can_become_reader_in_observability", "Observability reader", OBSERVABILITY),
    CatalogPermission("can_become_editor_in_observability", "Observability editor", OBSERVABILITY),
    CatalogPermission("can_become_admin_in_observability", "Observability admin", OBSERVABILITY),
)

BY_CODENAME: dict[str, CatalogPermission] = {p.codename: p for p in CATALOG}
CODENAMES: frozenset[str] = frozenset(BY_CODENAME)

# The default roles (SPEC §6), created by a data migration and by seed_demo.
ADMINISTRATOR = "Administrator"
MEMBER = "Member"
VIEWER = "Viewer"

_NOT_FOR_MEMBERS = {
    "can_become_administrator_in_project",
    "can_crud_permissions_in_project",
    "can_delete_project_in_project",
}
_VIEWER_EXTRAS = {"can_become_viewer_in_openstack", "can_become_reader_in_observability"}

DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    ADMINISTRATOR: tuple(p.codename for p in CATALOG),
    MEMBER: tuple(p.codename for p in CATALOG if p.codename not in _NOT_FOR_MEMBERS),
    VIEWER: tuple(
        p.codename for p in CATALOG if p.codename.startswith("can_read_") or p.codename in _VIEWER_EXTRAS
    ),
}


def grouped(codenames) -> list[tuple[str, list[CatalogPermission]]]:
    """The given codenames as catalog entries grouped by service, in catalog order."""
    wanted = set(codenames)
    return [
        (group, [p for p in CATALOG if p.group == group and p.codename in wanted])
        for group in GROUPS
        if any(p.group == group and p.codename in wanted for p in CATALOG)
    ]


def label(codename: str) -> str:
    entry = BY_CODENAME.get(codename)
    return entry.label if entry else codename
