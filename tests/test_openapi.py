"""The OpenAPI document describes the API as it really answers (README, "Using a key")."""

import json
import re
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from apikeys import api_urls, services, tokens
from projects import catalog
from serviceaccounts import services as account_services
from tests.factories import (
    ApiKeyFactory,
    CredentialFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceAccountFactory,
    UserFactory,
    expired_api_key,
)

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

    assert len(routes) == 10
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
    assert server + "/orgs/acme/service-accounts" == reverse("api:service-accounts", args=["acme"])
    assert server + fill("/orgs/{slug}/service-accounts/{id}") == reverse(
        "api:service-account", args=["acme", "abcdefghijkl"]
    )
    assert server + fill("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}") == reverse(
        "api:service-account-membership", args=["acme", "abcdefghijkl", "web"]
    )
    assert server + fill("/orgs/{slug}/service-accounts/{id}/credentials") == reverse(
        "api:credentials", args=["acme", "abcdefghijkl"]
    )
    assert server + fill("/orgs/{slug}/service-accounts/{id}/credentials/{credential_id}/revoke") == reverse(
        "api:credential-revoke", args=["acme", "abcdefghijkl", "mnopqrstuvwx"]
    )
    assert all(path in doc["paths"] for path in ORG_PATHS)


ORG_PATHS = [
    "/orgs/{slug}/service-accounts",
    "/orgs/{slug}/service-accounts/{id}",
    "/orgs/{slug}/service-accounts/{id}/projects/{project_slug}",
    "/orgs/{slug}/service-accounts/{id}/credentials",
    "/orgs/{slug}/service-accounts/{id}/credentials/{credential_id}/revoke",
]


def fill(path: str, slug: str = "acme", account_id="abcdefghijkl", project_slug="web", credential_id="mnopqrstuvwx"):
    """A documented path with its parameters filled in (`slug` is the project's or the organization's)."""
    return (
        path.replace("{slug}", slug)
        .replace("{id}", account_id)
        .replace("{project_slug}", project_slug)
        .replace("{credential_id}", credential_id)
    )


def test_every_route_documents_exactly_the_methods_it_accepts(client, doc, settings):
    """Probe each route: a method it does not accept answers 405, any other asks for a key."""
    settings.API_AUTH_FAILURE_LIMIT = 1000
    for path, operations in doc["paths"].items():
        url = "/api/v1" + fill(path, slug="demo")
        assert "{" not in url, url
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
    assert len(operation_ids) == len(set(operation_ids)) == 16


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
    enum = doc["components"]["schemas"]["WhoAmIApiKey"]["properties"]["permissions"]["items"]["enum"]

    assert set(enum) == PROVIDER_PERMISSIONS
    assert len(enum) == len(PROVIDER_PERMISSIONS)
    membership = doc["components"]["schemas"]["ServiceAccountMembership"]["properties"]["permissions"]
    assert membership["items"]["enum"] == enum


def test_the_status_enum_of_credentials_is_every_status_a_credential_can_have(doc):
    enum = doc["components"]["schemas"]["Credential"]["properties"]["status"]["enum"]

    assert enum == ["active", "expires_soon", "expired", "revoked"]


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


def test_the_validation_used_here_catches_wrong_service_account_responses(doc):
    good = {
        "type": "service_account",
        "id": "a",
        "name": "b",
        "organization": "acme",
        "credential": {"id": "c", "name": "d", "expires_at": None},
        "projects": [{"slug": "web", "permissions": [catalog.READ_PROJECT]}],
    }
    validator(doc, "#/components/schemas/WhoAmI").validate(good)

    for bad in (
        {**good, "type": "api_key"},
        {**good, "project": "web"},
        {**good, "credential": {"id": "c", "name": "d"}},
        {**good, "credential": {"id": "c", "name": "d", "expires_at": None, "secret": "x"}},
        {**good, "projects": [{"slug": "web", "permissions": ["can_rule_the_world"]}]},
    ):
        with pytest.raises(ValidationError):
            validator(doc, "#/components/schemas/WhoAmI").validate(bad)
    with pytest.raises(ValidationError):
        validator(doc, "#/components/schemas/ServiceAccountPage").validate(
            {"count": 1, "page": 1, "pages": 1, "next": None, "previous": None, "results": [{"id": "x"}]}
        )
    with pytest.raises(ValidationError):
        validator(doc, "#/components/schemas/Credential").validate({"id": "x", "secret": "y"})


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
ORG_ENDPOINTS = [
    ("/orgs/{slug}/service-accounts", "get"),
    ("/orgs/{slug}/service-accounts", "post"),
    ("/orgs/{slug}/service-accounts/{id}", "get"),
    ("/orgs/{slug}/service-accounts/{id}", "patch"),
    ("/orgs/{slug}/service-accounts/{id}", "delete"),
    ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "put"),
    ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "delete"),
    ("/orgs/{slug}/service-accounts/{id}/credentials", "get"),
    ("/orgs/{slug}/service-accounts/{id}/credentials", "post"),
    ("/orgs/{slug}/service-accounts/{id}/credentials/{credential_id}/revoke", "post"),
]
ALL_ENDPOINTS = ENDPOINTS + [("/projects/{slug}/api-keys/{id}/roll", "post")] + ORG_ENDPOINTS


def test_these_lists_are_every_operation(doc):
    assert {(path, method) for path, operations in doc["paths"].items() for method in operations} == set(ALL_ENDPOINTS)


def bad_checksum(raw: str) -> str:
    return raw[:-1] + ("x" if raw[-1] != "x" else "y")


def call(client, path, method, slug=None, key_id="abcdefghijkl", body="{}", **extra):
    """The operation, on "demo" (a project path) or "acme" (an organization path) unless `slug` is given."""
    slug = slug or ("acme" if path.startswith("/orgs/") else "demo")
    url = "/api/v1" + fill(path, slug=slug, account_id=key_id)
    if method in ("post", "put", "patch"):
        return getattr(client, method)(url, body, content_type="application/json", **extra)
    return getattr(client, method)(url, **extra)


@pytest.mark.parametrize("path, method", ALL_ENDPOINTS)
@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(lambda key: {}, id="no header"),
        pytest.param(lambda key: {"HTTP_AUTHORIZATION": "Basic eA=="}, id="basic"),
        pytest.param(lambda key: {"HTTP_AUTHORIZATION": f"Bearer {tokens.generate().raw}"}, id="unknown"),
        pytest.param(
            lambda key: {"HTTP_AUTHORIZATION": f"Bearer {tokens.generate(kind=tokens.CREDENTIAL).raw}"},
            id="unknown credential",
        ),
        pytest.param(lambda key: {"HTTP_AUTHORIZATION": f"Bearer {bad_checksum(key.secret)}"}, id="bad checksum"),
    ],
)
def test_401_everywhere(client, doc, key, path, method, credential):
    response = call(client, path, method, **credential(key))

    assert response.status_code == 401
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", ALL_ENDPOINTS)
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


@pytest.mark.parametrize("path, method", ALL_ENDPOINTS)
def test_429(client, doc, project, settings, path, method):
    settings.API_AUTH_FAILURE_LIMIT = 1
    guess = {"HTTP_AUTHORIZATION": f"Bearer {tokens.generate().raw}"}
    call(client, path, method, **guess)

    response = call(client, path, method, **guess)

    assert response.status_code == 429
    assert response["Retry-After"]
    assert_described(doc, path, method, response)


# -- service accounts: credentials on the project endpoints, and the organization API ------

EVERYTHING = sorted(catalog.CODENAMES)
READ = [catalog.READ_PROJECT]


@pytest.fixture
def org(db):
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def web(org):
    return ProjectFactory(organization=org, slug="web", name="Web")


@pytest.fixture
def automation(org, web):
    """A credential of an organization Admin service account of acme holding everything in web."""
    account = ServiceAccountFactory(organization=org, name="terraform", admin=True, projects={web: EVERYTHING})
    return CredentialFactory(service_account=account, name="ci")


@pytest.fixture
def robot(org, web):
    """A service account of acme for the organization endpoints to act on: a member of web, with a credential."""
    account = ServiceAccountFactory(organization=org, name="deployer", description="d", projects={web: READ})
    CredentialFactory(service_account=account, name="deploy")
    return account


def org_url(path: str, account=None, project_slug="web", credential=None, slug="acme") -> str:
    return "/api/v1" + fill(
        path,
        slug=slug,
        account_id=account.public_id if account is not None else "abcdefghijkl",
        project_slug=project_slug,
        credential_id=credential.public_id if credential is not None else "mnopqrstuvwx",
    )


def send(client, method, url, credential, body=None, **extra):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    return getattr(client, method)(url, **kwargs, **auth(credential), **extra)


def later(credential, days=1) -> str:
    """An expiry the credential may give (no later than its own)."""
    return (credential.expires_at - timedelta(days=days)).isoformat()


def expired_credential(service_account, **kwargs):
    now = timezone.now()
    with mock.patch("django.utils.timezone.now", return_value=now - timedelta(days=31)):
        return CredentialFactory(service_account=service_account, expires_at=now - timedelta(days=1), **kwargs)


# credentials on /whoami and the project endpoints


def test_whoami_200_for_a_credential(client, doc, org, web):
    data = ProjectFactory(organization=org, slug="data")
    account = ServiceAccountFactory(organization=org, projects={web: READ, data: EVERYTHING})
    for credential in (
        CredentialFactory(service_account=account, name="expiring"),
        CredentialFactory(service_account=account, name="forever", expires_at=None),
    ):
        response = client.get("/api/v1/whoami", **auth(credential))

        assert response.status_code == 200
        assert response.json()["type"] == "service_account"
        assert len(response.json()["projects"]) == 2
        assert_described(doc, "/whoami", "get", response)


def test_whoami_200_for_a_credential_of_an_account_in_no_project(client, doc, org):
    credential = CredentialFactory(service_account=ServiceAccountFactory(organization=org))

    response = client.get("/api/v1/whoami", **auth(credential))

    assert response.json()["projects"] == []
    assert_described(doc, "/whoami", "get", response)


def test_the_project_query_parameter_of_whoami_is_documented(doc):
    parameters = {p["name"]: p for p in doc["paths"]["/whoami"]["get"]["parameters"]}

    assert set(parameters) == {"permission", "project"}
    assert parameters["project"]["in"] == "query" and not parameters["project"]["required"]


@pytest.mark.parametrize(
    "query, status",
    [
        ({"permission": catalog.READ_PROJECT, "project": "web"}, 200),
        ({"permission": catalog.READ_PROJECT}, 400),
        ({"permission": catalog.READ_PROJECT, "project": ["web", "web"]}, 400),
        ({"permission": "can_fly", "project": "web"}, 400),
        ({"permission": "can_read_clusters_in_metakube", "project": "web"}, 403),
        ({"permission": catalog.READ_PROJECT, "project": "data"}, 404),
        ({"permission": catalog.READ_PROJECT, "project": "nowhere"}, 404),
        ({"project": "nowhere"}, 200),  # without `permission`, `project` is not read
    ],
)
def test_whoami_asked_for_a_permission_by_a_credential(client, doc, org, web, query, status):
    ProjectFactory(organization=org, slug="data")
    credential = CredentialFactory(service_account=ServiceAccountFactory(organization=org, projects={web: READ}))

    response = client.get("/api/v1/whoami", query, **auth(credential))

    assert response.status_code == status, response.content
    assert_described(doc, "/whoami", "get", response)


@pytest.mark.parametrize(
    "path, method, status",
    [
        ("/projects/{slug}", "get", 200),
        ("/projects/{slug}/api-keys", "get", 200),
        ("/projects/{slug}/api-keys", "post", 403),
        ("/projects/{slug}/api-keys/{id}/revoke", "post", 403),
        ("/projects/{slug}/api-keys/{id}/roll", "post", 403),
    ],
)
def test_project_endpoints_with_a_credential(client, doc, web, automation, path, method, status):
    target = ApiKeyFactory(project=web, name="target")
    body = {"post": json.dumps({"name": "x", "permissions": READ})}
    if path.endswith("/roll"):
        body = {"post": json.dumps({"grace_seconds": 0})}

    response = call(
        client, path, method, slug="web", key_id=target.public_id, body=body.get(method, "{}"), **auth(automation)
    )

    assert response.status_code == status, response.content
    if status == 403:
        assert response.json()["error"] == "forbidden"
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", [e for e in ENDPOINTS if e[0] != "/whoami"])
def test_403_and_404_for_a_credential_by_the_membership_of_that_project(client, doc, org, web, path, method):
    weak = CredentialFactory(
        service_account=ServiceAccountFactory(organization=org, projects={web: ["can_read_clusters_in_metakube"]})
    )
    ProjectFactory(organization=org, slug="data")

    refused = call(client, path, method, slug="web", **auth(weak))
    elsewhere = call(client, path, method, slug="data", **auth(weak))

    assert refused.status_code == 403
    assert elsewhere.status_code == 404
    assert_described(doc, path, method, refused)
    assert_described(doc, path, method, elsewhere)


@pytest.mark.parametrize("path, method", ALL_ENDPOINTS)
def test_401_for_refused_credentials(client, doc, org, web, path, method):
    account = ServiceAccountFactory(organization=org, admin=True, projects={web: EVERYTHING})
    revoked = CredentialFactory(service_account=account, name="revoked")
    operator = account_services.Actor(operator="tests")
    account_services.revoke_credential(revoked, actor=operator)
    expired = expired_credential(account, name="expired")
    disabled_account = ServiceAccountFactory(organization=org, admin=True, projects={web: EVERYTHING})
    of_disabled = CredentialFactory(service_account=disabled_account)
    account_services.set_disabled(disabled_account, True, actor=operator)
    deleted_account = ServiceAccountFactory(organization=org, admin=True)
    of_deleted = CredentialFactory(service_account=deleted_account)
    account_services.delete_service_account(deleted_account, actor=operator)

    for credential in (revoked, expired, of_disabled, of_deleted):
        response = call(client, path, method, slug="web" if path.startswith("/projects") else None, **auth(credential))

        assert response.status_code == 401, (credential.name, response.content)
        assert_described(doc, path, method, response)


# the organization API: who may call it


@pytest.mark.parametrize("path, method", ORG_ENDPOINTS)
def test_org_403_for_api_keys_and_accounts_without_the_admin_role(client, doc, org, web, robot, path, method):
    key = ApiKeyFactory(project=web, permissions=EVERYTHING, expires_at=None)
    plain = CredentialFactory(service_account=ServiceAccountFactory(organization=org, projects={web: EVERYTHING}))

    for caller in (key, plain):
        response = call(client, path, method, key_id=robot.public_id, **auth(caller))

        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
        assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", ORG_ENDPOINTS)
@pytest.mark.parametrize("slug", ["default", "no-such-org"])
def test_org_404_for_other_organizations(client, doc, project, robot, automation, path, method, slug):
    response = call(client, path, method, slug=slug, key_id=robot.public_id, **auth(automation))

    assert response.status_code == 404
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", [e for e in ORG_ENDPOINTS if "{id}" in e[0]])
def test_org_404_for_an_account_of_another_organization(client, doc, automation, path, method):
    stranger = ServiceAccountFactory(organization=OrganizationFactory(slug="other"))

    response = call(client, path, method, key_id=stranger.public_id, **auth(automation))

    assert response.status_code == 404
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", [e for e in ORG_ENDPOINTS if "{id}" in e[0]])
def test_org_404_for_an_unknown_account(client, doc, automation, path, method):
    response = call(client, path, method, key_id="nosuchacct12", **auth(automation))

    assert response.status_code == 404
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", ORG_ENDPOINTS)
def test_org_403_ip_not_allowed(client, doc, org, web, robot, path, method):
    account = ServiceAccountFactory(organization=org, admin=True, projects={web: EVERYTHING})
    fenced = CredentialFactory(service_account=account, allowed_ips=["192.0.2.0/24"])

    response = call(client, path, method, key_id=robot.public_id, REMOTE_ADDR="203.0.113.9", **auth(fenced))

    assert response.status_code == 403 and response.json()["error"] == "ip_not_allowed"
    assert_described(doc, path, method, response)


# the organization API: service accounts


def test_list_service_accounts_200_with_accounts_of_every_kind(client, doc, org, web, robot, automation):
    send(client, "post", org_url("/orgs/{slug}/service-accounts"), automation, {"name": "by-credential"})
    ServiceAccountFactory(organization=org, name="by-user", created_by=UserFactory(username="owner"))
    disabled = ServiceAccountFactory(organization=org, name="disabled")
    account_services.set_disabled(disabled, True, actor=account_services.Actor(operator="tests"))
    gone = ServiceAccountFactory(organization=org, name="deleted")
    account_services.delete_service_account(gone, actor=account_services.Actor(operator="tests"))

    response = client.get(org_url("/orgs/{slug}/service-accounts"), **auth(automation))

    assert response.status_code == 200
    results = response.json()["results"]
    assert {entry["state"] for entry in results} == {"active", "disabled"}  # never a deleted one
    assert {(entry["created_by"] or {}).get("type") for entry in results} == {"user", "credential", None}
    assert {entry["organization_role"] for entry in results} == {"Admin", None}
    assert any(entry["projects"] for entry in results)
    assert_described(doc, "/orgs/{slug}/service-accounts", "get", response)


def test_list_service_accounts_200_with_next_and_previous(client, doc, org, automation):
    for number in range(26):
        ServiceAccountFactory(organization=org, name=f"bulk-{number:02}")

    first = client.get(org_url("/orgs/{slug}/service-accounts"), **auth(automation))
    second = client.get(org_url("/orgs/{slug}/service-accounts"), {"page": 2}, **auth(automation))

    assert first.json()["next"] and not first.json()["previous"]
    assert second.json()["previous"] and not second.json()["next"]
    assert_described(doc, "/orgs/{slug}/service-accounts", "get", first)
    assert_described(doc, "/orgs/{slug}/service-accounts", "get", second)


@pytest.mark.parametrize("path", ["/orgs/{slug}/service-accounts", "/orgs/{slug}/service-accounts/{id}/credentials"])
@pytest.mark.parametrize("page, status", [("abc", 400), ("7", 404)])
def test_org_400_and_404_for_a_bad_page(client, doc, robot, automation, path, page, status):
    response = client.get(org_url(path, robot), {"page": page}, **auth(automation))

    assert response.status_code == status
    assert_described(doc, path, "get", response)


def test_create_service_account_201_and_its_request_body(client, doc, automation):
    body = {"name": "deployer", "description": "Deploys."}
    validator(doc, "#/components/schemas/CreateServiceAccount").validate(body)

    response = send(client, "post", org_url("/orgs/{slug}/service-accounts"), automation, body)

    assert response.status_code == 201
    assert response.json()["created_by"] == {"type": "credential", "id": automation.public_id}
    assert_described(doc, "/orgs/{slug}/service-accounts", "post", response)


def test_get_service_account_200_deleted_too(client, doc, robot, automation):
    url = org_url("/orgs/{slug}/service-accounts/{id}", robot)
    alive = client.get(url, **auth(automation))
    send(client, "delete", url, automation)

    gone = client.get(url, **auth(automation))

    assert alive.json()["state"] == "active" and gone.json()["state"] == "deleted"
    assert gone.json()["deleted_at"]
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}", "get", alive)
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}", "get", gone)


def test_update_service_account_200_and_its_request_bodies(client, doc, robot, automation):
    url = org_url("/orgs/{slug}/service-accounts/{id}", robot)
    for body, state in [
        ({"name": "renamed", "description": "", "disabled": True}, "disabled"),
        ({"disabled": False}, "active"),
        ({}, "active"),
    ]:
        validator(doc, "#/components/schemas/UpdateServiceAccount").validate(body)

        response = send(client, "patch", url, automation, body)

        assert response.status_code == 200, response.content
        assert response.json()["state"] == state
        assert_described(doc, "/orgs/{slug}/service-accounts/{id}", "patch", response)


@pytest.mark.parametrize("role", ["Admin", None])
def test_update_service_account_403_for_the_organization_role(client, doc, robot, automation, role):
    body = {"organization_role": role}
    validator(doc, "#/components/schemas/UpdateServiceAccount").validate(body)

    response = send(client, "patch", org_url("/orgs/{slug}/service-accounts/{id}", robot), automation, body)

    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}", "patch", response)


@pytest.mark.parametrize("role", ["\x00", "Ad\x00min", "\ud800"], ids=["nul", "inner nul", "lone surrogate"])
def test_update_service_account_400_for_a_role_name_no_database_can_hold(client, doc, robot, automation, role):
    """A NUL or a lone surrogate is refused before any query (a database would fail on it: a 500, once)."""
    response = send(
        client, "patch", org_url("/orgs/{slug}/service-accounts/{id}", robot), automation, {"organization_role": role}
    )

    assert response.status_code == 400
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}", "patch", response)


def test_update_service_account_403_for_enabling_more_than_the_caller_holds(client, doc, org, web, robot):
    weak = ServiceAccountFactory(organization=org, admin=True, projects={web: ["can_read_clusters_in_metakube"]})
    weak_credential = CredentialFactory(service_account=weak)
    account_services.set_disabled(robot, True, actor=account_services.Actor(operator="tests"))

    response = send(
        client, "patch", org_url("/orgs/{slug}/service-accounts/{id}", robot), weak_credential, {"disabled": False}
    )

    assert response.status_code == 403
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}", "patch", response)


def test_delete_service_account_200_then_409_and_changes_409(client, doc, robot, automation):
    path = "/orgs/{slug}/service-accounts/{id}"

    deleted = send(client, "delete", org_url(path, robot), automation)
    again = send(client, "delete", org_url(path, robot), automation)
    changed = send(client, "patch", org_url(path, robot), automation, {"name": "zombie"})
    member = send(client, "put", org_url(path + "/projects/{project_slug}", robot), automation, {"permissions": READ})
    removed = send(client, "delete", org_url(path + "/projects/{project_slug}", robot), automation)
    minted = send(
        client,
        "post",
        org_url(path + "/credentials", robot),
        automation,
        {"name": "x", "expires_at": later(automation)},
    )

    assert deleted.status_code == 200 and deleted.json()["state"] == "deleted"
    assert_described(doc, path, "delete", deleted)
    for response, operation in [
        (again, (path, "delete")),
        (changed, (path, "patch")),
        (member, (path + "/projects/{project_slug}", "put")),
        (removed, (path + "/projects/{project_slug}", "delete")),
        (minted, (path + "/credentials", "post")),
    ]:
        assert response.status_code == 409, (operation, response.content)
        assert_described(doc, *operation, response)


# the organization API: memberships


def test_set_membership_200_and_its_request_body(client, doc, org, robot, automation):
    ProjectFactory(organization=org, slug="data")
    path = "/orgs/{slug}/service-accounts/{id}/projects/{project_slug}"
    body = {"permissions": [catalog.READ_PROJECT, "can_read_clusters_in_metakube"]}
    validator(doc, "#/components/schemas/SetServiceAccountMembership").validate(body)

    changed = send(client, "put", org_url(path, robot), automation, body)
    # a project where the caller holds nothing: taking permissions away is still allowed, adding is not
    added = send(client, "put", org_url(path, robot, project_slug="data"), automation, body)

    assert changed.status_code == 200 and changed.json() == {"slug": "web", **body}
    assert_described(doc, path, "put", changed)
    assert added.status_code == 403
    assert_described(doc, path, "put", added)


@pytest.mark.parametrize("project_slug", ["sandbox", "nowhere"])
def test_set_and_remove_membership_404_for_projects_outside_the_organization(
    client, doc, other_project, robot, automation, project_slug
):
    path = "/orgs/{slug}/service-accounts/{id}/projects/{project_slug}"

    for method, body in (("put", {"permissions": READ}), ("delete", None)):
        response = send(client, method, org_url(path, robot, project_slug=project_slug), automation, body)

        assert response.status_code == 404
        assert_described(doc, path, method, response)


def test_remove_membership_200_then_404(client, doc, robot, automation):
    path = "/orgs/{slug}/service-accounts/{id}/projects/{project_slug}"

    removed = send(client, "delete", org_url(path, robot), automation)
    again = send(client, "delete", org_url(path, robot), automation)

    assert removed.status_code == 200 and removed.json()["projects"] == []
    assert again.status_code == 404
    assert_described(doc, path, "delete", removed)
    assert_described(doc, path, "delete", again)


# the organization API: credentials


def test_list_credentials_200_with_credentials_of_every_status(client, doc, robot, automation):
    CredentialFactory(service_account=robot, name="forever", expires_at=None)
    CredentialFactory(service_account=robot, name="soon", expires_at=timezone.now() + timedelta(days=2))
    expired_credential(robot, name="expired")
    revoked = CredentialFactory(service_account=robot, name="revoked")
    account_services.revoke_credential(revoked, actor=account_services.Actor(operator="tests"))
    used = CredentialFactory(service_account=robot, name="used")
    client.get("/api/v1/whoami", HTTP_USER_AGENT="probe/1.0", **auth(used))

    response = client.get(org_url("/orgs/{slug}/service-accounts/{id}/credentials", robot), **auth(automation))

    assert response.status_code == 200
    results = response.json()["results"]
    assert {entry["status"] for entry in results} == {"active", "expires_soon", "expired", "revoked"}
    assert any(entry["last_used_at"] and entry["last_used_user_agent"] for entry in results)
    assert "secret" not in response.content.decode()
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}/credentials", "get", response)


def test_list_credentials_200_with_next_and_previous(client, doc, robot, automation):
    for number in range(25):
        CredentialFactory(service_account=robot, name=f"bulk-{number}")

    response = client.get(
        org_url("/orgs/{slug}/service-accounts/{id}/credentials", robot), {"page": 2}, **auth(automation)
    )

    assert response.json()["previous"] and not response.json()["next"]
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}/credentials", "get", response)


@pytest.mark.parametrize("allowed_ips", [[], ["192.0.2.0/24", "2001:db8::1"]])
def test_create_credential_201_and_its_request_body(client, doc, robot, automation, allowed_ips):
    body = {"name": "rotation", "expires_at": later(automation), "allowed_ips": allowed_ips}
    validator(doc, "#/components/schemas/CreateCredential").validate(body)

    response = send(client, "post", org_url("/orgs/{slug}/service-accounts/{id}/credentials", robot), automation, body)

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    assert response.json()["secret"].startswith("csa_")
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}/credentials", "post", response)


def test_create_credential_409_for_a_disabled_account(client, doc, robot, automation):
    account_services.set_disabled(robot, True, actor=account_services.Actor(operator="tests"))

    response = send(
        client,
        "post",
        org_url("/orgs/{slug}/service-accounts/{id}/credentials", robot),
        automation,
        {"name": "x", "expires_at": later(automation)},
    )

    assert response.status_code == 409
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}/credentials", "post", response)


def test_create_credential_403_for_more_than_the_caller_holds(client, doc, org, web, robot):
    weak = ServiceAccountFactory(organization=org, admin=True, projects={web: ["can_read_clusters_in_metakube"]})
    weak_credential = CredentialFactory(service_account=weak)

    response = send(
        client,
        "post",
        org_url("/orgs/{slug}/service-accounts/{id}/credentials", robot),
        weak_credential,
        {"name": "x", "expires_at": later(weak_credential)},
    )

    assert response.status_code == 403
    assert_described(doc, "/orgs/{slug}/service-accounts/{id}/credentials", "post", response)


def test_revoke_credential_200_twice(client, doc, robot, automation):
    target = robot.credentials.get()
    path = "/orgs/{slug}/service-accounts/{id}/credentials/{credential_id}/revoke"

    first = send(client, "post", org_url(path, robot, credential=target), automation)
    second = send(client, "post", org_url(path, robot, credential=target), automation)

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "revoked" and first.json()["revoked_at"] == second.json()["revoked_at"]
    assert_described(doc, path, "post", first)
    assert_described(doc, path, "post", second)


def test_revoke_credential_404_for_a_credential_of_another_account(client, doc, org, robot, automation):
    path = "/orgs/{slug}/service-accounts/{id}/credentials/{credential_id}/revoke"

    response = send(client, "post", org_url(path, robot, credential=automation), automation)

    assert response.status_code == 404
    assert_described(doc, path, "post", response)


# the organization API: bodies, and refusals during the write

WRITES = [e for e in ORG_ENDPOINTS if e[1] != "get"]
BODIES = [e for e in WRITES if e[1] in ("post", "put", "patch") and not e[0].endswith("/revoke")]
REQUEST_SCHEMAS = {
    ("/orgs/{slug}/service-accounts", "post"): "CreateServiceAccount",
    ("/orgs/{slug}/service-accounts/{id}", "patch"): "UpdateServiceAccount",
    ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "put"): "SetServiceAccountMembership",
    ("/orgs/{slug}/service-accounts/{id}/credentials", "post"): "CreateCredential",
}


def test_every_org_operation_with_a_body_names_its_schema(doc):
    for path, method in BODIES:
        body = doc["paths"][path][method]["requestBody"]
        assert body["required"]
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{REQUEST_SCHEMAS[path, method]}"
        }
        assert doc["components"]["schemas"][REQUEST_SCHEMAS[path, method]]["additionalProperties"] is False
    for path, method in set(ORG_ENDPOINTS) - set(BODIES):
        assert "requestBody" not in doc["paths"][path][method]


@pytest.mark.parametrize(
    "path, method, body",
    [
        ("/orgs/{slug}/service-accounts", "post", {}),
        ("/orgs/{slug}/service-accounts", "post", {"name": ""}),
        ("/orgs/{slug}/service-accounts", "post", {"name": 1}),
        ("/orgs/{slug}/service-accounts", "post", {"name": "x", "description": ["d"]}),
        ("/orgs/{slug}/service-accounts", "post", {"name": "x", "owner": "me"}),
        ("/orgs/{slug}/service-accounts/{id}", "patch", {"disabled": "yes"}),
        ("/orgs/{slug}/service-accounts/{id}", "patch", {"name": None}),
        ("/orgs/{slug}/service-accounts/{id}", "patch", {"organization_role": 1}),
        ("/orgs/{slug}/service-accounts/{id}", "patch", {"state": "active"}),
        ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "put", {}),
        ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "put", {"permissions": []}),
        ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "put", {"permissions": ["can_fly"]}),
        ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "put", {"permissions": catalog.READ_PROJECT}),
        ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "put", {"permissions": READ, "x": 1}),
        ("/orgs/{slug}/service-accounts/{id}/credentials", "post", {"expires_at": None}),
        ("/orgs/{slug}/service-accounts/{id}/credentials", "post", {"name": "c", "expires_at": "tomorrow"}),
        ("/orgs/{slug}/service-accounts/{id}/credentials", "post", {"name": "c", "expires_at": 1}),
        ("/orgs/{slug}/service-accounts/{id}/credentials", "post", {"name": "c", "allowed_ips": "192.0.2.1"}),
        ("/orgs/{slug}/service-accounts/{id}/credentials", "post", {"name": "c", "secret": "mine"}),
    ],
)
def test_org_bodies_the_schema_refuses_the_api_refuses_with_a_described_400(
    client, doc, robot, automation, path, method, body
):
    with pytest.raises(ValidationError):
        validator(doc, f"#/components/schemas/{REQUEST_SCHEMAS[path, method]}").validate(body)

    response = send(client, method, org_url(path, robot), automation, body)

    assert response.status_code == 400, response.content
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", BODIES)
@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("[1, 2]", "application/json", 400),
        ("{not json", "application/json", 400),
        (json.dumps({"name": "x", "description": "d" * 17000}), "application/json", 413),
        ('{"name": "x"}', "text/plain", 415),
    ],
)
def test_org_400_413_415_for_bad_bodies(client, doc, robot, automation, path, method, body, content_type, status):
    response = getattr(client, method)(org_url(path, robot), body, content_type=content_type, **auth(automation))

    assert response.status_code == status
    assert_described(doc, path, method, response)


def org_write(client, robot, automation, path, method):
    bodies = {
        ("/orgs/{slug}/service-accounts", "post"): {"name": "new"},
        ("/orgs/{slug}/service-accounts/{id}", "patch"): {"name": "renamed"},
        ("/orgs/{slug}/service-accounts/{id}/projects/{project_slug}", "put"): {"permissions": EVERYTHING},
        ("/orgs/{slug}/service-accounts/{id}/credentials", "post"): {"name": "new", "expires_at": later(automation)},
    }
    url = org_url(path, robot, credential=robot.credentials.get())
    return send(client, method, url, automation, bodies.get((path, method)))


@pytest.mark.parametrize("path, method", WRITES)
def test_org_writes_succeed_as_documented(client, doc, robot, automation, path, method):
    response = org_write(client, robot, automation, path, method)

    assert response.status_code in (200, 201), response.content
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", WRITES)
def test_org_401_when_the_acting_credential_is_revoked_while_the_request_runs(
    client, doc, robot, automation, path, method
):
    lock = account_services._lock

    def revoke_then_lock(organization_id):
        account_services.Credential.objects.filter(pk=automation.pk).update(revoked_at=timezone.now())
        lock(organization_id)

    with mock.patch.object(account_services, "_lock", revoke_then_lock):
        response = org_write(client, robot, automation, path, method)

    assert response.status_code == 401, response.content
    assert_described(doc, path, method, response)


@pytest.mark.parametrize("path, method", WRITES)
def test_org_503_when_the_database_fails(client, doc, robot, automation, path, method):
    with mock.patch.object(account_services, "_lock", side_effect=DatabaseError("connection lost")):
        response = org_write(client, robot, automation, path, method)

    assert response.status_code == 503
    assert response["Retry-After"]
    assert_described(doc, path, method, response)
