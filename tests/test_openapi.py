"""The OpenAPI document describes the API as it really answers (README, "Using a key")."""

import json
import re
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from apikeys import api_urls, services, tokens
from projects import catalog
from tests.factories import ApiKeyFactory, UserFactory, expired_api_key

pytestmark = pytest.mark.django_db

DOC_URN = "urn:project-api-keys:openapi"
METHODS = ("get", "head", "post", "put", "patch", "delete")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def is_date_time(value) -> bool:
    # jsonschema checks "date-time" only with an optional package; be explicit.
    if not isinstance(value, str):
        return True
    return bool(RFC3339.match(value)) and datetime.fromisoformat(value).tzinfo is not None


@pytest.fixture
def doc(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.content)


def validator(doc: dict, ref: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for `ref` ("#/components/...") inside the document."""
    registry = Registry().with_resource(DOC_URN, DRAFT202012.create_resource(doc))
    return Draft202012Validator({"$ref": DOC_URN + ref}, registry=registry, format_checker=FORMATS)


def response_ref(doc: dict, path: str, method: str, status: int) -> str:
    operation = doc["paths"][path][method]
    described = operation["responses"].get(str(status))
    assert described is not None, f"{method.upper()} {path} does not document {status}"
    schema = described["content"]["application/json"]["schema"]
    return schema["$ref"]


def assert_described(doc: dict, path: str, method: str, response) -> None:
    assert response["Content-Type"] == "application/json"
    ref = response_ref(doc, path, method, response.status_code)
    validator(doc, ref).validate(json.loads(response.content))


def route_template(route: str) -> str:
    """ "projects/<slug:slug>" -> "/projects/{}" (parameter names may differ)."""
    return "/" + re.sub(r"<(?:\w+:)?\w+>", "{}", route)


def doc_template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


# -- the document ---------------------------------------------------------------------


def test_it_is_openapi_3_1_json(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    doc = json.loads(response.content)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"] == [{"url": "http://testserver/api/v1"}]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_it_needs_no_key_and_no_log_in(client):
    response = client.get("/api/v1/openapi.json", HTTP_AUTHORIZATION="Bearer nonsense")

    assert response.status_code == 200


def test_every_route_is_described_and_nothing_else(doc):
    routes = {route_template(str(pattern.pattern)) for pattern in api_urls.urlpatterns if pattern.name != "openapi"}

    assert len(routes) == 5
    assert {doc_template(path) for path in doc["paths"]} == routes


def test_described_paths_are_where_the_api_answers(doc):
    server = doc["servers"][0]["url"].removeprefix("http://testserver")
    assert server + "/whoami" == reverse("api:whoami")
    assert server + "/projects/{slug}".replace("{slug}", "demo") == reverse("api:project", args=["demo"])
    assert "/projects/{slug}/api-keys" in doc["paths"]
    assert server + "/projects/demo/api-keys" == reverse("api:keys", args=["demo"])
    assert server + "/projects/demo/api-keys/abcdefghijkl/revoke" == reverse(
        "api:key-revoke", args=["demo", "abcdefghijkl"]
    )


def test_every_route_documents_exactly_the_methods_it_accepts(client, doc, settings):
    """Probe each route: a method it does not accept answers 405, any other asks for a key."""
    settings.API_AUTH_FAILURE_LIMIT = 1000
    for path, operations in doc["paths"].items():
        url = "/api/v1" + path.replace("{slug}", "demo").replace("{id}", "abcdefghijkl")
        documented = {method for method in operations if method in METHODS}
        if "get" in documented:  # the document says: every GET also answers HEAD
            documented.add("head")
        accepted = set()
        for method in METHODS:
            response = getattr(client, method)(url)
            assert response.status_code in (401, 405), (method, url, response.status_code)
            if response.status_code == 401:
                accepted.add(method)
            else:
                assert set(response["Allow"].lower().split(", ")) == documented
        assert accepted == documented, path


def test_path_parameters_match_the_templates(doc):
    operation_ids = []
    for path, operations in doc["paths"].items():
        in_template = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == in_template, (method, path)
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")
            assert operation["responses"]
            operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids)) == 6


def test_every_schema_is_a_valid_draft_2020_12_schema(doc):
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(doc))
    assert refs
    for ref in refs:
        name = ref.removeprefix("#/components/schemas/")
        assert ref.startswith("#/components/schemas/") and name in doc["components"]["schemas"], ref


# The provider's permission set, written out: the document must name exactly
# these (a renamed or dropped codename breaks every client that checks one).
PROVIDER_PERMISSIONS = {
    "can_become_administrator_in_project", "can_crud_permissions_in_project", "can_read_project_in_project",
    "can_delete_project_in_project", "can_create_api_keys_in_project", "can_read_api_keys_in_project",
    "can_become_viewer_in_openstack", "can_become_editor_in_openstack",
    "can_create_clusters_in_metakube", "can_read_clusters_in_metakube", "can_update_clusters_in_metakube",
    "can_delete_clusters_in_metakube", "can_create_ssh_keys_in_metakube", "can_read_ssh_keys_in_metakube",
    "can_update_ssh_keys_in_metakube", "can_delete_ssh_keys_in_metakube",
    "can_create_databases_in_dbaas", "can_read_databases_in_dbaas", "can_update_databases_in_dbaas",
    "can_delete_databases_in_dbaas", "can_read_backups_from_databases_in_dbaas",
    "can_become_reader_in_observability", "can_become_editor_in_observability", "can_become_admin_in_observability",
}  # fmt: skip


def test_the_permission_enum_is_the_providers_permission_set(doc):
    enum = doc["components"]["schemas"]["WhoAmI"]["properties"]["permissions"]["items"]["enum"]

    assert set(enum) == PROVIDER_PERMISSIONS
    assert len(enum) == len(PROVIDER_PERMISSIONS)


def test_the_status_enum_is_every_status_a_key_can_have(doc):
    enum = doc["components"]["schemas"]["ApiKey"]["properties"]["status"]["enum"]

    assert enum == ["active", "expires_soon", "retiring", "expired", "retired", "revoked"]


def test_the_validation_used_here_catches_wrong_responses(doc):
    """Guards the tests below: they must fail if a response drifts from the document."""
    good = {
        "type": "api_key",
        "id": "a",
        "name": "b",
        "project": "demo",
        "permissions": [],
        "tags": [],
        "expires_at": None,
    }
    validator(doc, "#/components/schemas/WhoAmI").validate(good)

    for bad in (
        {**good, "secret": "x"},
        {**good, "expires_at": "tomorrow"},
        {**good, "expires_at": "2030-01-01T00:00:00"},
        {**good, "permissions": ["can_rule_the_world"]},
        {key: value for key, value in good.items() if key != "tags"},
    ):
        with pytest.raises(ValidationError):
            validator(doc, "#/components/schemas/WhoAmI").validate(bad)
    with pytest.raises(ValidationError):
        validator(doc, "#/components/schemas/ApiKeyPage").validate(
            {"count": 1, "page": 1, "pages": 1, "next": None, "previous": None, "results": [{"id": "x"}]}
        )


# -- real responses validate ---------------------------------------------------------


@pytest.fixture
def key(project):
    return ApiKeyFactory(
        project=project,
        name="manager",
        tags=["ci"],
        permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS, catalog.READ_API_KEYS],
    )


def auth(api_key) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key.secret}"}


def create_body(parent, **overrides) -> dict:
    body = {
        "name": "child",
        "description": "",
        "tags": ["x"],
        "permissions": [catalog.READ_PROJECT],
        "expires_at": (parent.expires_at - timedelta(days=1)).isoformat(),
    }
    return body | overrides


def test_whoami_200(client, doc, key):
    response = client.get("/api/v1/whoami", **auth(key))

    assert response.status_code == 200
    assert_described(doc, "/whoami", "get", response)


def test_whoami_200_without_expiry(client, doc, project):
    api_key = ApiKeyFactory(project=project, expires_at=None)

    response = client.get("/api/v1/whoami", **auth(api_key))

    assert response.json()["expires_at"] is None
    assert_described(doc, "/whoami", "get", response)


def test_project_200(client, doc, key):
    response = client.get("/api/v1/projects/demo", **auth(key))

    assert response.status_code == 200
    assert_described(doc, "/projects/{slug}", "get", response)


def test_list_200_with_keys_of_every_kind(client, doc, project, key):
    ApiKeyFactory(project=project, name="no-expiry", expires_at=None, description="d")
    expired_api_key(project=project, name="expired")
    gone = ApiKeyFactory(project=project, name="revoked")
    services.api_key_revoke(api_key=gone, revoked_by=UserFactory(username="revoker"))
    ApiKeyFactory(project=project, name="soon", expires_at=timezone.now() + timedelta(days=2))
    services.api_key_create(
        project=project,
        name="by-key",
        permissions=[catalog.READ_PROJECT],
        created_by_key=key,
        expires_at=key.expires_at,
    )
    deleted_creator = UserFactory(username="leaver", is_superuser=True)
    ApiKeyFactory(project=project, name="orphan", created_by=deleted_creator)
    deleted_creator.delete()
    client.get("/api/v1/whoami", **auth(key))  # one key with last_used_at

    response = client.get("/api/v1/projects/demo/api-keys", **auth(key))

    assert response.status_code == 200
    results = response.json()["results"]
    assert {entry["status"] for entry in results} == {"active", "expired", "revoked", "expires_soon"}
    assert {(entry["created_by"] or {}).get("type") for entry in results} == {"user", "api_key", None}
    assert_described(doc, "/projects/{slug}/api-keys", "get", response)


def test_list_200_with_next_and_previous(client, doc, project, key):
    for number in range(26):
        ApiKeyFactory(project=project, name=f"bulk-{number}")

    response = client.get("/api/v1/projects/demo/api-keys", {"page": 2}, **auth(key))

    assert response.json()["previous"] and not response.json()["next"]
    assert_described(doc, "/projects/{slug}/api-keys", "get", response)


def test_create_201_and_its_request_body(client, doc, key):
    body = create_body(key)
    validator(doc, "#/components/schemas/CreateApiKey").validate(body)

    response = client.post(
        "/api/v1/projects/demo/api-keys", json.dumps(body), content_type="application/json", **auth(key)
    )

    assert response.status_code == 201
    assert_described(doc, "/projects/{slug}/api-keys", "post", response)


@pytest.mark.parametrize(
    "body",
    [
        {"name": 1, "permissions": [catalog.READ_PROJECT]},
        {"name": "x", "permissions": [catalog.READ_PROJECT], "owner": "me"},
        {"name": "x", "permissions": []},
        {"name": "x", "permissions": [catalog.READ_PROJECT], "tags": "a"},
        {"name": "x", "permissions": [catalog.READ_PROJECT], "expires_at": 1},
        {"permissions": [catalog.READ_PROJECT]},
    ],
)
def test_bodies_the_schema_refuses_the_api_refuses_with_a_described_400(client, doc, key, body):
    with pytest.raises(ValidationError):
        validator(doc, "#/components/schemas/CreateApiKey").validate(body)

    response = client.post(
        "/api/v1/projects/demo/api-keys", json.dumps(body), content_type="application/json", **auth(key)
    )

    assert response.status_code == 400
    assert_described(doc, "/projects/{slug}/api-keys", "post", response)


def test_revoke_200(client, doc, project, key):
    target = ApiKeyFactory(project=project, name="target")

    response = client.post(f"/api/v1/projects/demo/api-keys/{target.public_id}/revoke", **auth(key))

    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert_described(doc, "/projects/{slug}/api-keys/{id}/revoke", "post", response)


ENDPOINTS = [
    ("/whoami", "get"),
    ("/projects/{slug}", "get"),
    ("/projects/{slug}/api-keys", "get"),
    ("/projects/{slug}/api-keys", "post"),
    ("/projects/{slug}/api-keys/{id}/revoke", "post"),
]


def bad_checksum(raw: str) -> str:
    return raw[:-1] + ("x" if raw[-1] != "x" else "y")


def call(client, path, method, slug="demo", key_id="abcdefghijkl", **extra):
    url = "/api/v1" + path.replace("{slug}", slug).replace("{id}", key_id)
    if method == "post":
        return client.post(url, "{}", content_type="application/json", **extra)
    return client.get(url, **extra)


@pytest.mark.parametrize("path, method", ENDPOINTS)
@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(lambda key: {}, id="no header"),
        pytest.param(lambda key: {"HTTP_AUTHORIZATION": "Basic eA=="}, id="basic"),
        pytest.param(lambda key: {"HTTP_AUTHORIZATION": f"Bearer {tokens.generate().raw}"}, id="unknown"),
        pytest.param(lambda key: {"HTTP_AUTHORIZATION": f"Bearer {bad_checksum(key.secret)}"}, id="bad checksum"),
    ],
)
def test_401_everywhere(client, doc, key, path, method, credential):
    response = call(client, path, method, **credential(key))

    assert response.status_code == 401
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", ENDPOINTS)
def test_401_for_expired_and_revoked_keys(client, doc, project, path, method):
    revoked = ApiKeyFactory(project=project, name="revoked")
    services.api_key_revoke(api_key=revoked, revoked_by=UserFactory(username="revoker"))
    for api_key in (expired_api_key(project=project, name="expired"), revoked):
        response = call(client, path, method, **auth(api_key))

        assert response.status_code == 401
        assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", [e for e in ENDPOINTS if e[0] != "/whoami"])
def test_403(client, doc, project, path, method):
    weak = ApiKeyFactory(project=project, name="weak", permissions=["can_read_clusters_in_metakube"])

    response = call(client, path, method, **auth(weak))

    assert response.status_code == 403
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", [e for e in ENDPOINTS if e[0] != "/whoami"])
@pytest.mark.parametrize("slug", ["sandbox", "no-such-project"])
def test_404_for_other_projects(client, doc, key, other_project, path, method, slug):
    response = call(client, path, method, slug=slug, **auth(key))

    assert response.status_code == 404
    assert_described(doc, path, method, response)


def test_404_for_an_unknown_key(client, doc, key):
    response = call(client, "/projects/{slug}/api-keys/{id}/revoke", "post", key_id="nosuchkey123", **auth(key))

    assert response.status_code == 404
    assert_described(doc, "/projects/{slug}/api-keys/{id}/revoke", "post", response)


@pytest.mark.parametrize("page, status", [("abc", 400), ("7", 404)])
def test_400_and_404_for_a_bad_page(client, doc, key, page, status):
    response = client.get("/api/v1/projects/demo/api-keys", {"page": page}, **auth(key))

    assert response.status_code == status
    assert_described(doc, "/projects/{slug}/api-keys", "get", response)


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("[1, 2]", "application/json", 400),
        ("{not json", "application/json", 400),
        (json.dumps({"name": "x", "description": "d" * 17000, "permissions": []}), "application/json", 413),
        ('{"name": "x"}', "text/plain", 415),
    ],
)
def test_400_413_415_for_bad_bodies(client, doc, key, body, content_type, status):
    response = client.post("/api/v1/projects/demo/api-keys", body, content_type=content_type, **auth(key))

    assert response.status_code == status
    assert_described(doc, "/projects/{slug}/api-keys", "post", response)


def test_403_for_a_permission_the_parent_lacks(client, doc, key):
    body = create_body(key, permissions=["can_delete_project_in_project"])

    response = client.post(
        "/api/v1/projects/demo/api-keys", json.dumps(body), content_type="application/json", **auth(key)
    )

    assert response.status_code == 403
    assert_described(doc, "/projects/{slug}/api-keys", "post", response)


@pytest.mark.parametrize("path, method", ENDPOINTS)
def test_429(client, doc, project, settings, path, method):
    settings.API_AUTH_FAILURE_LIMIT = 1
    guess = {"HTTP_AUTHORIZATION": f"Bearer {tokens.generate().raw}"}
    call(client, path, method, **guess)

    response = call(client, path, method, **guess)

    assert response.status_code == 429
    assert response["Retry-After"]
    assert_described(doc, path, method, response)
