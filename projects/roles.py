"""The default roles (catalog.DEFAULT_ROLES) as rows: the one function that makes them.

Used by seed_demo and the tests. The data migration 0002 creates them on a
fresh database from its own frozen copy, as a migration must.
"""

from projects import catalog
from projects.models import Role, catalog_permissions


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
