"""The API for service accounts (SPEC §8): credentials on /api/v1/, and the organization API.

A credential authenticates the same endpoints as a key, through the same
path (failure limits, Sunset, allowed addresses, usage), with the permissions
of its service account's membership of each project, read on every request.
"""

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from projects import catalog
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent
from tests.factories import (
    ApiKeyFactory,
    CredentialFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceAccountFactory,
)

pytestmark = pytest.mark.django_db

EVERYTHING = sorted(catalog.CODENAMES)
READ = [catalog.READ_PROJECT]
LATER = (timezone.now() + timedelta(days=30)).isoformat()


@pytest.fixture
def org():
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def web(org):
    return ProjectFactory(organization=org, slug="web", name="Web")


@pytest.fixture
def data(org):
    return ProjectFactory(organization=org, slug="data", name="Data")


@pytest.fixture
def automation(org, web, data):
    """A credential of an organization Admin service account holding everything in both projects."""
    account = ServiceAccountFactory(
        organization=org, name="terraform", admin=True, projects={web: EVERYTHING, data: EVERYTHING}
    )
    return CredentialFactory(service_account=account)


def bearer(credential) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {credential if isinstance(credential, str) else credential.secret}"}


def send(client, method, path, credential, body=None, **extra):
    kwargs = {"content_type": "application/json", "data": json.dumps(body)} if body is not None else {}
    return getattr(client, method.lower())(path, **kwargs, **bearer(credential), **extra)


# -- credentials on the project API --------------------------------------------------------


def test_whoami_answers_in_the_service_account_shape(client, org, web, data):
    account = ServiceAccountFactory(organization=org, name="ci", projects={web: READ, data: EVERYTHING})
    credential = CredentialFactory(service_account=account, name="first")

    body = client.get("/api/v1/whoami", **bearer(credential)).json()

    assert body == {
        "type": "service_account",
        "id": account.public_id,
        "name": "ci",
        "organization": "acme",
        "credential": {
            "id": credential.public_id,
            "name": "first",
            "expires_at": credential.expires_at.isoformat().replace("+00:00", "Z"),
        },
        "projects": [
            {"slug": "data", "permissions": EVERYTHING_IN_CATALOG_ORDER},
            {"slug": "web", "permissions": READ},
        ],
    }


EVERYTHING_IN_CATALOG_ORDER = [p.codename for p in catalog.CATALOG]


def test_project_endpoints_check_the_membership_of_that_project(client, org, web, data):
    credential = CredentialFactory(service_account=ServiceAccountFactory(organization=org, projects={web: READ}))
    elsewhere = ProjectFactory(slug="elsewhere")  # another organization

    assert client.get("/api/v1/projects/web", **bearer(credential)).status_code == 200
    assert client.get("/api/v1/projects/data", **bearer(credential)).status_code == 404  # same organization, no member
    assert client.get(f"/api/v1/projects/{elsewhere.slug}", **bearer(credential)).status_code == 404
    refused = client.get("/api/v1/projects/web/api-keys", **bearer(credential))
    assert refused.status_code == 403
    assert "can_create_api_keys_in_project" in refused.json()["detail"]


def test_whoami_permission_asks_per_project_and_records_the_use(client, org, web):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    credential = CredentialFactory(service_account=account)
    ask = "/api/v1/whoami?permission=can_read_project_in_project"

    assert client.get(ask, **bearer(credential)).status_code == 400  # which project?
    assert client.get(ask + "&project=web", **bearer(credential)).status_code == 200
    assert client.get(ask + "&project=data", **bearer(credential)).status_code == 404
    denied = client.get("/api/v1/whoami?permission=can_read_clusters_in_metakube&project=web", **bearer(credential))

    assert denied.status_code == 403 and "can_read_clusters_in_metakube" in denied.json()["detail"]
    membership = account.memberships.get()
    assert set(membership.permissions_used) == {catalog.READ_PROJECT}
    assert set(membership.permissions_refused) == {"can_read_clusters_in_metakube"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/projects/web/api-keys", {"name": "x", "permissions": READ}),
        ("POST", "/api/v1/projects/web/api-keys/{key}/roll", {"grace_seconds": 0}),
        ("POST", "/api/v1/projects/web/api-keys/{key}/revoke", None),
    ],
)
def test_credentials_cannot_create_roll_or_revoke_api_keys(client, org, web, method, path, body):
    credential = CredentialFactory(service_account=ServiceAccountFactory(organization=org, projects={web: EVERYTHING}))
    key = ApiKeyFactory(project=web, permissions=READ)

    response = send(client, method, path.format(key=key.public_id), credential, body)

    assert response.status_code == 403
    assert "do not mint each other" in response.json()["detail"]
    key.refresh_from_db()
    assert (ApiKey.objects.count(), key.revoked_at, key.successor_id) == (1, None, None)


def test_a_refused_credential_is_told_why_and_counts_against_the_failure_limit(client, settings, org, web):
    settings.API_AUTH_FAILURE_LIMIT = 2
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    credential = CredentialFactory(service_account=account)
    account.disabled_at = timezone.now()
    account.save(update_fields=["disabled_at"])

    first = client.get("/api/v1/whoami", **bearer(credential))
    client.get("/api/v1/whoami", **bearer(credential))
    third = client.get("/api/v1/whoami", **bearer(credential))

    assert first.status_code == 401 and first.json()["detail"] == "The service account of this credential is disabled."
    assert third.status_code == 429


def test_credentials_get_sunset_and_their_allowed_addresses(client, org, web):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    credential = CredentialFactory(service_account=account, allowed_ips=["192.0.2.0/24"])

    inside = client.get("/api/v1/whoami", REMOTE_ADDR="192.0.2.9", **bearer(credential))
    outside = client.get("/api/v1/whoami", REMOTE_ADDR="203.0.113.9", **bearer(credential))

    assert inside.status_code == 200 and inside["Sunset"]
    assert outside.status_code == 403 and outside.json()["error"] == "ip_not_allowed"
    credential.refresh_from_db()
    assert credential.last_used_ip == "192.0.2.9"


def test_a_credential_call_costs_three_queries(client, org, web, django_assert_num_queries):
    credential = CredentialFactory(service_account=ServiceAccountFactory(organization=org, projects={web: READ}))
    client.get("/api/v1/projects/web", **bearer(credential))  # the once-a-minute writes are done

    # The credential with its account and organization; the membership; the permission check's usage is recent.
    with django_assert_num_queries(2):
        assert client.get("/api/v1/projects/web", **bearer(credential)).status_code == 200


# -- the organization API ------------------------------------------------------------------


def test_the_organization_api_needs_an_admin_service_accounts_credential(client, org, web):
    plain = CredentialFactory(service_account=ServiceAccountFactory(organization=org, projects={web: EVERYTHING}))
    key = ApiKeyFactory(project=web, permissions=EVERYTHING)
    stranger = CredentialFactory(service_account=ServiceAccountFactory(admin=True))  # Admin of another organization

    assert client.get("/api/v1/orgs/acme/service-accounts", **bearer(plain)).status_code == 403
    assert client.get("/api/v1/orgs/acme/service-accounts", **bearer(key)).status_code == 403
    assert client.get("/api/v1/orgs/acme/service-accounts", **bearer(stranger)).status_code == 404
    assert client.get("/api/v1/orgs/nope/service-accounts", **bearer(stranger)).status_code == 404
    assert client.get("/api/v1/orgs/acme/service-accounts").status_code == 401


def test_an_automation_credential_manages_service_accounts(client, automation, web, data):
    created = send(
        client, "POST", "/api/v1/orgs/acme/service-accounts", automation, {"name": "ci", "description": "CI"}
    )
    assert created.status_code == 201
    account_id = created.json()["id"]
    base = f"/api/v1/orgs/acme/service-accounts/{account_id}"

    assert send(client, "PUT", f"{base}/projects/web", automation, {"permissions": READ}).json() == {
        "slug": "web",
        "permissions": READ,
    }
    renamed = send(client, "PATCH", base, automation, {"name": "ci-2", "disabled": True})
    assert renamed.json()["name"] == "ci-2" and renamed.json()["state"] == "disabled"
    listing = client.get("/api/v1/orgs/acme/service-accounts", **bearer(automation)).json()
    assert {a["name"] for a in listing["results"]} == {"terraform", "ci-2"}
    assert send(client, "DELETE", f"{base}/projects/web", automation).json()["projects"] == []
    assert send(client, "DELETE", f"{base}/projects/web", automation).status_code == 404
    deleted = send(client, "DELETE", base, automation)
    assert deleted.json()["state"] == "deleted"
    assert send(client, "PATCH", base, automation, {"name": "again"}).status_code == 409
    events = ServiceAccountEvent.objects.filter(service_account__public_id=account_id)
    assert all(event.actor_credential == automation for event in events)
    assert events.count() == 6  # created, membership set, updated, disabled, removed, deleted


def test_the_organization_api_refuses_bad_input_clearly(client, automation, web):
    account = ServiceAccountFactory(organization=automation.service_account.organization)
    base = f"/api/v1/orgs/acme/service-accounts/{account.public_id}"

    cases = [
        ("POST", "/api/v1/orgs/acme/service-accounts", {"name": ""}, 400),
        ("POST", "/api/v1/orgs/acme/service-accounts", {"name": "x", "owner": "me"}, 400),
        ("PATCH", base, {"disabled": "yes"}, 400),
        ("PATCH", base, {"organization_role": "Emperor"}, 400),
        ("PATCH", base, {"organization_role": "Admin"}, 403),  # only an Owner
        ("PUT", f"{base}/projects/web", {"permissions": ["can_fly"]}, 400),
        ("PUT", f"{base}/projects/web", {"permissions": []}, 400),
        ("PUT", f"{base}/projects/elsewhere", {"permissions": READ}, 404),
        ("POST", f"{base}/credentials", {"name": "c", "expires_at": "tomorrow"}, 400),
        ("POST", f"{base}/credentials", {"name": "c", "allowed_ips": ["300.1.1.1"]}, 400),
        ("POST", f"{base}/credentials", {"name": "c", "expires_at": "2020-01-01T00:00:00Z"}, 400),
        ("POST", f"{base}/credentials/AAAAAAAAAAAA/revoke", None, 404),
    ]
    for method, path, body, status in cases:
        response = send(client, method, path, automation, body)
        assert response.status_code == status, (method, path, body, response.content)
        assert response.json()["detail"]
    assert not account.memberships.exists() and not account.credentials.exists()


def test_an_automation_credential_cannot_mint_more_than_its_account_holds(client, org, web):
    robot = ServiceAccountFactory(organization=org, admin=True, projects={web: READ})
    own = CredentialFactory(service_account=robot)
    strong = ServiceAccountFactory(organization=org, projects={web: EVERYTHING})

    raise_self = send(
        client,
        "PUT",
        f"/api/v1/orgs/acme/service-accounts/{robot.public_id}/projects/web",
        own,
        {"permissions": EVERYTHING},
    )
    mint = send(
        client,
        "POST",
        f"/api/v1/orgs/acme/service-accounts/{strong.public_id}/credentials",
        own,
        {"name": "x", "expires_at": own.expires_at.isoformat()},
    )

    assert raise_self.status_code == 403 and mint.status_code == 403
    assert not strong.credentials.exists()
    assert robot.memberships.get().permissions == READ


def test_a_new_credential_is_returned_once_and_stored_only_hashed(client, automation, web):
    account = ServiceAccountFactory(organization=automation.service_account.organization, projects={web: READ})
    url = f"/api/v1/orgs/acme/service-accounts/{account.public_id}/credentials"

    created = send(client, "POST", url, automation, {"name": "deploy", "expires_at": LATER})
    listing = client.get(url, **bearer(automation))

    secret = created.json()["secret"]
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    assert secret not in listing.content.decode()
    stored = Credential.objects.get(public_id=created.json()["id"])
    assert secret not in json.dumps(list(Credential.objects.values()), default=str)
    assert stored.masked == f"csa_…{secret[-4:]}"


# -- done when: the whole story, against a live server ------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_automation_manages_a_service_account_end_to_end_over_http(live_server):
    """SPEC §8 through the API alone: create, grant in two projects, mint, narrow, revoke."""
    org = OrganizationFactory(slug="acme")
    web, data = ProjectFactory(organization=org, slug="web"), ProjectFactory(organization=org, slug="data")
    automation = CredentialFactory(
        service_account=ServiceAccountFactory(
            organization=org, admin=True, projects={web: EVERYTHING, data: EVERYTHING}
        )
    )

    def call(method, path, secret, body=None):
        request = urllib.request.Request(
            live_server.url + "/api/v1" + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    status, account = call("POST", "/orgs/acme/service-accounts", automation.secret, {"name": "deployer"})
    assert status == 201
    base = f"/orgs/acme/service-accounts/{account['id']}"
    deploy = [catalog.READ_PROJECT, "can_create_clusters_in_metakube"]
    for slug in ("web", "data"):
        assert call("PUT", f"{base}/projects/{slug}", automation.secret, {"permissions": deploy})[0] == 200
    status, credential = call("POST", f"{base}/credentials", automation.secret, {"name": "ci", "expires_at": LATER})
    assert status == 201
    secret = credential["secret"]
    may_create_clusters = "/whoami?permission=can_create_clusters_in_metakube&project={}"

    assert call("GET", "/projects/web", secret)[0] == 200
    assert call("GET", "/projects/data", secret)[0] == 200
    assert call("GET", may_create_clusters.format("data"), secret)[0] == 200

    assert call("PUT", f"{base}/projects/data", automation.secret, {"permissions": [catalog.READ_PROJECT]})[0] == 200
    assert call("GET", may_create_clusters.format("data"), secret)[0] == 403  # the very next call
    assert call("GET", may_create_clusters.format("web"), secret)[0] == 200

    assert call("POST", f"{base}/credentials/{credential['id']}/revoke", automation.secret)[0] == 200
    status, refused = call("GET", "/whoami", secret)
    assert status == 401 and refused["detail"] == "The credential has been revoked."
    assert (
        ServiceAccount.objects.get(public_id=account["id"]).events.count() == 6
    )  # created, two memberships, a credential, narrowed, revoked


def test_a_database_failure_while_minting_is_a_clear_503_and_leaves_nothing(client, automation, web):
    from unittest import mock

    from django.db import DatabaseError

    from serviceaccounts.models import ServiceAccountEvent as Event

    account = ServiceAccountFactory(organization=automation.service_account.organization, projects={web: READ})
    url = f"/api/v1/orgs/acme/service-accounts/{account.public_id}/credentials"
    events = Event.objects.count()

    with mock.patch.object(Event.objects, "create", side_effect=DatabaseError("disk full")):
        response = send(client, "POST", url, automation, {"name": "ci", "expires_at": LATER})

    assert response.status_code == 503 and response["Retry-After"]
    assert "Nothing was saved" in response.json()["detail"]
    assert not account.credentials.exists() and Event.objects.count() == events


def test_listing_service_accounts_costs_the_same_queries_for_one_or_many(
    client, automation, web, data, django_assert_max_num_queries
):
    organization = automation.service_account.organization
    for _ in range(12):
        ServiceAccountFactory(organization=organization, projects={web: READ, data: READ})
    client.get("/api/v1/orgs/acme/service-accounts", **bearer(automation))  # the once-a-minute use is written

    # The credential; its account's role; the count; the page with its joins; the memberships with their projects.
    with django_assert_max_num_queries(5):
        listing = client.get("/api/v1/orgs/acme/service-accounts", **bearer(automation)).json()

    assert listing["count"] == 13 and all(len(a["projects"]) == 2 for a in listing["results"])


def test_an_unknown_a_mistyped_and_a_wrong_credential_get_one_answer(client, org, web):
    from apikeys import tokens

    credential = CredentialFactory(service_account=ServiceAccountFactory(organization=org, projects={web: READ}))
    wrong = tokens.generate(public_id=credential.public_id, kind=tokens.CREDENTIAL).raw
    unknown = tokens.generate(kind=tokens.CREDENTIAL).raw
    mistyped = credential.secret[:-1] + ("A" if credential.secret[-1] != "A" else "B")

    answers = {
        (r.status_code, r.content)
        for r in (client.get("/api/v1/whoami", **bearer(s)) for s in (wrong, unknown, mistyped))
    }

    assert answers == {(401, b'{"error": "invalid_token", "detail": "The credential is not valid."}')}
