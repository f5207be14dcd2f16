from django.urls import path

from apikeys import (
    converters,  # noqa: F401 - registers <public_id:…>
    views,
)
from serviceaccounts import views as service_account_views

app_name = "apikeys"

urlpatterns = [
    # The API Keys tab of a project
    path("", views.key_list, name="list"),
    path("create/", views.key_create, name="create"),
    # Keys are addressed by their public id, never the database pk; anything
    # not shaped like one is a 404 before the view.
    path("<public_id:public_id>/", views.key_detail, name="detail"),
    path("<public_id:public_id>/revoke/", views.key_revoke, name="revoke"),
    path("<public_id:public_id>/roll/", views.key_roll, name="roll"),
    # "Move to a service account" (SPEC §8): the successor of API keys.
    path("<public_id:public_id>/move/", service_account_views.key_move, name="move"),
]
