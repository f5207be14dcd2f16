"""One log-in policy for every log-in page: the console's and the admin's.

The limits themselves (per username, per address, the reset on success) are
tested on the console's page in test_abuse.py; here: the admin's page obeys
the same policy, and failures on either page count toward the same limit.
"""

from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from tests.htmltree import parse

# The console's log-in tests' addresses and their autouse fixture (no proxies).
from tests.test_abuse import ATTACKER, PASSWORD, SOMEONE_ELSE, THROTTLED, no_proxies  # noqa: F401

pytestmark = pytest.mark.django_db

CONSOLE = "/accounts/login/"
ADMIN = "/admin/login/"


def log_in(client, page, username, password, address=ATTACKER):
    return client.post(page, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def fail(client, page, username, address=ATTACKER):
    response = log_in(client, page, username, "wrong-password", address)
    assert response.status_code == 200, "a failed log-in re-renders the form"
    assert client.session.get(SESSION_KEY) is None


def assert_throttled(response):
    assert response.status_code == 429
    alert = " ".join(element.text() for element in parse(response).find_all(role="alert"))
    assert THROTTLED in alert
    minutes = max(1, django_settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
    assert f"Try again in {minutes} minutes" in alert


def test_admin_log_in_works(client, superuser):
    assert client.get(ADMIN).status_code == 200

    response = log_in(client, ADMIN, "root", PASSWORD)

    assert response.status_code == 302
    assert response.url == "/admin/"
    assert client.session[SESSION_KEY] == str(superuser.pk)
    assert client.get(reverse("admin:index")).status_code == 200


def test_admin_log_in_is_locked_after_the_limit_even_for_the_right_password(client, superuser):
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        fail(client, ADMIN, "root")

    response = log_in(client, ADMIN, "root", PASSWORD)

    assert_throttled(response)
    assert client.session.get(SESSION_KEY) is None
    # Still the admin's own page, with its form.
    assert parse(response).find("form", id="login-form") is not None


def test_throttled_admin_log_in_does_not_even_check_the_password(client, superuser):
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        fail(client, ADMIN, "root")

    with mock.patch("django.contrib.auth.forms.authenticate") as authenticate:
        assert_throttled(log_in(client, ADMIN, "root", PASSWORD))
    authenticate.assert_not_called()


@pytest.mark.parametrize(("failed_on", "then_on"), [(ADMIN, CONSOLE), (CONSOLE, ADMIN)])
def test_failures_on_one_log_in_page_count_toward_the_other(client, superuser, failed_on, then_on):
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        fail(client, failed_on, "root", address=SOMEONE_ELSE)

    # From another address too: it is the username that is locked.
    assert_throttled(log_in(Client(), then_on, "root", PASSWORD))


def test_failures_on_both_pages_add_up(client, superuser):
    limit = django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME
    assert limit >= 2
    for n in range(limit):
        fail(client, ADMIN if n % 2 else CONSOLE, "root")

    assert_throttled(log_in(client, ADMIN, "root", PASSWORD))
    assert_throttled(log_in(client, CONSOLE, "root", PASSWORD))


def test_admin_log_in_counts_toward_the_address_limit(client, superuser):
    for n in range(django_settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS):
        fail(Client(), ADMIN if n % 2 else CONSOLE, f"nobody{n}")

    assert_throttled(log_in(Client(), ADMIN, "root", PASSWORD))
    assert log_in(Client(), ADMIN, "root", PASSWORD, address=SOMEONE_ELSE).status_code == 302


def test_admin_success_resets_the_username_counter(client, superuser):
    limit = django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME
    for _ in range(limit - 1):
        fail(client, ADMIN, "root")
    assert log_in(client, ADMIN, "root", PASSWORD).status_code == 302
    client.post(reverse("admin:logout"))

    # Without the reset these would add up to more than the limit.
    for _ in range(limit - 1):
        fail(client, CONSOLE, "root")

    assert log_in(client, ADMIN, "root", PASSWORD).status_code == 302


def test_right_password_of_a_non_staff_user_is_a_failure_on_the_admin(client, admin_user):
    # alice is no staff member: the admin refuses her, and that counts.
    for _ in range(django_settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        assert log_in(client, ADMIN, "alice", PASSWORD).status_code == 200

    assert_throttled(log_in(client, CONSOLE, "alice", PASSWORD))


def test_logged_in_non_staff_user_sees_the_admin_log_in_page(client, admin_user):
    # Not sent around in circles: the admin asks for a staff account.
    client.force_login(admin_user)

    response = client.get(ADMIN)

    assert response.status_code == 200
    assert "not authorized to access this page" in response.content.decode()


def test_logged_in_staff_is_sent_to_the_admin_index(client, superuser):
    client.force_login(superuser)

    response = client.get(ADMIN)

    assert response.status_code == 302
    assert response.url == reverse("admin:index")


# -- the admin's password change checks a password too -----------------------------

PASSWORD_CHANGE = "/admin/password_change/"


def change_password(client, old, new="a-New-passw0rd-that-is-long", address=ATTACKER):
    return client.post(
        PASSWORD_CHANGE, {"old_password": old, "new_password1": new, "new_password2": new}, REMOTE_ADDR=address
    )


def test_guessing_the_old_password_on_the_admin_password_change_is_limited(client, superuser, settings):
    client.force_login(superuser)
    for _ in range(settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        assert change_password(client, "wrong-guess").status_code == 200

    with mock.patch("django.contrib.auth.base_user.AbstractBaseUser.check_password") as check:
        response = change_password(client, PASSWORD)

    assert response.status_code == 429
    assert THROTTLED in response.content.decode()
    check.assert_not_called()
    superuser.refresh_from_db()
    assert superuser.check_password(PASSWORD)
    # And the log-in pages count those guesses too.
    assert log_in(Client(), CONSOLE, "root", PASSWORD).status_code == 429


def test_the_admin_password_change_still_works(client, superuser):
    client.force_login(superuser)

    response = change_password(client, PASSWORD)

    assert response.status_code == 302
    superuser.refresh_from_db()
    assert superuser.check_password("a-New-passw0rd-that-is-long")


@pytest.mark.parametrize("page", [ADMIN, CONSOLE])
def test_look_alike_spellings_of_a_username_share_its_limit(client, superuser, settings, page):
    """The log-in form folds "ｒoot" and "𝐫oot" into "root" before checking the password; so does the limit."""
    spellings = ["root", "ｒoot", "\U0001d42boot", "ROOT", "ʳoot"]
    for attempt in range(settings.LOGIN_FAILURE_LIMIT_PER_USERNAME):
        fail(client, page, spellings[attempt % len(spellings)], address=f"198.51.100.{attempt}")

    for spelling in spellings:
        assert_throttled(log_in(client, page, spelling, PASSWORD, address=SOMEONE_ELSE))
    assert client.session.get(SESSION_KEY) is None
