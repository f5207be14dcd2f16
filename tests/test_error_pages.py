"""The 403, 404 and 500 pages in the console's look (DEBUG on and off), and the favicon."""

import re
from unittest import mock

import pytest
from django.contrib.staticfiles import finders
from django.http import Http404
from django.template import loader
from django.test import Client, RequestFactory
from pytest_django.asserts import assertContains, assertNotContains

from config.errorpages import ConsoleNotFoundMiddleware
from tests.factories import ApiKeyFactory

STYLESHEET = '<link rel="stylesheet" href="/static/css/console.css">'
FAVICON = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
# Django's technical pages (DEBUG on) say why you see them.
TECHNICAL_PAGE = "because you have <code>DEBUG = True</code>"


@pytest.fixture
def debug_off(settings):
    settings.DEBUG = False


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


def assert_console_page(response, status: int, heading: str) -> None:
    assertContains(response, STYLESHEET, status_code=status)
    assertContains(response, FAVICON, status_code=status)
    assertContains(response, f"<h1>{heading}</h1>", status_code=status)
    assertContains(response, f'<p class="error-code">{status}</p>', status_code=status)
    assertNotContains(response, TECHNICAL_PAGE, status_code=status)


def without_tokens(response) -> str:
    """The body without the per-response CSRF token and CSP nonce."""
    body = response.content.decode()
    for token in [
        response.wsgi_request.csp_nonce,
        *re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body),
        *re.findall(r'"X-CSRFToken": "([^"]+)"', body),
    ]:
        body = body.replace(token, "")
    return body


# -- 404 ------------------------------------------------------------------------------


def test_unknown_url_gets_the_console_404(client, debug_off, outsider):
    client.force_login(outsider)

    response = client.get("/no/such/page/")

    assert_console_page(response, 404, "Not found")
    assertContains(response, 'href="/projects/">Back to my projects</a>', status_code=404)


def test_logged_out_visitor_is_offered_the_log_in(client, debug_off):
    response = client.get("/no/such/page/")

    assert_console_page(response, 404, "Not found")
    assertContains(response, 'href="/accounts/login/">Log in</a>', status_code=404)


def test_404_is_the_same_page_for_every_missing_path(client, debug_off, outsider, project):
    client.force_login(outsider)

    pages = [client.get(path) for path in ["/no/such/page/", "/projects/no-such-project/", "/projects/demo/"]]

    assert {response.status_code for response in pages} == {404}
    assert len({without_tokens(response) for response in pages}) == 1


def test_with_debug_on_a_view_raised_404_is_the_console_page(client, debug_on, outsider, project):
    client.force_login(outsider)

    unknown = client.get("/projects/does-not-exist/")
    not_a_member = client.get("/projects/demo/api-keys/")

    assert_console_page(unknown, 404, "Not found")
    assert without_tokens(unknown) == without_tokens(not_a_member)


def test_with_debug_on_an_unmatched_url_keeps_djangos_technical_page(client, debug_on, outsider):
    client.force_login(outsider)

    response = client.get("/no/such/page/")

    assertContains(response, TECHNICAL_PAGE, status_code=404)


@pytest.mark.parametrize("debug", [True, False])
def test_api_404_stays_json(client, settings, project, debug):
    settings.DEBUG = debug
    key = ApiKeyFactory(project=project)

    for path in ["/api/v1/no-such-endpoint", "/api/v1/projects/no-such-project/api-keys"]:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {key.secret}")

        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/whoami", "/api", "/admin/", "/admin/apikeys/apikey/"])
def test_the_middleware_leaves_the_api_and_the_admin_alone(path):
    middleware = ConsoleNotFoundMiddleware(lambda request: None)

    assert middleware.process_exception(RequestFactory().get(path), Http404("No such thing.")) is None


def test_the_middleware_handles_only_404s(rf):
    middleware = ConsoleNotFoundMiddleware(lambda request: None)

    assert middleware.process_exception(rf.get("/projects/demo/"), RuntimeError("boom")) is None


def test_with_debug_on_the_admin_keeps_djangos_404(client, debug_on, superuser):
    client.force_login(superuser)

    response = client.get("/admin/no-such-app/")

    assertContains(response, TECHNICAL_PAGE, status_code=404)


# -- 403 ------------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [True, False])
def test_403_is_the_console_page_naming_the_missing_permission(client, settings, viewer_user, debug):
    settings.DEBUG = debug
    client.force_login(viewer_user)

    response = client.get("/projects/demo/api-keys/create/")

    assert_console_page(response, 403, "Permission needed")
    assertContains(response, "can_create_api_keys_in_project", status_code=403)
    assertContains(response, "Ask an administrator of the project", status_code=403)


# -- 500 ------------------------------------------------------------------------------


def test_500_is_the_console_page(debug_off, admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)

    with mock.patch("projects.views.get_project_or_404", side_effect=RuntimeError("boom")):
        response = client.get("/projects/demo/")

    assert response.status_code == 500
    assert_console_page(response, 500, "Something went wrong")
    assertNotContains(response, "boom", status_code=500)
    assertNotContains(response, "alice", status_code=500)


def test_500_renders_without_a_request_or_context():
    # django.views.defaults.server_error renders it so: no context processors, no request.
    html = loader.get_template("500.html").render()

    assert STYLESHEET in html and FAVICON in html
    assert "<h1>Something went wrong</h1>" in html
    assert '<html lang="en">' in html


# -- favicon --------------------------------------------------------------------------


def test_the_favicon_exists_and_is_the_brand_mark():
    path = finders.find("favicon.svg")

    assert path is not None
    with open(path, encoding="utf-8") as svg:
        text = svg.read()
    assert text.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in text
    assert "#0b5cad" in text


def test_pages_link_the_favicon(client, admin_user):
    client.force_login(admin_user)

    assertContains(client.get("/projects/"), FAVICON)
    assertContains(Client().get("/accounts/login/"), FAVICON)


def test_the_favicon_is_served(debug_on):
    # A fresh client: whitenoise reads DEBUG (serve from the finders) when it starts.
    response = Client().get("/static/favicon.svg")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert b"#0b5cad" in b"".join(response.streaming_content)
