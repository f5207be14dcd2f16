from django.urls import path

from apikeys import (
    api,
    converters,  # noqa: F401 - registers <public_id:…>
)

app_name = "api"

urlpatterns = [
    path("openapi.json", api.openapi, name="openapi"),
    path("whoami", api.whoami, name="whoami"),
    path("projects/<slug:slug>", api.project_detail, name="project"),
    path("projects/<slug:slug>/api-keys", api.key_collection, name="keys"),
    # A malformed key id falls through to config.urls' JSON 404 (api.not_found).
    path("projects/<slug:slug>/api-keys/<public_id:public_id>/revoke", api.key_revoke, name="key-revoke"),
    path("projects/<slug:slug>/api-keys/<public_id:public_id>/roll", api.key_roll, name="key-roll"),
]
