"""The one loader views use to reach a project."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext

from projects import catalog
from projects.backends import project_permissions
from projects.models import Project


def get_project_or_404(request, slug: str, codename: str | None = None) -> Project:
    """The project, if the user may see it.

    1. No such project, or the user is not a member: 404 (its existence is
       not revealed).
    2. A member without `codename`: 403 naming the missing permission.
    """
    project = get_object_or_404(Project, slug=slug)
    if project_permissions(request.user, project) is None:
        raise Http404("No such project.")
    if codename and not request.user.has_perm(catalog.perm(codename), project):
        raise PermissionDenied(missing_permission_message(codename))
    return project


def missing_permission_message(codename: str) -> str:
    return gettext("You need the permission “%(label)s” (%(codename)s) in this project.") % {
        "label": gettext(catalog.label(codename)),
        "codename": codename,
    }
