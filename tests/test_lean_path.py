"""The API and /healthz skip the console's middleware (config/lean.py) and keep what a client relies on.

What they skip must not be missed: every security header, a length, the
refusal of unknown hosts, and one language whatever the console did before.
And what they gained (no health-check round trip) must not cost a request when
the database dropped a persistent connection (config/db.py).
"""

import psycopg
import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse

from apikeys import services
from projects import catalog
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}


@pytest.fixture
def key(project):
    return ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS], expires_at=None)


def bearer(key) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}


@pytest.mark.parametrize("path", ["/api/v1/whoami", "/api/v1/no-such-thing", "/healthz"])
def test_machine_answers_carry_every_security_header(client, key, path):
    response = client.get(path, **bearer(key))

    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Content-Length"] == str(len(response.content))


def test_the_console_keeps_its_own_policy_with_a_nonce(admin_client_page):
    response = admin_client_page

    assert "'nonce-" in response["Content-Security-Policy"]


@pytest.fixture
def admin_client_page(client, admin_user, project):
    client.force_login(admin_user)
    return client.get(reverse("apikeys:list", args=[project.slug]))


@pytest.mark.parametrize("path", ["/api/v1/whoami", "/healthz"])
def test_machine_paths_never_touch_a_session_or_set_a_cookie(client, admin_user, key, path):
    client.force_login(admin_user)  # a browser with a console session calls the API
    sessions = list(Session.objects.values_list("session_key", "expire_date"))

    response = client.get(path, **bearer(key))

    assert response.status_code == 200
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    assert list(Session.objects.values_list("session_key", "expire_date")) == sessions


def test_the_api_answers_in_english_after_a_german_console_page(client, admin_user, project, key):
    # One worker thread serves both: the console's language must not leak into the API.
    other = services.api_key_create(
        project=project, name="taken", permissions=[catalog.READ_PROJECT], created_by=admin_user
    )
    client.force_login(admin_user)
    assert client.get(reverse("apikeys:list", args=[project.slug]), **GERMAN)["Content-Language"] == "de"

    response = client.post(
        reverse("api:keys", args=[project.slug]),
        {"name": other.api_key.name, "permissions": [catalog.READ_PROJECT]},
        content_type="application/json",
        **bearer(key),
        **GERMAN,
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "An active API key with this name already exists in this project."
    assert "Content-Language" not in response.headers


def test_the_api_refuses_an_unknown_host(client, key):
    response = client.get("/api/v1/whoami", HTTP_HOST="evil.example", **bearer(key))

    assert response.status_code == 400
    assert response.json()["detail"] == "The Host header names a host this server does not serve."


@pytest.mark.parametrize("host", ["10.0.3.17:8000", "[fd00::17]:8000", "evil.example"])
def test_healthz_answers_a_load_balancer_probing_by_address(client, host):
    response = client.get("/healthz", HTTP_HOST=host)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_an_unknown_api_path_is_still_json(client, key):
    response = client.get("/api/v2/anything", **bearer(key))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


# -- a connection the database dropped ------------------------------------------------------


def drop_the_connection_server_side() -> None:
    """What a database restart or failover does to every persistent connection."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"]
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a server-side disconnect needs a database server"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_key_check_survives_a_dropped_persistent_connection(client, key):
    drop_the_connection_server_side()

    response = client.get("/api/v1/whoami", **bearer(key))

    assert response.status_code == 200
    assert response.json()["id"] == key.public_id


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_healthz_survives_a_dropped_persistent_connection(client):
    drop_the_connection_server_side()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
