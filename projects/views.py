from django.http import HttpRequest
from django.shortcuts import render
from django.views.decorators.http import require_safe

from projects.access import get_project_or_404
from projects.models import Project
from projects.tabs import project_tabs
from serviceaccounts.views import service_account_members


@require_safe
def project_list(request: HttpRequest):
    if request.user.is_superuser:
        projects = Project.objects.all()
    else:
        projects = Project.objects.filter(memberships__user=request.user)
    memberships = {m.project_id: m.role.display_name for m in request.user.memberships.select_related("role")}
    rows = [(project, memberships.get(project.pk)) for project in projects]
    return render(request, "projects/project_list.html", {"rows": rows})


@require_safe
def project_detail(request: HttpRequest, slug: str):
    project = get_project_or_404(request, slug)
    members = project.memberships.select_related("user", "role").order_by("user__username")
    context = project_tabs(request, project, "overview")
    context["members"] = members
    context.update(service_account_members(request, project))
    return render(request, "projects/project_detail.html", context)
