"""The bearer-authenticated JSON API under /api/v1/ (README, "Using a key")."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.test import Client
from django.utils import timezone

from apikeys import services, tokens
from apikeys.errors import ApiKeyError
from apikeys.models import ApiKey, AuditEvent
from projects import catalog
from tests.factories import ApiKeyFactory, UserFactory, expired_api_key

pytestmark = pytest.mark.django_db

READ_PROJECT = catalog.READ_PROJECT
CREATE_KEYS = catalog.CREATE_API_KEYS
READ_CLUSTERS = "can_read_clusters_in_metakube"
DELETE_PROJECT = "can_delete_project_in_project"
MANAGER_PERMISSIONS = [READ_PROJECT, CREATE_KEYS, catalog.READ_API_KEYS, READ_CLUSTERS]


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def post_json(client, url, data, **extra):
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **extra)


def manager(project, **kwargs) -> ApiKey:
    kwargs.setdefault("name", "manager")
    kwargs.setdefault("permissions", MANAGER_PERMISSIONS)
    kwargs.setdefault("tags", ["ci", "deploy"])
    return ApiKeyFactory(project=project, **kwargs)


@pytest.fixture
def key(project):
    """A key that may do everything the API offers in `project`."""
    return manager(project)


@pytest.fixture
def target(project):
    """Another key of the project, for the revoke endpoint."""
    return ApiKeyFactory(project=project, name="target", permissions=[READ_PROJECT])


def child_body(parent: ApiKey, **overrides) -> dict:
    body = {
        "name": "child",
        "description": "made by a key",
        "tags": ["child"],
        "permissions": [READ_PROJECT],
        "expires_at": iso((parent.expires_at or timezone.now() + timedelta(days=31)) - timedelta(days=1)),
    }
    body.update(overrides)
    return body


# -- the matrix: every endpoint × every kind of credential -----------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {slug} and {target} are filled in
    permission: str | None  # what the key needs besides being valid
    success: int

    def url(self, slug: str, target_id: str) -> str:
        return "/api/v1/" + self.path.format(slug=slug, target=target_id)

    def has_slug(self) -> bool:
        return "{slug}" in self.path

    def call(self, client, *, slug="demo", target_id="", parent=None, **extra):
        url = self.url(slug, target_id)
        if self.method == "get":
            return client.get(url, **extra)
        if self.path.endswith("api-keys"):
            return post_json(client, url, child_body(parent) if parent else {"name": "x", "permissions": []}, **extra)
        return client.post(url, **extra)


ENDPOINTS = [
    Endpoint("get", "whoami", None, 200),
    Endpoint("get", "projects/{slug}", READ_PROJECT, 200),
    Endpoint("get", "projects/{slug}/api-keys", CREATE_KEYS, 200),
    Endpoint("post", "projects/{slug}/api-keys", CREATE_KEYS, 201),
    Endpoint("post", "projects/{slug}/api-keys/{target}/revoke", CREATE_KEYS, 200),
]
ENDPOINT_IDS = [f"{e.method.upper()} {e.path}" for e in ENDPOINTS]
PROTECTED = [e for e in ENDPOINTS if e.permission]
PROTECTED_IDS = [f"{e.method.upper()} {e.path}" for e in PROTECTED]
WITH_SLUG = [e for e in ENDPOINTS if e.has_slug()]
WITH_SLUG_IDS = [f"{e.method.upper()} {e.path}" for e in WITH_SLUG]


def with_bad_checksum(raw: str) -> str:
    # CRC32 catches every single-character change.
    middle = len(raw) - 10
    replacement = "A" if raw[middle] != "A" else "B"
    return raw[:middle] + replacement + raw[middle + 1 :]


def unknown_key() -> str:
    raw = tokens.generate().raw
    tokens.parse(raw)  # well-formed: a valid checksum
    return raw


def wrong_secret(api_key: ApiKey) -> str:
    raw = tokens.generate(public_id=api_key.public_id).raw
    assert tokens.parse(raw).public_id == api_key.public_id
    return raw


def revoked(project) -> ApiKey:
    api_key = manager(project, name="revoked")
    services.api_key_revoke(api_key=api_key, revoked_by=UserFactory(username="revoker"))
    return api_key


def expired(project) -> ApiKey:
    return expired_api_key(project=project, name="expired", permissions=MANAGER_PERMISSIONS)


# name -> (Authorization header or None, word that must be in `detail` or None)
BAD_CREDENTIALS = {
    "no header": lambda project, key: (None, None),
    "basic scheme": lambda project, key: ("Basic dXNlcjpwYXNzd29yZA==", None),
    "bearer alone": lambda project, key: ("Bearer", None),
    "bearer and blanks": lambda project, key: ("Bearer    ", None),
    "valid key without scheme": lambda project, key: (key.secret, None),
    "valid key under another scheme": lambda project, key: (f"Token {key.secret}", None),
    "bad checksum": lambda project, key: (f"Bearer {with_bad_checksum(key.secret)}", None),
    "unknown key": lambda project, key: (f"Bearer {unknown_key()}", None),
    "wrong secret": lambda project, key: (f"Bearer {wrong_secret(key)}", None),
    "expired key, wrong secret": lambda project, key: (f"Bearer {wrong_secret(expired(project))}", None),
    "revoked key, wrong secret": lambda project, key: (f"Bearer {wrong_secret(revoked(project))}", None),
    "expired key": lambda project, key: (f"Bearer {expired(project).secret}", "expired"),
    "revoked key": lambda project, key: (f"Bearer {revoked(project).secret}", "revoked"),
}


def assert_unauthorized(response, word: str | None = None) -> dict:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "invalid_token"
    assert body["detail"]
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge
    for status_word in ("expired", "revoked"):
        if status_word == word:
            assert status_word in body["detail"].lower()
        else:
            assert status_word not in body["detail"].lower()
            assert status_word not in challenge.lower()
    return body


def snapshot() -> tuple:
    """What a refused request must not have changed."""
    return (
        ApiKey.objects.count(),
        ApiKey.objects.filter(revoked_at__isnull=False).count(),
        AuditEvent.objects.count(),
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("credential", list(BAD_CREDENTIALS))
def test_bad_credentials_get_401(client, project, key, target, endpoint, credential):
    header, word = BAD_CREDENTIALS[credential](project, key)
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    before = snapshot()

    response = endpoint.call(client, target_id=target.public_id, parent=key, **extra)

    assert_unauthorized(response, word)
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_unknown_key_and_wrong_secret_get_identical_answers(client, project, key, target, endpoint):
    """No enumeration: a probe cannot tell an existing public id from a made-up one."""
    answers = []
    for raw in (
        unknown_key(),
        wrong_secret(key),
        wrong_secret(expired(project)),
        wrong_secret(revoked(project)),
    ):
        response = endpoint.call(client, target_id=target.public_id, parent=key, **bearer(raw))
        assert_unauthorized(response)
        answers.append((response.status_code, response.content, response["WWW-Authenticate"]))
    assert all(answer == answers[0] for answer in answers)


@pytest.mark.parametrize("endpoint", PROTECTED, ids=PROTECTED_IDS)
def test_key_lacking_the_permission_gets_403_naming_it(client, project, target, endpoint):
    everything_else = [p for p in MANAGER_PERMISSIONS if p != endpoint.permission]
    weak = manager(project, name="weak", permissions=everything_else)
    before = snapshot()

    response = endpoint.call(client, target_id=target.public_id, parent=weak, **bearer(weak.secret))

    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert endpoint.permission in body["detail"]
    assert snapshot() == before


def test_whoami_needs_no_particular_permission(client, project):
    api_key = ApiKeyFactory(project=project, permissions=["can_become_reader_in_observability"])

    response = client.get("/api/v1/whoami", **bearer(api_key.secret))

    assert response.status_code == 200
    assert response.json()["permissions"] == ["can_become_reader_in_observability"]


@pytest.mark.parametrize("endpoint", WITH_SLUG, ids=WITH_SLUG_IDS)
@pytest.mark.parametrize("exists", [True, False], ids=["existing", "nonexistent"])
def test_another_projects_slug_is_404(client, project, other_project, key, target, endpoint, exists):
    """A key only ever sees its own project, and cannot tell which others exist."""
    other_target = ApiKeyFactory(project=other_project, name="theirs")
    slug = other_project.slug if exists else "no-such-project"
    before = snapshot()

    response = endpoint.call(client, slug=slug, target_id=other_target.public_id, parent=key, **bearer(key.secret))
    twin = endpoint.call(
        client,
        slug="no-such-project" if exists else other_project.slug,
        target_id=other_target.public_id,
        parent=key,
        **bearer(key.secret),
    )

    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}
    assert response.content == twin.content
    assert snapshot() == before
    other_target.refresh_from_db()
    assert other_target.revoked_at is None


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_a_valid_key_is_served(client, project, key, target, endpoint):
    response = endpoint.call(client, target_id=target.public_id, parent=key, **bearer(key.secret))

    assert response.status_code == endpoint.success, response.content
    assert response["Content-Type"] == "application/json"
    assert "WWW-Authenticate" not in response


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(client, key, scheme):
    response = client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"{scheme} {key.secret}")

    assert response.status_code == 200


def test_a_key_of_another_project_cannot_revoke_keys_here(client, project, other_project, target):
    theirs = manager(other_project, name="theirs")

    response = client.post(
        f"/api/v1/projects/{project.slug}/api-keys/{target.public_id}/revoke", **bearer(theirs.secret)
    )

    assert response.status_code == 404
    target.refresh_from_db()
    assert target.revoked_at is None


@pytest.mark.parametrize(
    "method, path",
    [
        ("delete", "whoami"),
        ("post", "whoami"),
        ("put", "projects/demo"),
        ("delete", "projects/demo/api-keys"),
        ("get", "projects/demo/api-keys/xxxxxxxxxxxx/revoke"),
    ],
)
def test_other_methods_get_405_json(client, key, method, path):
    response = getattr(client, method)(f"/api/v1/{path}", **bearer(key.secret))

    assert response.status_code == 405
    assert set(response.json()) == {"error", "detail"}
    assert response["Allow"]


# -- whoami and project -----------------------------------------------------------


def test_whoami_describes_the_calling_key_exactly(client, project, key):
    response = client.get("/api/v1/whoami", **bearer(key.secret))

    assert response.status_code == 200
    assert response.json() == {
        "type": "api_key",
        "id": key.public_id,
        "name": "manager",
        "project": "demo",
        "permissions": MANAGER_PERMISSIONS,
        "tags": ["ci", "deploy"],
        "expires_at": iso(key.expires_at),
    }


def test_whoami_of_a_key_without_expiry(client, project):
    api_key = ApiKeyFactory(project=project, expires_at=None, permissions=[READ_CLUSTERS, READ_PROJECT])

    body = client.get("/api/v1/whoami", **bearer(api_key.secret)).json()

    assert body["expires_at"] is None
    # Exactly the key's permissions, in catalog order, nothing implied.
    assert body["permissions"] == [READ_PROJECT, READ_CLUSTERS]


def test_project_detail(client, project, key):
    response = client.get("/api/v1/projects/demo", **bearer(key.secret))

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "slug": "demo",
        "name": "Demo Project",
        "description": project.description,
        "created_at": iso(project.created_at),
    }


# -- the list ---------------------------------------------------------------------


def test_list_is_paginated_25_a_page_newest_first(client, project, key):
    for number in range(29):
        ApiKeyFactory(project=project, name=f"bulk-{number:02}")
    url = "/api/v1/projects/demo/api-keys"

    first = client.get(url, **bearer(key.secret)).json()
    second = client.get(first["next"], **bearer(key.secret)).json()

    assert (first["count"], first["page"], first["pages"]) == (30, 1, 2)
    assert len(first["results"]) == 25
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/projects/demo/api-keys?page=2"
    assert (second["page"], len(second["results"]), second["next"]) == (2, 5, None)
    assert second["previous"] == "http://testserver/api/v1/projects/demo/api-keys?page=1"
    listed = [entry["id"] for entry in first["results"] + second["results"]]
    expected = list(
        ApiKey.objects.filter(project=project).order_by("-created_at", "-id").values_list("public_id", flat=True)
    )
    assert listed == expected
    assert listed[-1] == key.public_id  # the oldest


def test_list_shows_only_the_projects_own_keys(client, project, other_project, key):
    ApiKeyFactory(project=other_project, name="theirs")

    body = client.get("/api/v1/projects/demo/api-keys", **bearer(key.secret)).json()

    assert [entry["id"] for entry in body["results"]] == [key.public_id]


@pytest.mark.parametrize(
    "page, status",
    [("abc", 400), ("", 400), ("1.5", 400), ("2", 404), ("0", 404), ("-1", 404), ("9" * 30, 404)],
)
def test_a_bad_page_is_a_json_error(client, key, page, status):
    response = client.get("/api/v1/projects/demo/api-keys", {"page": page}, **bearer(key.secret))

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error", "detail"}


def test_list_entries_describe_keys_and_never_their_secrets(client, project, key, target):
    revoked_key = revoked(project)

    response = client.get("/api/v1/projects/demo/api-keys", **bearer(key.secret))

    body = response.json()
    by_id = {entry["id"]: entry for entry in body["results"]}
    assert set(by_id) == {key.public_id, target.public_id, revoked_key.public_id}
    for entry in body["results"]:
        assert "secret" not in entry and "secret_hash" not in entry
        assert entry["masked_key"].startswith("cpk_…") and len(entry["masked_key"]) == len("cpk_…") + 4
    assert by_id[revoked_key.public_id]["status"] == "revoked"
    assert by_id[revoked_key.public_id]["revoked_at"] is not None
    assert by_id[key.public_id]["status"] == "active"
    assert by_id[key.public_id]["created_by"] == {"type": "user", "username": "key-factory-admin"}
    text = response.content.decode()
    for api_key in (key, target, revoked_key):
        stored = ApiKey.objects.get(pk=api_key.pk)
        assert api_key.secret not in text
        assert stored.secret_hash not in text
        # Not even the secret part without the prefix and id.
        assert api_key.secret.split("_")[-1][:20] not in text


# -- create -------------------------------------------------------------------


def create_url(slug="demo"):
    return f"/api/v1/projects/{slug}/api-keys"


def test_create_answers_201_with_the_secret_once(client, project, key):
    body = child_body(key, tags=["a", "b"], permissions=[READ_CLUSTERS, READ_PROJECT])

    response = post_json(client, create_url(), body, **bearer(key.secret))

    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    created = response.json()
    secret = created["secret"]
    child = ApiKey.objects.get(public_id=created["id"])
    assert tokens.parse(secret).public_id == child.public_id
    assert created == {
        "id": child.public_id,
        "name": "child",
        "description": "made by a key",
        "tags": ["a", "b"],
        "permissions": [READ_PROJECT, READ_CLUSTERS],
        "masked_key": f"cpk_…{secret[-4:]}",
        "status": "active",
        "expires_at": body["expires_at"],
        "created_at": iso(child.created_at),
        "created_by": {"type": "api_key", "id": key.public_id},
        "last_used_at": None,
        "last_used_ip": None,
        "last_used_user_agent": None,
        "allowed_ips": [],
        "permissions_last_needed": {READ_PROJECT: None, READ_CLUSTERS: None},
        "permissions_last_refused": {},
        "revoked_at": None,
        "retires_at": None,
        "successor": None,
        "predecessor": None,
        "secret": secret,
    }
    # Never stored, never returned again.
    assert secret not in {child.secret_hash, child.last4, child.public_id}
    listing = client.get(create_url(), **bearer(key.secret))
    as_child = client.get("/api/v1/whoami", **bearer(secret))
    as_parent = client.get("/api/v1/whoami", **bearer(key.secret))
    for later in (listing, as_child, as_parent):
        assert later.status_code == 200
        assert secret not in later.content.decode()
        assert secret[-20:] not in later.content.decode()
        assert b'"secret"' not in later.content


def test_the_created_key_authenticates(client, project, key):
    created = post_json(client, create_url(), child_body(key), **bearer(key.secret)).json()

    response = client.get("/api/v1/whoami", **bearer(created["secret"]))

    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert response.json()["permissions"] == [READ_PROJECT]


def test_created_by_is_the_calling_key(client, project, key):
    created = post_json(client, create_url(), child_body(key), REMOTE_ADDR="203.0.113.9", **bearer(key.secret)).json()

    child = ApiKey.objects.get(public_id=created["id"])
    assert child.created_by_key == key
    assert child.created_by is None
    event = AuditEvent.objects.get(api_key=child, action=AuditEvent.Action.CREATED)
    assert event.actor_key == key
    assert event.actor_user is None
    assert key.public_id in event.actor_label
    assert event.ip_address == "203.0.113.9"


@pytest.mark.parametrize("codename", [DELETE_PROJECT, "can_become_administrator_in_project"])
def test_a_child_cannot_get_permissions_its_parent_lacks(client, project, key, codename):
    body = child_body(key, permissions=[READ_PROJECT, codename])

    response = post_json(client, create_url(), body, **bearer(key.secret))

    assert response.status_code == 403
    assert codename in response.json()["detail"]
    assert READ_PROJECT not in response.json()["detail"]
    assert not ApiKey.objects.filter(name="child").exists()


def test_a_child_may_get_all_of_its_parents_permissions(client, project, key):
    response = post_json(client, create_url(), child_body(key, permissions=MANAGER_PERMISSIONS), **bearer(key.secret))

    assert response.status_code == 201
    assert response.json()["permissions"] == MANAGER_PERMISSIONS


@pytest.mark.parametrize(
    "expires_at",
    [
        pytest.param(lambda parent: iso(parent.expires_at + timedelta(seconds=1)), id="a second after the parent"),
        pytest.param(lambda parent: iso(parent.expires_at + timedelta(days=365)), id="a year after the parent"),
        pytest.param(lambda parent: None, id="never, while the parent expires"),
    ],
)
def test_a_child_cannot_outlive_its_parent(client, project, key, expires_at):
    response = post_json(client, create_url(), child_body(key, expires_at=expires_at(key)), **bearer(key.secret))

    assert response.status_code == 400
    assert set(response.json()) == {"error", "detail"}
    assert not ApiKey.objects.filter(name="child").exists()


def test_a_child_may_expire_with_its_parent(client, project, key):
    response = post_json(client, create_url(), child_body(key, expires_at=iso(key.expires_at)), **bearer(key.secret))

    assert response.status_code == 201
    assert response.json()["expires_at"] == iso(key.expires_at)


def test_a_parent_without_expiry_may_create_a_child_without_expiry(client, project):
    parent = manager(project, expires_at=None)

    response = post_json(client, create_url(), child_body(parent, expires_at=None), **bearer(parent.secret))

    assert response.status_code == 201
    assert response.json()["expires_at"] is None


@pytest.mark.parametrize(
    "expires_at",
    [
        pytest.param(lambda: iso(timezone.now() - timedelta(minutes=1)), id="a minute ago"),
        pytest.param(lambda: "2001-01-01T00:00:00Z", id="long ago"),
        pytest.param(lambda: "0001-01-02T00:00:00+01:00", id="year one"),
    ],
)
def test_an_expiry_in_the_past_is_400(client, project, key, expires_at):
    response = post_json(client, create_url(), child_body(key, expires_at=expires_at()), **bearer(key.secret))

    assert response.status_code == 400
    assert "past" in response.json()["detail"] or "future" in response.json()["detail"]
    assert not ApiKey.objects.filter(name="child").exists()


def test_a_naive_expiry_is_400(client, project, key):
    naive = (timezone.now() + timedelta(days=10)).replace(tzinfo=None).isoformat()

    response = post_json(client, create_url(), child_body(key, expires_at=naive), **bearer(key.secret))

    assert response.status_code == 400
    assert "time zone" in response.json()["detail"]


def test_an_expiry_in_another_time_zone_is_stored_as_the_same_instant(client, project, key):
    moment = (timezone.now() + timedelta(days=10)).replace(microsecond=0)
    in_berlin = moment.astimezone(dt_timezone(timedelta(hours=2))).isoformat()

    response = post_json(client, create_url(), child_body(key, expires_at=in_berlin), **bearer(key.secret))

    assert response.status_code == 201
    assert response.json()["expires_at"] == iso(moment)


@pytest.mark.parametrize(
    "expires_at",
    ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999999-00:01", "2200-01-01T00:00:00Z"],
)
def test_an_expiry_beyond_a_hundred_years_is_refused(client, project, expires_at):
    """Dates at the end of the calendar cannot be shown in every time zone: a clear 400, never a 500."""
    parent = manager(project, expires_at=None)

    response = post_json(client, create_url(), child_body(parent, expires_at=expires_at), **bearer(parent.secret))

    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "invalid_field",
        "detail": "The expiration date can be at most 100 years from now.",
    }
    assert not ApiKey.objects.filter(created_by_key=parent).exists()


def test_an_expiry_just_within_a_hundred_years_is_accepted(client, project):
    parent = manager(project, expires_at=None)
    expires_at = iso((timezone.now() + timedelta(days=36524)).replace(microsecond=0))

    response = post_json(client, create_url(), child_body(parent, expires_at=expires_at), **bearer(parent.secret))

    assert response.status_code == 201, response.content
    assert response.json()["expires_at"] == expires_at


def test_the_name_must_be_unique_among_active_keys(client, project, key):
    response = post_json(client, create_url(), child_body(key, name="manager"), **bearer(key.secret))

    assert response.status_code == 400
    assert "name" in response.json()["detail"]


def test_creation_can_be_disabled(client, project, key, settings):
    settings.API_KEY_CREATION_DISABLED = True

    response = post_json(client, create_url(), child_body(key), **bearer(key.secret))

    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    # Existing keys keep working.
    assert client.get("/api/v1/whoami", **bearer(key.secret)).status_code == 200


# -- revoke -------------------------------------------------------------------------


def revoke_url(api_key, slug="demo"):
    return f"/api/v1/projects/{slug}/api-keys/{api_key.public_id}/revoke"


def test_revoke_answers_200_with_status_revoked(client, project, key, target):
    response = client.post(revoke_url(target), **bearer(key.secret))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == target.public_id
    assert body["status"] == "revoked"
    assert body["revoked_at"] is not None
    assert "secret" not in body
    target.refresh_from_db()
    assert target.revoked_at is not None
    assert target.revoked_by_key == key
    event = AuditEvent.objects.get(api_key=target, action=AuditEvent.Action.REVOKED)
    assert event.actor_key == key


def test_a_revocation_through_the_api_is_audited_with_the_client_address(client, project, key, target):
    client.post(revoke_url(target), REMOTE_ADDR="198.51.100.7", **bearer(key.secret))

    event = AuditEvent.objects.get(api_key=target, action=AuditEvent.Action.REVOKED)
    assert event.actor_key == key
    assert event.ip_address == "198.51.100.7"


def test_another_projects_key_cannot_be_reached_under_the_own_slug(client, project, other_project, key):
    """The key id in the URL is looked up in the caller's project only, not just the slug checked."""
    theirs = ApiKeyFactory(project=other_project, name="theirs")

    response = client.post(revoke_url(theirs, slug=project.slug), **bearer(key.secret))

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert not AuditEvent.objects.filter(api_key=theirs).exclude(action=AuditEvent.Action.CREATED).exists()


def test_a_revoked_key_cannot_revoke_another_key(client, project, key, target):
    """Its revocation committed: a request it had in flight, or sends later, writes nothing."""
    services.api_key_revoke(api_key=key, revoked_by=None, revoked_by_key=key)

    response = client.post(revoke_url(target), **bearer(key.secret))
    assert response.status_code == 401
    with pytest.raises(ApiKeyError) as refused:
        services.api_key_revoke(api_key=target, revoked_by=None, revoked_by_key=key)

    assert refused.value.code == "key_revoked"
    target.refresh_from_db()
    assert target.revoked_at is None


def test_a_revoked_key_is_refused_on_the_very_next_request(client, project, key, target):
    # A positive answer first, so that any cache of it would be warm.
    assert client.get("/api/v1/whoami", **bearer(target.secret)).status_code == 200

    assert client.post(revoke_url(target), **bearer(key.secret)).status_code == 200
    response = client.get("/api/v1/whoami", **bearer(target.secret))

    assert_unauthorized(response, "revoked")


def test_a_key_can_revoke_itself_and_is_refused_next(client, project, key):
    assert client.post(revoke_url(key), **bearer(key.secret)).status_code == 200

    assert_unauthorized(client.get("/api/v1/whoami", **bearer(key.secret)), "revoked")


def test_revoking_twice_is_harmless(client, project, key, target):
    client.post(revoke_url(target), **bearer(key.secret))
    first_revoked_at = ApiKey.objects.get(pk=target.pk).revoked_at

    response = client.post(revoke_url(target), **bearer(key.secret))

    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert ApiKey.objects.get(pk=target.pk).revoked_at == first_revoked_at
    assert AuditEvent.objects.filter(api_key=target, action=AuditEvent.Action.REVOKED).count() == 1


@pytest.mark.parametrize("public_id", ["nosuchkey123", "x", "%2e%2e"])
def test_revoking_an_unknown_key_is_404(client, project, key, public_id):
    response = client.post(f"/api/v1/projects/demo/api-keys/{public_id}/revoke", **bearer(key.secret))

    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}


# -- hostile input to create ---------------------------------------------------------

NESTED = "[" * 5000 + "]" * 5000
MISSING = object()
JSON = "application/json"

# Either raw text, or changes to a valid body (MISSING removes a field).
HOSTILE_BODIES = {
    "invalid JSON": ("{name: 'x'", JSON, 400),
    "blank body": (" ", JSON, 400),
    "a JSON array": ('[{"name": "x", "permissions": ["can_read_project_in_project"]}]', JSON, 400),
    "a JSON string": ('"name"', JSON, 400),
    "JSON null": ("null", JSON, 400),
    "a JSON number": ("12", JSON, 400),
    "not UTF-8": (b'{"name": "\xff\xfe", "permissions": []}', JSON, 400),
    "name as number": ({"name": 12}, JSON, 400),
    "name as null": ({"name": None}, JSON, 400),
    "name as list": ({"name": ["x"]}, JSON, 400),
    "blank name": ({"name": "  "}, JSON, 400),
    "name too long": ({"name": "x" * 101}, JSON, 400),
    "description as number": ({"description": 1}, JSON, 400),
    "description too long": ({"description": "d" * 1001}, JSON, 400),
    "tags as string": ({"tags": "a,b"}, JSON, 400),
    "tags as numbers": ({"tags": [1, 2]}, JSON, 400),
    "tags as dict": ({"tags": {"a": 1}}, JSON, 400),
    "tag with a space": ({"tags": ["a b"]}, JSON, 400),
    "too many tags": ({"tags": [f"t{i}" for i in range(11)]}, JSON, 400),
    "permissions as dict": ({"permissions": {READ_PROJECT: True}}, JSON, 400),
    "permissions as string": ({"permissions": READ_PROJECT}, JSON, 400),
    "permissions as numbers": ({"permissions": [1]}, JSON, 400),
    "nested permissions": ({"permissions": [[READ_PROJECT]]}, JSON, 400),
    "no permissions": ({"permissions": []}, JSON, 400),
    "unknown permission": ({"permissions": ["can_rule_the_world"]}, JSON, 400),
    "expires_at as number": ({"expires_at": 1893456000}, JSON, 400),
    "expires_at as bool": ({"expires_at": True}, JSON, 400),
    "expires_at as dict": ({"expires_at": {}}, JSON, 400),
    "expires_at as text": ({"expires_at": "next tuesday"}, JSON, 400),
    "expires_at impossible date": ({"expires_at": "2030-13-45T00:00:00Z"}, JSON, 400),
    "expires_at impossible offset": ({"expires_at": "2030-01-01T00:00:00+99:00"}, JSON, 400),
    "expires_at beyond year 9999": ({"expires_at": "9999-12-31T23:59:59-23:59"}, JSON, 400),
    "unknown field": ({"owner": "root"}, JSON, 400),
    "missing name": ({"name": MISSING}, JSON, 400),
    "missing permissions": ({"permissions": MISSING}, JSON, 400),
    "a huge number": ('{"name": 1' + "0" * 5000 + ', "permissions": []}', JSON, 400),
    "NaN": ({"name": float("nan")}, JSON, 400),
    "Infinity": ({"description": float("inf")}, JSON, 400),
    "NUL in the name": ({"name": "a\x00b"}, JSON, 400),
    "NUL in the description": ({"description": "a\x00b"}, JSON, 400),
    "lone surrogate in the name": ({"name": "a\ud800b"}, JSON, 400),
    "lone surrogate in the description": ({"description": "a\udfffb"}, JSON, 400),
    "deeply nested JSON": (NESTED, JSON, 400),
    "deeply nested value": ({"description": MISSING, "nested": MISSING}, JSON, 400),
    "a body over 16 KiB": ({"description": "d" * (16 * 1024)}, JSON, 413),
    "a nested body over 16 KiB": ("[" * 20000 + "]" * 20000, JSON, 413),
    "text/plain": ({}, "text/plain", 415),
    "a form": ("name=x&permissions=can_read_project_in_project", "application/x-www-form-urlencoded", 415),
    "multipart": ("--b\r\n\r\n", "multipart/form-data; boundary=b", 415),
    "no content type": ({}, "", 415),
}


def hostile_payload(case: str, parent: ApiKey) -> tuple[str | bytes, str, int]:
    payload, content_type, status = HOSTILE_BODIES[case]
    if isinstance(payload, dict):
        body = {
            "name": "hostile",
            "permissions": [READ_PROJECT],
            "expires_at": iso(parent.expires_at - timedelta(days=1)),
        }
        body.update(payload)
        body = {name: value for name, value in body.items() if value is not MISSING}
        payload = json.dumps(body)
        if case == "deeply nested value":
            payload = payload[:-1] + ', "description": ' + NESTED + "}"
    return payload, content_type, status


def test_the_body_hostile_cases_start_from_is_accepted(client, project, key):
    payload, content_type, _ = hostile_payload("text/plain", key)

    response = client.post(create_url(), payload, content_type=JSON, **bearer(key.secret))

    assert response.status_code == 201


@pytest.mark.parametrize("case", list(HOSTILE_BODIES))
def test_hostile_bodies_get_a_clear_4xx_json_answer(client, project, key, case):
    payload, content_type, status = hostile_payload(case, key)
    before = snapshot()

    response = client.post(create_url(), payload, content_type=content_type, **bearer(key.secret))

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["detail"]
    assert snapshot() == before


@pytest.mark.parametrize(
    "field, payload",
    [
        ("name", {"name": 12, "permissions": [READ_PROJECT]}),
        ("tags", {"name": "x", "tags": "a", "permissions": [READ_PROJECT]}),
        ("permissions", {"name": "x", "permissions": {}}),
        ("expires_at", {"name": "x", "permissions": [READ_PROJECT], "expires_at": 5}),
        ("owner", {"name": "x", "permissions": [READ_PROJECT], "owner": "root"}),
        ("name", {"permissions": [READ_PROJECT]}),
        ("permissions", {"name": "x"}),
    ],
)
def test_a_field_error_names_the_field(client, project, key, field, payload):
    response = post_json(client, create_url(), payload, **bearer(key.secret))

    assert response.status_code == 400
    assert field in response.json()["detail"]


def test_json_with_a_charset_is_accepted(client, project, key):
    response = client.post(
        create_url(), json.dumps(child_body(key)), content_type="application/json; charset=utf-8", **bearer(key.secret)
    )

    assert response.status_code == 201


def test_a_body_of_exactly_16_kib_is_read(client, project, key):
    body = json.dumps(child_body(key, description=""))
    padded = body[:-1] + " " * (16 * 1024 - len(body)) + "}"
    assert len(padded.encode()) == 16 * 1024

    response = client.post(create_url(), padded, content_type="application/json", **bearer(key.secret))

    assert response.status_code == 201


def test_a_lying_content_length_does_not_get_a_larger_body_read(project, key):
    """The limit holds for what is read, not only for what the client declares."""
    client = Client()
    big = json.dumps(child_body(key, description="d" * (20 * 1024)))

    response = client.generic(
        "POST",
        create_url(),
        big,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.secret}",
        CONTENT_LENGTH="100",
    )

    assert 400 <= response.status_code < 500
    assert not ApiKey.objects.filter(name="child").exists()


# -- cookies and CSRF ----------------------------------------------------------------


def test_a_session_cookie_is_not_a_credential(client, admin_user, key):
    client.force_login(admin_user)

    response = client.get("/api/v1/whoami")

    assert_unauthorized(response)


def test_a_session_cookie_does_not_let_a_post_through(project, admin_user, key, target):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(revoke_url(target))

    assert_unauthorized(response)
    target.refresh_from_db()
    assert target.revoked_at is None


def test_posts_with_a_key_need_no_csrf_token(project, admin_user, key, target):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)  # even with a session cookie present

    created = post_json(client, create_url(), child_body(key), **bearer(key.secret))
    revoked_response = client.post(revoke_url(target), **bearer(key.secret))

    assert created.status_code == 201
    assert revoked_response.status_code == 200


def test_the_api_does_not_load_the_session(client, admin_user, key):
    client.force_login(admin_user)

    response = client.get("/api/v1/whoami", **bearer(key.secret))

    assert response.status_code == 200
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


# -- query counts ---------------------------------------------------------------------


def test_a_bad_checksum_costs_no_query(client, key, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/api/v1/whoami", **bearer(with_bad_checksum(key.secret)))

    assert response.status_code == 401


def test_a_malformed_header_costs_no_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/api/v1/whoami", HTTP_AUTHORIZATION="Bearer not-a-key")

    assert response.status_code == 401


def test_an_unknown_key_costs_one_query(client, project, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/api/v1/whoami", **bearer(unknown_key()))

    assert response.status_code == 401


def test_whoami_costs_one_select_and_one_update_then_one_select(client, key, django_assert_num_queries):
    with django_assert_num_queries(2) as first:
        assert client.get("/api/v1/whoami", **bearer(key.secret)).status_code == 200
    with django_assert_num_queries(1) as second:
        assert client.get("/api/v1/whoami", **bearer(key.secret)).status_code == 200

    assert first.captured_queries[0]["sql"].upper().startswith("SELECT")
    assert first.captured_queries[1]["sql"].upper().startswith("UPDATE")
    assert second.captured_queries[0]["sql"].upper().startswith("SELECT")


def test_project_detail_costs_one_query_once_warm(client, key, django_assert_num_queries):
    # The first call records the key's use and its permission's (apikeys.usage): once a minute.
    with django_assert_num_queries(3):
        assert client.get("/api/v1/projects/demo", **bearer(key.secret)).status_code == 200

    with django_assert_num_queries(1):
        assert client.get("/api/v1/projects/demo", **bearer(key.secret)).status_code == 200


def test_the_list_costs_the_same_for_one_key_or_a_full_page(client, project, key, django_assert_num_queries):
    """No query per entry (created_by and created_by_key are joined)."""
    client.get(create_url(), **bearer(key.secret))  # records the key's use and its permission's
    with django_assert_num_queries(3):  # authenticate, count, page
        assert client.get(create_url(), **bearer(key.secret)).status_code == 200
    for number in range(24):
        ApiKeyFactory(project=project, name=f"bulk-{number}")
    post_json(client, create_url(), child_body(key, name="by-key"), **bearer(key.secret))

    with django_assert_num_queries(3):
        response = client.get(create_url(), **bearer(key.secret))

    assert len(response.json()["results"]) == 25
