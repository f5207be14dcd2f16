from django.urls import path

from apikeys import api

app_name = "api"

urlpatterns = [
    path("openapi.json", api.openapi, name="openapi"),
    path("whoami", api.whoami, name="whoami"),
    path("projects/<slug:slug>", api.project_detail, name="project"),
    path("projects/<slug:slug>/api-keys", api.key_collection, name="keys"),
    path("projects/<slug:slug>/api-keys/<str:public_id>/revoke", api.key_revoke, name="key-revoke"),
]
