from django.urls import path

from apikeys import converters  # noqa: F401 - registers <public_id:…>
from serviceaccounts import views

app_name = "serviceaccounts"

# Under /orgs/<org_slug>/service-accounts/; accounts and credentials are addressed by their public ids.
urlpatterns = [
    path("", views.account_list, name="list"),
    path("create/", views.account_create, name="create"),
    path("<public_id:public_id>/", views.account_detail, name="detail"),
    path("<public_id:public_id>/edit/", views.account_edit, name="edit"),
    path("<public_id:public_id>/disable/", views.account_disable, {"disable": True}, name="disable"),
    path("<public_id:public_id>/enable/", views.account_disable, {"disable": False}, name="enable"),
    path("<public_id:public_id>/delete/", views.account_delete, name="delete"),
    path("<public_id:public_id>/role/", views.account_role, name="role"),
    path("<public_id:public_id>/projects/add/", views.membership_add, name="membership_add"),
    path("<public_id:public_id>/projects/<slug:project_slug>/", views.membership_edit, name="membership"),
    path(
        "<public_id:public_id>/projects/<slug:project_slug>/remove/",
        views.membership_remove,
        name="membership_remove",
    ),
    path("<public_id:public_id>/credentials/create/", views.credential_create, name="credential_create"),
    path(
        "<public_id:public_id>/credentials/<public_id:credential_id>/revoke/",
        views.credential_revoke,
        name="credential_revoke",
    ),
]
