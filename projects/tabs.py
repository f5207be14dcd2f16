"""The tab bar of a project's pages (templates/projects/_tabs.html).

Overview is the projects app's own tab; other apps add theirs with
`register()` from their AppConfig.ready(), so this module knows nothing of
them. Tabs show in the order they were registered.
"""

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from projects.models import Project


@dataclass(frozen=True)
class Tab:
    name: str  # what a page passes as `active` to project_tabs()
    label: str | Promise  # lazy, so it is shown in the request's language
    url_name: str  # reversed with the project's slug
    # Shown to users holding any of these (dotted names) in the project; () for every member.
    perms: tuple[str, ...] = ()


_TABS: dict[str, Tab] = {}


def register(tab: Tab) -> None:
    """Add a tab (registering a name again replaces it in place)."""
    _TABS[tab.name] = tab


register(Tab("overview", gettext_lazy("Overview"), "projects:detail"))


def project_tabs(request: HttpRequest, project: Project, active: str) -> dict:
    """Context for the project's tab bar, shared by every project page."""
    user = request.user
    return {
        "project": project,
        "active_tab": active,
        "tabs": [
            {"name": tab.name, "label": tab.label, "url": reverse(tab.url_name, args=[project.slug])}
            for tab in _TABS.values()
            if not tab.perms or any(user.has_perm(perm, project) for perm in tab.perms)
        ],
    }
