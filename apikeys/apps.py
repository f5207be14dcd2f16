from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = gettext_lazy("API keys")

    def ready(self):
        from projects import catalog, tabs

        # The project's "API Keys" tab: for holders of either key permission
        # (the read-only one sees the list without actions).
        tabs.register(
            tabs.Tab(
                "api_keys",
                gettext_lazy("API Keys"),
                "apikeys:list",
                perms=(catalog.perm(catalog.CREATE_API_KEYS), catalog.perm(catalog.READ_API_KEYS)),
            )
        )
