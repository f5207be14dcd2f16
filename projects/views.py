from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from projects import catalog
from projects.access import get_project_or_404
from projects.models import Project


def project_tabs(request: HttpRequest, project: Project, active: str) -> dict:
    """Context for the project's tab bar, shared by every project page."""
    user = request.user
    return {
        "project": project,
        "active_tab": active,
        "can_see_api_keys": user.has_perm(f"projects.{catalog.CREATE_API_KEYS}", project)
        or user.has_perm(f"projects.{catalog.READ_API_KEYS}", project),
    }


@require_GET
def project_list(request: HttpRequest):
    if request.user.is_superuser:
        projects = Project.objects.all()
    else:
        projects = Project.objects.filter(memberships__user=request.user)
    memberships = {
        m.project_id: m.role.name
        for m in request.user.memberships.select_related("role")
    }
    rows = [(project, memberships.get(project.pk)) for project in projects]
    return render(request, "projects/project_list.html", {"rows": rows})


@require_GET
def project_detail(request: HttpRequest, slug: str):
    project = get_project_or_404(request, slug)
    members = project.memberships.select_related("user", "role").order_by("user__username")
    context = project_tabs(request, project, "overview")
    context["members"] = members
    return render(request, "projects/project_detail.html", context)


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JsonResponse({"status": "error", "detail": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})
