"""Every route answers HEAD like GET, and the API answers methods it does not serve with a JSON 405.

Load balancers and monitors use HEAD; `/healthz` and `/api/v1/whoami` are
what they probe. Routes come from the URLconf (tests/routes.py), so a route
added later is covered without editing this file.
"""

import pytest
from django.test import Client

from projects import catalog
from tests.factories import ApiKeyFactory
from tests.routes import ROUTES, Route, fill, url

pytestmark = pytest.mark.django_db

UNSERVED_BY_THE_API = ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]


@pytest.fixture
def world(project, superuser):
    key = ApiKeyFactory(project=project, permissions=sorted(catalog.CODENAMES))
    target = ApiKeyFactory(project=project, name="target")
    return key, target, superuser


def url_of(route: Route, world) -> str:
    _, target, superuser = world
    model_admin = route.model_admin
    obj = model_admin.model._default_manager.order_by("pk").first() if model_admin else None
    pk = str(obj.pk if obj is not None else superuser.pk)
    known = {"slug": "demo", "public_id": target.public_id, "object_id": pk, "id": pk, "url": "no-such-page/"}
    known |= {"account_id": target.public_id, "project_slug": "demo"}  # the organization API's
    return url(route, fill(route, known))


def client_for(route: Route, world) -> tuple[Client, dict]:
    key, _, superuser = world
    client = Client()
    if route.is_api:
        return client, {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}
    client.force_login(superuser)
    return client, {}


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_head_answers_like_get_without_a_body(route, world):
    client, headers = client_for(route, world)
    url = url_of(route, world)

    get = client.get(url, **headers)
    head = client.head(url, **headers)

    if get.status_code == 405:  # a POST-only route (log-out, language switch)
        assert head.status_code == 405
        return
    assert head.status_code == get.status_code, (url, get.status_code, head.status_code)
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]


@pytest.mark.parametrize("url", ["/healthz", "/api/v1/whoami", "/api/v1/openapi.json", "/accounts/login/"])
def test_monitors_can_probe_with_head(client, project, url):
    key = ApiKeyFactory(project=project)

    response = client.head(url, HTTP_AUTHORIZATION=f"Bearer {key.secret}")

    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("route", [r for r in ROUTES if r.is_api], ids=str)
@pytest.mark.parametrize("method", UNSERVED_BY_THE_API)
def test_the_api_answers_unserved_methods_with_a_json_405(route, method, world):
    client, headers = client_for(route, world)
    url = url_of(route, world)

    response = client.generic(method, url, **headers)

    if route.route == "^api(?:/|$)":  # the catch-all: no such endpoint, whatever the method
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        return
    allowed = {m.strip() for m in client.generic("TRACE", url, **headers)["Allow"].split(",")}
    if method in allowed:  # the organization API serves PUT, PATCH and DELETE where SPEC §8 says
        assert response.status_code != 405
        return
    assert response.status_code == 405, (url, response.status_code, response.content[:200])
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "method_not_allowed"
    assert {m.strip() for m in response["Allow"].split(",")} == allowed
    assert allowed <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
    assert "HEAD" in allowed or "GET" not in allowed


def test_the_openapi_document_is_only_read(client):
    for method in ["PUT", "DELETE", "PATCH", "TRACE", "POST"]:
        response = client.generic(method, "/api/v1/openapi.json")
        assert response.status_code == 405
        assert response.json()["error"] == "method_not_allowed"
        assert response["Allow"] == "GET, HEAD"
