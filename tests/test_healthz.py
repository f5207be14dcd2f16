"""/healthz: for load balancers; no log-in, no session, no cookie."""

import pytest
from django.contrib.sessions.models import Session
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_it_works_anonymously(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_it_sets_no_cookie(client):
    response = client.get("/healthz")

    assert "Set-Cookie" not in response.headers
    assert not response.cookies


def test_it_creates_no_session(client):
    client.get("/healthz")
    client.get("/healthz")

    assert not Session.objects.exists()


def test_it_leaves_a_logged_in_session_alone(client, viewer_user):
    client.force_login(viewer_user)
    session_key = client.session.session_key

    response = client.get("/healthz")

    assert response.status_code == 200
    assert not response.cookies
    assert list(Session.objects.values_list("session_key", flat=True)) == [session_key]


def test_it_is_not_cached(client):
    response = client.get("/healthz")

    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_only_answers_get_and_head(client, method):
    response = getattr(client, method)("/healthz")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_it_is_not_redirected_to_https(client, settings):
    # Load balancers probe over plain HTTP inside the network.
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301


def test_it_reports_503_when_the_database_is_down(client, monkeypatch):
    attempts = []

    def refused(connection, sql, *args):
        attempts.append(sql)
        raise OperationalError("connection refused")

    monkeypatch.setattr("config.db._fetch_one", refused)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert "connection refused" not in response.content.decode()
    assert 1 <= len(attempts) <= 2  # at most one retry, on a new connection
