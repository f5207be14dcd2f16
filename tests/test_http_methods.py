"""Every route answers HEAD like GET, and the API answers methods it does not serve with a JSON 405.

Load balancers and monitors use HEAD; `/healthz` and `/api/v1/whoami` are
what they probe. Routes come from the URLconf (tests/routes.py), so a route
added later is covered without editing this file.
"""

import pytest
from django.apps import apps
from django.test import Client

from projects import catalog
from tests.factories import ApiKeyFactory
from tests.routes import ROUTES, Route

pytestmark = pytest.mark.django_db

UNSERVED_BY_THE_API = ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]


@pytest.fixture
def world(project, admin_user, superuser):
    key = ApiKeyFactory(project=project, permissions=sorted(catalog.CODENAMES))
    values = {"slug": project.slug, "public_id": key.public_id, "app_label": "apikeys", "url": "nowhere/"}
    objects = {model._meta.label_lower: model._default_manager.order_by("pk").first() for model in apps.get_models()}
    return key, values, objects


def url_of(route: Route, world) -> str:
    key, values, objects = world
    extra = {}
    if route.admin_model and "object_id" in route.parameters:
        obj = objects.get(route.admin_model)
        extra["object_id"] = str(obj.pk) if obj is not None else "1"
    if "id" in route.parameters:
        extra["id"] = str(objects["auth.user"].pk)
    if "content_type_id" in route.parameters:
        extra["content_type_id"], extra["object_id"] = "1", "1"
    return route.url(values, **extra)


def client_for(route: Route, world, superuser) -> tuple[Client, dict]:
    key = world[0]
    client = Client()
    if route.is_api:
        return client, {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}
    client.force_login(superuser)
    return client, {}


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.id)
def test_head_answers_like_get_without_a_body(route, world, superuser):
    client, headers = client_for(route, world, superuser)
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


@pytest.mark.parametrize("route", [r for r in ROUTES if r.is_api], ids=lambda route: route.id)
@pytest.mark.parametrize("method", UNSERVED_BY_THE_API)
def test_the_api_answers_unserved_methods_with_a_json_405(route, method, world, superuser):
    client, headers = client_for(route, world, superuser)
    url = url_of(route, world)

    response = client.generic(method, url, **headers)

    if route.pattern == "api/":  # the catch-all: no such endpoint, whatever the method
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        return
    assert response.status_code == 405, (url, response.status_code, response.content[:200])
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "method_not_allowed"
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert method not in allowed
    assert allowed <= {"GET", "HEAD", "POST"}
    assert "HEAD" in allowed or "GET" not in allowed


def test_the_openapi_document_is_only_read(client):
    for method in ["PUT", "DELETE", "PATCH", "TRACE", "POST"]:
        response = client.generic(method, "/api/v1/openapi.json")
        assert response.status_code == 405
        assert response.json()["error"] == "method_not_allowed"
        assert response["Allow"] == "GET, HEAD"
