"""The only place that decides project permissions, for users and service accounts.

Views and templates ask Django: `user.has_perm("projects.<codename>", project)`.
Django's ModelBackend answers nothing about objects; this backend answers
from the user's role in the object's project, or, for a service account
(`service_account.has_perm(...)`, the same call), from the permission list
of its membership of that project. Organization roles grant no project
permission to either.
"""

from django.contrib.auth.backends import BaseBackend

from projects import catalog
from projects.models import Membership, Project

_CACHE_ATTR = "_project_permission_cache"


def project_of(obj) -> Project | None:
    """The project an object belongs to: the project itself or `obj.project`."""
    if isinstance(obj, Project):
        return obj
    project = getattr(obj, "project", None)
    return project if isinstance(project, Project) else None


def project_permissions(user, project: Project) -> frozenset[str] | None:
    """The codenames `user` holds in `project`, or None if not a member.

    Answered with one query per (user object, project) and remembered on the
    user object, which lives for one request, so repeated checks are free.
    Superusers count as members holding every permission; inactive users as
    nobody.
    """
    if not user.is_active or user.is_anonymous:
        return None  # an inactive user; a disabled or deleted service account
    if user.is_superuser:
        return catalog.CODENAMES
    cache = _cache(user)
    if project.pk not in cache:
        if getattr(user, "is_service_account", False):
            found = user.memberships.filter(project_id=project.pk).values_list("permissions", flat=True).first()
            cache[project.pk] = None if found is None else frozenset(found) & catalog.CODENAMES
            return cache[project.pk]
        rows = list(
            Membership.objects.filter(user=user, project_id=project.pk).values_list(
                "role__permissions__codename", flat=True
            )
        )
        # No row: no membership. A role without permissions gives one NULL row.
        # Only catalog codenames count (the admin offers no others for a role).
        cache[project.pk] = frozenset(code for code in rows if code in catalog.CODENAMES) if rows else None
    return cache[project.pk]


def _cache(user) -> dict:
    # getattr/setattr, not user.__dict__: request.user is a lazy wrapper whose
    # own __dict__ is not the user's, and has_perm() is called on the user.
    cache = getattr(user, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(user, _CACHE_ATTR, cache)
    return cache


def preload_project_permissions(user, projects) -> None:
    """Answer `project_permissions` for several projects with one query (a page that asks for each of a list)."""
    if not user.is_active or user.is_anonymous or user.is_superuser:
        return
    cache = _cache(user)
    wanted = {project.pk for project in projects} - cache.keys()
    if not wanted:
        return
    found: dict[int, set[str]] = {}
    if getattr(user, "is_service_account", False):
        for project_id, codes in user.memberships.filter(project_id__in=wanted).values_list(
            "project_id", "permissions"
        ):
            found[project_id] = set(codes)
    else:
        rows = Membership.objects.filter(user=user, project_id__in=wanted).values_list(
            "project_id", "role__permissions__codename"
        )
        for project_id, code in rows:
            found.setdefault(project_id, set()).add(code)
    for project_id in wanted:
        cache[project_id] = frozenset(found[project_id]) & catalog.CODENAMES if project_id in found else None


class ProjectPermissionBackend(BaseBackend):
    """Object permissions in a project; authenticates nobody (ModelBackend does).

    BaseBackend makes `user.get_all_permissions(project)` work; has_perm()
    answers the same without building the dotted names.
    """

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        project = project_of(obj) if obj is not None else None
        held = project_permissions(user_obj, project) if project is not None else None
        return {catalog.perm(code) for code in held} if held else set()

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        if obj is None:
            return False
        app_label, _, codename = perm.partition(".")
        if app_label != "projects":
            return False
        project = project_of(obj)
        if project is None:
            return False
        held = project_permissions(user_obj, project)
        return held is not None and codename in held
