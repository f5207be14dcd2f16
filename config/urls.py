from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from projects import views as project_views

urlpatterns = [
    # Health check for load balancers: no session, no log-in.
    path("healthz", project_views.healthz, name="healthz"),
    # Log-in and log-out
    path("accounts/login/", project_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Console
    path("", RedirectView.as_view(pattern_name="projects:list", permanent=False)),
    path("projects/", include("projects.urls")),
    path("projects/<slug:slug>/api-keys/", include("apikeys.urls")),
    # Programmatic API
    path("api/v1/", include("apikeys.api_urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]
