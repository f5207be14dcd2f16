"""The default roles (catalog.DEFAULT_ROLES) as rows: the one function that makes them.

Used by seed_demo and the tests. The data migration 0002 creates them on a
fresh database from its own frozen copy, as a migration must.
"""

from projects import catalog
from projects.models import OrganizationRole, Role, catalog_permissions


def default_role(name: str, *, reset: bool = False) -> Role:
    """The default role `name`, created with its catalog permissions if missing.

    An existing role keeps what an admin made of it, unless `reset` gives it
    back exactly its default permissions (seed_demo restores the demo state).
    """
    codenames = catalog.DEFAULT_ROLES[name]
    role, created = Role.objects.get_or_create(name=name)
    if created or reset:
        role.permissions.set(catalog_permissions().filter(codename__in=codenames))
    return role


def default_organization_role(name: str) -> OrganizationRole:
    """The default organization role `name` (Owner, Admin or Member), created if missing, its flags restored."""
    manages_organization, manages_service_accounts = catalog.DEFAULT_ORGANIZATION_ROLES[name]
    role, _ = OrganizationRole.objects.update_or_create(
        name=name,
        defaults={"manages_organization": manages_organization, "manages_service_accounts": manages_service_accounts},
    )
    return role
