from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from accounts.views import set_language
from apikeys import api
from config import health

urlpatterns = [
    # Health check for load balancers: no session, no log-in.
    path("healthz", health.healthz, name="healthz"),
    # Programmatic API, right after: every key check resolves its URL, and
    # Django tries the patterns in order (none of the others start with api).
    path("api/v1/", include("apikeys.api_urls")),
    # Anything else under /api/ (an unknown path, a slug the routes refuse): a JSON 404.
    re_path(r"^api(?:/|$)", api.not_found),
    # Log-in and log-out (URL names "login" and "logout")
    path("accounts/", include("accounts.urls")),
    # Language switcher: django.conf.urls.i18n's view, open to logged-out users
    # too (the log-in page has the switcher); remembers a user's choice.
    path("i18n/setlang/", set_language, name="set_language"),
    # Console
    path("", RedirectView.as_view(pattern_name="projects:list", permanent=False)),
    path("projects/", include("projects.urls")),
    path("projects/<slug:slug>/api-keys/", include("apikeys.urls")),
    path("orgs/<slug:org_slug>/service-accounts/", include("serviceaccounts.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]
