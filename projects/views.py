from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config import ratelimit
from projects import catalog
from projects.access import get_project_or_404
from projects.models import Project


def project_tabs(request: HttpRequest, project: Project, active: str) -> dict:
    """Context for the project's tab bar, shared by every project page."""
    user = request.user
    return {
        "project": project,
        "active_tab": active,
        "create_url": reverse("apikeys:create", args=[project.slug]),
        "can_see_api_keys": user.has_perm(f"projects.{catalog.CREATE_API_KEYS}", project)
        or user.has_perm(f"projects.{catalog.READ_API_KEYS}", project),
    }


@require_safe
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


@require_safe
def project_detail(request: HttpRequest, slug: str):
    project = get_project_or_404(request, slug)
    members = project.memberships.select_related("user", "role").order_by("user__username")
    context = project_tabs(request, project, "overview")
    context["members"] = members
    return render(request, "projects/project_detail.html", context)


@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JsonResponse({"status": "error", "detail": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


class LoginView(auth_views.LoginView):
    """Django's log-in under the log-in policy (config.ratelimit).

    The console's log-in page, and the admin's (config.admin), so that one
    policy counts every failure. Past a limit the password is not even
    checked, so guessing stops being useful; only failures count and a
    success clears the username's count. If the cache is down the limit fails
    open (logged).
    """

    redirect_authenticated_user = True

    def _username(self) -> str:
        return self.request.POST.get("username") or ""

    def post(self, request, *args, **kwargs):
        if not ratelimit.login_allowed(request, self._username()):
            # An unbound form: validating it would check the password.
            form = self.get_form_class()(request, initial={"username": self._username()[:150]})
            context = self.get_context_data(form=form, throttled=ratelimit.login_refused_message())
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        ratelimit.login_failed(self.request, self._username())
        return super().form_invalid(form)

    def form_valid(self, form):
        ratelimit.login_succeeded(self.request, self._username())
        return super().form_valid(form)
