from django.urls import path

from apikeys import (
    api,
    converters,  # noqa: F401 - registers <public_id:…>
)
from serviceaccounts import api as accounts_api

app_name = "api"

urlpatterns = [
    path("openapi.json", api.openapi, name="openapi"),
    path("whoami", api.whoami, name="whoami"),
    path("projects/<slug:slug>", api.project_detail, name="project"),
    path("projects/<slug:slug>/api-keys", api.key_collection, name="keys"),
    # A malformed key id falls through to config.urls' JSON 404 (api.not_found).
    path("projects/<slug:slug>/api-keys/<public_id:public_id>/revoke", api.key_revoke, name="key-revoke"),
    path("projects/<slug:slug>/api-keys/<public_id:public_id>/roll", api.key_roll, name="key-roll"),
    # Service accounts (SPEC §8): managed by a credential of an organization Admin service account.
    path("orgs/<slug:slug>/service-accounts", accounts_api.account_collection, name="service-accounts"),
    path(
        "orgs/<slug:slug>/service-accounts/<public_id:account_id>",
        accounts_api.account_detail,
        name="service-account",
    ),
    path(
        "orgs/<slug:slug>/service-accounts/<public_id:account_id>/projects/<slug:project_slug>",
        accounts_api.account_membership,
        name="service-account-membership",
    ),
    path(
        "orgs/<slug:slug>/service-accounts/<public_id:account_id>/credentials",
        accounts_api.credential_collection,
        name="credentials",
    ),
    path(
        "orgs/<slug:slug>/service-accounts/<public_id:account_id>/credentials/<public_id:public_id>/revoke",
        accounts_api.credential_revoke,
        name="credential-revoke",
    ),
]
