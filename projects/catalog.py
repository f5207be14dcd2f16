"""The provider's project permission catalog, defined once.

Every permission is a Django permission of the `projects` app (see
`Project.Meta.permissions`), checked with
`user.has_perm("projects.<codename>", project)`. The codenames are the
provider's real names; keep them exactly.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext, pgettext_lazy


@dataclass(frozen=True)
class CatalogPermission:
    codename: str
    # Plain English: it is also Django's Permission.name (Meta.permissions,
    # migrations), which must stay a str. Pages show `display_label`.
    label: str
    group: str | Promise
    # For the create form's matrix: the resource (a plural noun) and the
    # action (create, read, update, delete) of a permission that is one cell
    # of a service's resources × actions grid. Role-like permissions have none.
    resource: str | Promise | None = None
    action: str | None = None
    # Why granting it to a key is dangerous, if it is: shown next to the
    # checkbox, and select-all and the "everything" preset skip it.
    danger: str | None = None

    @property
    def perm(self) -> str:
        """The dotted name Django's has_perm() expects."""
        return f"projects.{self.codename}"

    @property
    def display_label(self) -> Promise:
        """The label in the active language (lazy, so it is safe in class-level form choices)."""
        return gettext_lazy(self.label)

    @property
    def display_danger(self) -> Promise | None:
        return gettext_lazy(self.danger) if self.danger else None


# Service names are product names and stay as they are; "Project" is a word.
PROJECT = gettext_lazy("Project")
OPENSTACK = "OpenStack"
METAKUBE = "MetaKube"
DBAAS = "DBaaS"
OBSERVABILITY = "Observability"

GROUPS = (PROJECT, OPENSTACK, METAKUBE, DBAAS, OBSERVABILITY)

# Resources of the services, the rows of the create form's matrix.
CLUSTERS = gettext_lazy("Clusters")
SSH_KEYS = gettext_lazy("SSH keys")
DATABASES = gettext_lazy("Databases")
BACKUPS = gettext_lazy("Database backups")
ACTIONS = ("create", "read", "update", "delete")

CREATE_API_KEYS = "can_create_api_keys_in_project"
READ_API_KEYS = "can_read_api_keys_in_project"
READ_PROJECT = "can_read_project_in_project"

CATALOG: tuple[CatalogPermission, ...] = (
    CatalogPermission(
        "can_become_administrator_in_project",
        gettext_noop("Become administrator of the project"),
        PROJECT,
        danger=gettext_noop("The key can make itself administrator: full control of the project."),
    ),
    CatalogPermission(
        "can_crud_permissions_in_project",
        gettext_noop("Manage members and their permissions"),
        PROJECT,
        danger=gettext_noop("The key can add members and change what anyone may do in the project."),
    ),
    CatalogPermission(READ_PROJECT, gettext_noop("View the project"), PROJECT),
    CatalogPermission(
        "can_delete_project_in_project",
        gettext_noop("Delete the project"),
        PROJECT,
        danger=gettext_noop("The key can delete the project and everything in it."),
    ),
    CatalogPermission(
        CREATE_API_KEYS,
        gettext_noop("API Key Creation Permission: view, create and revoke API keys"),
        PROJECT,
        danger=gettext_noop(
            "The key can create further keys with its own permissions, and revoke this project's keys."
        ),
    ),
    CatalogPermission(READ_API_KEYS, gettext_noop("View API keys (read-only)"), PROJECT),
    CatalogPermission("can_become_viewer_in_openstack", gettext_noop("OpenStack viewer"), OPENSTACK),
    CatalogPermission("can_become_editor_in_openstack", gettext_noop("OpenStack editor"), OPENSTACK),
    CatalogPermission("can_create_clusters_in_metakube", gettext_noop("Create clusters"), METAKUBE, CLUSTERS, "create"),
    CatalogPermission("can_read_clusters_in_metakube", gettext_noop("View clusters"), METAKUBE, CLUSTERS, "read"),
    CatalogPermission("can_update_clusters_in_metakube", gettext_noop("Update clusters"), METAKUBE, CLUSTERS, "update"),
    CatalogPermission("can_delete_clusters_in_metakube", gettext_noop("Delete clusters"), METAKUBE, CLUSTERS, "delete"),
    CatalogPermission("can_create_ssh_keys_in_metakube", gettext_noop("Create SSH keys"), METAKUBE, SSH_KEYS, "create"),
    CatalogPermission("can_read_ssh_keys_in_metakube", gettext_noop("View SSH keys"), METAKUBE, SSH_KEYS, "read"),
    CatalogPermission("can_update_ssh_keys_in_metakube", gettext_noop("Update SSH keys"), METAKUBE, SSH_KEYS, "update"),
    CatalogPermission("can_delete_ssh_keys_in_metakube", gettext_noop("Delete SSH keys"), METAKUBE, SSH_KEYS, "delete"),
    CatalogPermission("can_create_databases_in_dbaas", gettext_noop("Create databases"), DBAAS, DATABASES, "create"),
    CatalogPermission("can_read_databases_in_dbaas", gettext_noop("View databases"), DBAAS, DATABASES, "read"),
    CatalogPermission("can_update_databases_in_dbaas", gettext_noop("Update databases"), DBAAS, DATABASES, "update"),
    CatalogPermission("can_delete_databases_in_dbaas", gettext_noop("Delete databases"), DBAAS, DATABASES, "delete"),
    CatalogPermission(
        "can_read_backups_from_databases_in_dbaas", gettext_noop("View database backups"), DBAAS, BACKUPS, "read"
    ),
    CatalogPermission("can_become_reader_in_observability", gettext_noop("Observability reader"), OBSERVABILITY),
    CatalogPermission("can_become_editor_in_observability", gettext_noop("Observability editor"), OBSERVABILITY),
    CatalogPermission("can_become_admin_in_observability", gettext_noop("Observability admin"), OBSERVABILITY),
)

BY_CODENAME: dict[str, CatalogPermission] = {p.codename: p for p in CATALOG}
CODENAMES: frozenset[str] = frozenset(BY_CODENAME)


def perm(codename: str) -> str:
    """The dotted name of a catalog codename, as Django's has_perm() expects."""
    return BY_CODENAME[codename].perm


# Permissions that only read: the Viewer role holds exactly these.
_READ_ONLY_EXTRAS = {"can_become_viewer_in_openstack", "can_become_reader_in_observability"}
READ_ONLY: frozenset[str] = frozenset(
    p.codename for p in CATALOG if p.codename.startswith("can_read_") or p.codename in _READ_ONLY_EXTRAS
)

# The default roles, defined here and nowhere else: projects.roles makes them
# (seed_demo, the tests). The data migration 0002 carries a frozen copy, so a
# change here needs a new data migration for existing databases.
ADMINISTRATOR = "Administrator"
MEMBER = "Member"
VIEWER = "Viewer"

_NOT_FOR_MEMBERS = {
    "can_become_administrator_in_project",
    "can_crud_permissions_in_project",
    "can_delete_project_in_project",
}

DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    ADMINISTRATOR: tuple(p.codename for p in CATALOG),
    MEMBER: tuple(p.codename for p in CATALOG if p.codename not in _NOT_FOR_MEMBERS),
    VIEWER: tuple(p.codename for p in CATALOG if p.codename in READ_ONLY),
}

# Their names as pages show them. A role's row keeps its English name (code and
# the data migration look roles up by it); a role an admin added or renamed is
# shown as it is named.
ROLE_NAMES = {
    ADMINISTRATOR: pgettext_lazy("role", "Administrator"),
    MEMBER: pgettext_lazy("role", "Member"),
    VIEWER: pgettext_lazy("role", "Viewer"),
}

# The default organization roles (projects.models.OrganizationRole): name ->
# (manages the organization, manages service accounts). Organization roles
# grant no project permission. Migration 0004 carries a frozen copy.
OWNER = "Owner"
ADMIN = "Admin"
ORGANIZATION_MEMBER = MEMBER  # "Member", in an organization as in a project
DEFAULT_ORGANIZATION_ROLES: dict[str, tuple[bool, bool]] = {
    OWNER: (True, True),
    ADMIN: (False, True),
    ORGANIZATION_MEMBER: (False, False),
}
ROLE_NAMES[OWNER] = pgettext_lazy("role", "Owner")
ROLE_NAMES[ADMIN] = pgettext_lazy("role", "Admin")


def role_name(name: str) -> str:
    """A role's name in the active language: a default role's translation, any other role's own name."""
    translated = ROLE_NAMES.get(name)
    return str(translated) if translated is not None else name


def grouped(codenames) -> list[tuple[str, list[CatalogPermission]]]:
    """The given codenames as catalog entries grouped by service, in catalog order."""
    wanted = set(codenames)
    # Groups are compared by identity: "Project" is a lazy translation, and
    # == would translate it on every comparison (this runs for every listed key).
    buckets: dict[int, tuple[str, list[CatalogPermission]]] = {}
    for entry in CATALOG:
        if entry.codename in wanted:
            buckets.setdefault(id(entry.group), (entry.group, []))[1].append(entry)
    return [buckets[id(group)] for group in GROUPS if id(group) in buckets]


def label(codename: str) -> str:
    entry = BY_CODENAME.get(codename)
    return entry.label if entry else codename


# Permissions a key should get only on purpose (see CatalogPermission.danger).
DANGEROUS: frozenset[str] = frozenset(p.codename for p in CATALOG if p.danger)


# How the key table names an action on a resource, after the resource's name.
ACTION_NAMES = {
    "create": pgettext_lazy("permission action", "create"),
    "read": pgettext_lazy("permission action", "view"),
    "update": pgettext_lazy("permission action", "update"),
    "delete": pgettext_lazy("permission action", "delete"),
}


@dataclass(frozen=True)
class CompactLabel:
    text: str
    danger: str | None = None


# Each matrix resource's cells, by the resource's identity (it is a lazy
# translation: compared by identity, as in grouped()).
_RESOURCE_CELLS: dict[int, list[CatalogPermission]] = {}
for _entry in CATALOG:
    if _entry.resource is not None:
        _RESOURCE_CELLS.setdefault(id(_entry.resource), []).append(_entry)


def compact(codenames) -> list[CompactLabel]:
    """The permissions as short labels, in catalog order: a resource's actions
    share one label ("Clusters: create, view"; "SSH keys: all"), the others
    keep their own. Dangerous ones carry their reason."""
    wanted = set(codenames)
    labels: list[CompactLabel] = []
    done: set[int] = set()
    for entry in CATALOG:
        if entry.codename not in wanted:
            continue
        if entry.resource is None:
            labels.append(CompactLabel(str(entry.display_label), str(entry.display_danger or "") or None))
            continue
        if id(entry.resource) in done:
            continue
        done.add(id(entry.resource))
        cells = _RESOURCE_CELLS[id(entry.resource)]
        held = [cell for cell in cells if cell.codename in wanted]
        if len(held) == len(cells) and len(cells) > 1:
            actions = gettext("all")
        else:
            actions = ", ".join(str(ACTION_NAMES[cell.action]) for cell in held)
        labels.append(CompactLabel(f"{entry.resource}: {actions}"))
    return labels


def summary(codenames) -> str:
    """ "8 permissions · read-only · 2 dangerous" """
    codes = set(codenames)
    parts = [ngettext("%(count)s permission", "%(count)s permissions", len(codes)) % {"count": len(codes)}]
    if codes and codes <= READ_ONLY:
        parts.append(gettext("read-only"))
    if dangerous := len(codes & DANGEROUS):
        parts.append(ngettext("%(count)s dangerous", "%(count)s dangerous", dangerous) % {"count": dangerous})
    return " · ".join(parts)
