from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceAccountsConfig(AppConfig):
    name = "serviceaccounts"
    verbose_name = _("Service accounts")
