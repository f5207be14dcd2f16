from django.urls import path

from apikeys import views

app_name = "apikeys"

urlpatterns = [
    # The API Keys tab of a project
    path("", views.key_list, name="list"),
    path("create/", views.key_create, name="create"),
    # Keys are addressed by their public id, never the database pk.
    path("<str:public_id>/revoke/", views.key_revoke, name="revoke"),
]
