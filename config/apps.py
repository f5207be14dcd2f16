from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin with our site (Django's documented way to replace the default site)."""

    default_site = "config.admin.ConsoleAdminSite"
