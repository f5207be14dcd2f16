"""What an attacker tries against the console and the API, and that it fails.

- Log-in brute force: limited per username and per client address; past a
  limit even the right password is refused (the password is not checked).
- Open redirects after log-in (`next`), session fixation.
- CSRF: every console POST needs the token, htmx requests included; the API
  is exempt because its only credential is the bearer key.
- Oversized request bodies: refused with 400 / 413, never a 500.
"""

import json
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from apikeys.models import ApiKey, CreationTicket
from projects import catalog
from tests.factories import ApiKeyFactory
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
PASSWORD = "password"  # UserFactory's
ATTACKER = "203.0.113.66"
SOMEONE_ELSE = "198.51.100.7"
THROTTLED = "Too many failed log-in attempts"


@pytest.fixture(autouse=True)
def no_proxies(settings):
    # Client addresses come from REMOTE_ADDR, which each test sets.
    settings.TRUSTED_PROXY_COUNT = 0


def log_in(client, username, password, address=ATTACKER, **data):
    return client.post(LOGIN, {"username": username, "password": password, **data}, REMOTE_ADDR=address)


def logged_in_user_id(client):
    return client.session.get(SESSION_KEY)


def fail(client, username, address=ATTACKER):
    response = log_in(client, username, "wrong-password", address)
    assert response.status_code == 200, "a failed log-in re-renders the form"
    assert logged_in_user_id(client) is None
    return response


def assert_throttled(response):
    assert response.status_code == 429
    page = parse(response)
    alert = " ".join(element.text() for element in page.find_all("div", role="alert"))
    assert THROTTLED in alert
    minutes = max(1, django_settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
    assert f"Try again in {minutes} minutes" in alert


# -- log-in brute force ---------------------------------------------------------------------


def test_username_is_locked_after_the_limit_even_for_the_right_password(client, admin_user):
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        fail(client, "alice")

    assert_throttled(log_in(client, "alice", "wrong-password"))
    assert_throttled(log_in(client, "alice", PASSWORD))
    assert logged_in_user_id(client) is None
    assert client.get("/projects/").status_code == 302


def test_locked_username_is_refused_from_every_address_and_in_every_spelling(client, admin_user):
    # Guessing from many addresses (a botnet) does not get around the username's limit.
    for n in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        fail(client, "alice", address=f"192.0.2.{n + 1}")

    for spelling in ("alice", " alice", "ALICE", "Alice "):
        assert_throttled(log_in(Client(), spelling, PASSWORD, address="192.0.2.200"))


def test_throttled_log_in_does_not_even_check_the_password(client, admin_user):
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        fail(client, "alice")

    with mock.patch("django.contrib.auth.forms.authenticate") as authenticate:
        assert_throttled(log_in(client, "alice", PASSWORD))
    authenticate.assert_not_called()


def test_right_and_wrong_password_look_the_same_while_throttled(client, admin_user):
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        fail(client, "alice")

    right = log_in(client, "alice", PASSWORD)
    wrong = log_in(client, "alice", "wrong-password")

    assert right.status_code == wrong.status_code == 429
    assert parse(right).find("div", role="alert").text() == parse(wrong).find("div", role="alert").text()


def test_other_username_from_another_address_is_unaffected(client, admin_user, viewer_user):
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME + 3):
        log_in(client, "alice", "wrong-password")

    other = Client()
    response = log_in(other, "bob", PASSWORD, address=SOMEONE_ELSE)

    assert response.status_code == 302
    assert logged_in_user_id(other) == str(viewer_user.pk)


def test_address_is_limited_across_many_usernames(client, admin_user, viewer_user):
    per_username = django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME
    # Spraying: a few guesses for each of many usernames, each under its own limit.
    usernames = [f"victim{n}" for n in range(django_settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS)]
    failures = 0
    for username in usernames:
        for _ in range(per_username - 1):
            if failures == django_settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS:
                break
            fail(client, username)
            failures += 1

    assert failures == django_settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS
    # A username never tried, with its right password: the address is spent.
    assert_throttled(log_in(client, "bob", PASSWORD))
    assert logged_in_user_id(client) is None
    # The same user from elsewhere is fine.
    elsewhere = Client()
    assert log_in(elsewhere, "bob", PASSWORD, address=SOMEONE_ELSE).status_code == 302


def test_address_limit_is_shared_by_ipv6_and_every_client_of_that_address(client, admin_user):
    address = "2001:db8::1"
    for n in range(django_settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS):
        fail(Client(), f"nobody{n}", address=address)

    assert_throttled(log_in(Client(), "alice", PASSWORD, address=address))


def test_success_resets_the_username_counter(client, admin_user):
    limit = django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME
    assert limit >= 2, "with a limit of 1 there is nothing to reset"
    for _ in range(limit - 1):
        fail(client, "alice")
    assert log_in(client, "alice", PASSWORD).status_code == 302
    client.post(LOGOUT)

    # Without the reset these would add up to more than the limit.
    for _ in range(limit - 1):
        fail(client, "alice")
    response = log_in(client, "alice", PASSWORD)

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(admin_user.pk)


def test_failures_below_the_limit_do_not_lock_anybody_out(client, admin_user):
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME - 1):
        fail(client, "alice")

    assert log_in(client, "alice", PASSWORD).status_code == 302


# -- redirects after log-in -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example",
        "///evil.example",
        "http://evil.example/projects/",
        "https:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        " //evil.example",
        "http://testserver@evil.example/",
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "https://evil.example\\@testserver/",
    ],
)
def test_log_in_never_redirects_off_site(client, admin_user, next_url):
    response = log_in(client, "alice", PASSWORD, next=next_url)

    assert response.status_code == 302
    assert response["Location"] == "/projects/"
    assert logged_in_user_id(client) == str(admin_user.pk)


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example"])
def test_next_in_the_query_string_is_checked_too(client, admin_user, next_url):
    response = client.post(f"{LOGIN}?next={next_url}", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/projects/"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example"])
def test_already_logged_in_user_is_not_redirected_off_site(client, admin_user, next_url):
    client.force_login(admin_user)

    response = client.get(LOGIN, {"next": next_url})

    assert response.status_code == 302
    assert response["Location"] == "/projects/"


def test_a_local_next_is_honoured(client, admin_user, project):
    response = log_in(client, "alice", PASSWORD, next="/projects/demo/")

    assert response.status_code == 302
    assert response["Location"] == "/projects/demo/"
    assert client.get(response["Location"]).status_code == 200


def test_log_in_page_carries_next_into_the_form(client):
    page = parse(client.get(LOGIN, {"next": "/projects/demo/"}))

    form = page.find("form", action=LOGIN)
    assert form.find("input", name="next").attrs["value"] == "/projects/demo/"


# -- session fixation ----------------------------------------------------------------------------------


def test_session_id_is_rotated_at_log_in(client, admin_user):
    # An attacker plants a session id in the victim's browser before log-in.
    planted = client.session
    planted["planted"] = "by the attacker"
    planted.save()
    before = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert before == planted.session_key

    assert log_in(client, "alice", PASSWORD).status_code == 302

    after = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    # The attacker's copy of the old id is worth nothing.
    attacker = Client()
    attacker.cookies[django_settings.SESSION_COOKIE_NAME] = before
    assert attacker.get("/projects/").status_code == 302
    assert client.get("/projects/").status_code == 200


def test_session_id_is_rotated_at_log_out(client, admin_user):
    assert log_in(client, "alice", PASSWORD).status_code == 302
    logged_in = client.cookies[django_settings.SESSION_COOKIE_NAME].value

    client.post(LOGOUT)

    assert not Session.objects.filter(session_key=logged_in).exists()
    stolen = Client()
    stolen.cookies[django_settings.SESSION_COOKIE_NAME] = logged_in
    assert stolen.get("/projects/").status_code == 302


# -- CSRF --------------------------------------------------------------------------------------------------


@pytest.fixture
def browser():
    """A client that checks CSRF like a real deployment (Django's test client skips it by default)."""
    return Client(enforce_csrf_checks=True)


def csrf_token(client, url: str) -> str:
    """The token a page hands the browser (the cookie is set by rendering it)."""
    response = client.get(url)
    assert response.status_code == 200
    return client.cookies[django_settings.CSRF_COOKIE_NAME].value


def form_data(client, project) -> dict:
    response = client.get(reverse("apikeys:create", args=[project.slug]))
    assert response.status_code == 200
    ticket = parse(response).find("input", name="ticket").attrs["value"]
    return {
        "name": "csrf-probe",
        "description": "",
        "tags": "",
        "expiration": "30",
        "ticket": ticket,
        "permissions": [catalog.READ_PROJECT],
    }


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def api_key(project):
    return ApiKeyFactory(project=project, permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT], expires_at=None)


def test_log_in_without_token_is_refused_and_logs_nobody_in(browser, admin_user):
    response = browser.post(LOGIN, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 403
    assert logged_in_user_id(browser) is None
    assert browser.get("/projects/").status_code == 302
    # Control: with the token from the page the same post logs in.
    token = csrf_token(browser, LOGIN)
    response = browser.post(LOGIN, {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert logged_in_user_id(browser) == str(admin_user.pk)


def test_log_out_without_token_is_refused_and_keeps_the_session(browser, admin_user):
    browser.force_login(admin_user)

    for extra in ({}, HTMX):
        response = browser.post(LOGOUT, **extra)
        assert response.status_code == 403
        assert browser.get("/projects/").status_code == 200

    token = csrf_token(browser, "/projects/")
    assert browser.post(LOGOUT, HTTP_X_CSRFTOKEN=token).status_code == 302
    assert browser.get("/projects/").status_code == 302


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param({}, id="no-token"),
        pytest.param(HTMX, id="htmx-no-token"),
        pytest.param({"HTTP_X_CSRFTOKEN": "x" * 32}, id="wrong-token"),
        pytest.param({**HTMX, "HTTP_X_CSRFTOKEN": "forged" * 8}, id="htmx-wrong-token"),
    ],
)
def test_create_without_a_valid_token_is_refused_and_creates_nothing(browser, admin_user, project, attack):
    browser.force_login(admin_user)
    data = form_data(browser, project)
    url = reverse("apikeys:create", args=[project.slug])

    response = browser.post(url, data, **attack)

    assert response.status_code == 403
    assert not ApiKey.objects.exists()
    assert CreationTicket.objects.get(token=data["ticket"]).used_at is None
    # Control: the browser's own token makes the same post succeed.
    token = browser.cookies[django_settings.CSRF_COOKIE_NAME].value
    assert browser.post(url, {**data, "csrfmiddlewaretoken": token}).status_code == 201
    assert ApiKey.objects.count() == 1


def test_create_with_a_valid_token_from_another_origin_is_refused(browser, admin_user, project):
    browser.force_login(admin_user)
    data = form_data(browser, project)
    token = browser.cookies[django_settings.CSRF_COOKIE_NAME].value

    response = browser.post(
        reverse("apikeys:create", args=[project.slug]),
        {**data, "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("extra", [{}, HTMX], ids=["plain", "htmx"])
def test_revoke_without_token_is_refused_and_the_key_stays_active(browser, admin_user, project, extra):
    key = ApiKeyFactory(project=project, name="keep-me", created_by=admin_user)
    browser.force_login(admin_user)
    url = reverse("apikeys:revoke", args=[project.slug, key.public_id])

    response = browser.post(url, **extra)

    assert response.status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    # Control: with the token the same post revokes.
    token = csrf_token(browser, url)
    assert browser.post(url, HTTP_X_CSRFTOKEN=token, **extra).status_code in (200, 302)
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_language_switch_without_token_is_refused(browser):
    response = browser.post(reverse("set_language"), {"language": "de", "next": "/"})

    assert response.status_code == 403
    assert django_settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_api_is_csrf_exempt_but_needs_a_bearer_key(browser, api_key):
    url = f"/api/v1/projects/{api_key.project.slug}/api-keys"
    body = json.dumps({"name": "from-ci", "permissions": [catalog.READ_PROJECT], "expires_at": None})

    without_key = browser.post(url, body, content_type="application/json")
    created = browser.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")

    assert without_key.status_code == 401
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "from-ci"


def test_api_ignores_a_logged_in_session(browser, admin_user, project):
    """The session cookie a browser sends along is no credential for the API, so no CSRF."""
    victim_key = ApiKeyFactory(project=project, name="victim", created_by=admin_user)
    browser.force_login(admin_user)
    before = ApiKey.objects.count()

    created = browser.post(
        f"/api/v1/projects/{project.slug}/api-keys",
        json.dumps({"name": "by-csrf", "permissions": [catalog.READ_PROJECT]}),
        content_type="application/json",
    )
    revoked = browser.post(f"/api/v1/projects/{project.slug}/api-keys/{victim_key.public_id}/revoke")
    listed = browser.get(f"/api/v1/projects/{project.slug}/api-keys")

    for response in (created, revoked, listed):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
    assert ApiKey.objects.count() == before
    victim_key.refresh_from_db()
    assert victim_key.revoked_at is None


# -- request body limits ------------------------------------------------------------------------------------


def urlencoded_of_size(size: int, **fields) -> bytes:
    """A form body of exactly `size` bytes: the fields plus padding in a `filler` field."""
    head = "&".join(f"{name}={value}" for name, value in fields.items()) + "&filler="
    assert len(head) < size
    return (head + "a" * (size - len(head))).encode()


def post_form_body(client, url, body: bytes, **extra):
    return client.generic("POST", url, body, content_type="application/x-www-form-urlencoded", **extra)


def test_log_in_form_over_the_body_limit_is_a_400(client, admin_user):
    body = urlencoded_of_size(django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1, username="alice", password=PASSWORD)

    response = post_form_body(client, LOGIN, body, REMOTE_ADDR=ATTACKER)

    assert response.status_code == 400
    assert logged_in_user_id(client) is None


def test_log_in_form_at_the_body_limit_is_read(client, admin_user):
    body = urlencoded_of_size(django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE, username="alice", password=PASSWORD)

    response = post_form_body(client, LOGIN, body, REMOTE_ADDR=ATTACKER)

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(admin_user.pk)


def test_form_over_the_body_limit_is_a_400_with_csrf_checks_too(browser, admin_user):
    token = csrf_token(browser, LOGIN)
    body = urlencoded_of_size(
        django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1, csrfmiddlewaretoken=token, username="alice", password=PASSWORD
    )

    response = post_form_body(browser, LOGIN, body, REMOTE_ADDR=ATTACKER)

    assert response.status_code == 400
    assert logged_in_user_id(browser) is None


def test_create_form_over_the_body_limit_is_a_400_and_creates_nothing(client, admin_user, project):
    client.force_login(admin_user)
    data = form_data(client, project)
    body = urlencoded_of_size(
        django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1,
        name="huge",
        expiration="30",
        ticket=data["ticket"],
        permissions=catalog.READ_PROJECT,
    )

    response = post_form_body(client, reverse("apikeys:create", args=[project.slug]), body)

    assert response.status_code == 400
    assert not ApiKey.objects.exists()
    assert CreationTicket.objects.get(token=data["ticket"]).used_at is None


def test_form_with_too_many_fields_is_a_400(client, admin_user):
    body = "&".join(f"f{n}=x" for n in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)).encode()

    response = post_form_body(client, LOGIN, body, REMOTE_ADDR=ATTACKER)

    assert response.status_code == 400


def json_body_of_size(size: int) -> bytes:
    """A JSON create request of exactly `size` bytes (the padding is in the description)."""
    body = {"name": "padded", "permissions": [catalog.READ_PROJECT], "description": ""}
    bare = len(json.dumps(body).encode())
    body["description"] = "d" * (size - bare)
    encoded = json.dumps(body).encode()
    assert len(encoded) == size
    return encoded


def post_api(client, key, body: bytes, **extra):
    return client.generic(
        "POST",
        f"/api/v1/projects/{key.project.slug}/api-keys",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.secret}",
        **extra,
    )


def test_api_body_over_16_kib_is_a_413(client, api_key):
    response = post_api(client, api_key, json_body_of_size(16 * 1024 + 1))

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert ApiKey.objects.count() == 1


def test_api_body_of_exactly_16_kib_is_read(client, api_key):
    response = post_api(client, api_key, json_body_of_size(16 * 1024))

    # Read and judged: the padded description is too long, which is a 400, not a 413.
    assert response.status_code == 400
    assert "description" in response.json()["detail"]


def test_api_body_far_over_the_limit_is_a_413(client, api_key):
    response = post_api(client, api_key, b"[" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE * 2))

    assert response.status_code == 413


@pytest.mark.parametrize("declared", ["100", "-1", "abc", "0", ""])
def test_api_body_with_a_lying_content_length_is_never_a_500(client, api_key, declared):
    response = post_api(client, api_key, json_body_of_size(16 * 1024 + 100), CONTENT_LENGTH=declared)

    assert response.status_code in (400, 413)
    assert set(response.json()) == {"error", "detail"}
    assert ApiKey.objects.count() == 1


def test_deeply_nested_json_is_a_400_not_a_500(client, api_key):
    # 16,000 bytes: under the body limit, far over the parser's recursion limit.
    response = post_api(client, api_key, b"[" * 8_000 + b"]" * 8_000)

    assert response.status_code == 400
    assert ApiKey.objects.count() == 1
