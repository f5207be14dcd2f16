"""Expiry warnings: key managers are mailed 7 days and 1 day before a key stops working (SPEC §7).

The mail goes through real SMTP: an aiosmtpd server this module starts on
127.0.0.1 receives it, as the deployment's mail server would.
"""

import email
import threading
from datetime import timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django.utils.http import http_date

from accounts.models import Preference
from apikeys import expiry
from apikeys.models import ExpiryNotice
from projects import catalog
from tests.factories import ApiKeyFactory, MembershipFactory, ProjectFactory, UserFactory, expired_api_key, role
from tests.servers import free_port

BASE = "https://console.example.com"


class Inbox:
    """An SMTP server's handler: keeps what it accepts, or refuses everything while `refusing`."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.refusing = False
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refusing:
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(message)
        return "250 2.0.0 Accepted"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["X-Envelope-To"] == address]


@pytest.fixture
def inbox(settings):
    handler = Inbox()
    port = free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "API keys <apikeys@example.com>"
    settings.CONSOLE_BASE_URL = BASE
    yield handler
    server.stop()


@pytest.fixture
def expiring(project, admin_user):
    """A key of `project` that stops working in 5 days (and half an hour: "in 5 days" a moment later too)."""
    return ApiKeyFactory(
        project=project, name="nightly-report", expires_at=timezone.now() + timedelta(days=5, minutes=30)
    )


def body(message) -> str:
    # Relative times keep their number and unit together with a no-break space.
    return message.get_content().replace("\xa0", " ")


def subject(message) -> str:
    # Non-ASCII subjects travel as RFC 2047 encoded words; the parsed header may keep the fold's space.
    return str(message["Subject"]).strip()


def test_every_key_manager_gets_one_warning_through_smtp(
    inbox, project, admin_user, member_user, viewer_user, expiring
):
    call_command("notify_expiring_keys")

    assert sorted(m["X-Envelope-To"] for m in inbox.messages) == ["alice@example.com", "carol@example.com"]
    message = inbox.to("alice@example.com")[0]
    assert subject(message) == "API key “nightly-report” in Demo Project expires in 5 days"
    assert message["From"] == "API keys <apikeys@example.com>"
    text = body(message)
    assert "Hello alice," in text
    assert "expires on " in text and " UTC (in 5 days)" in text
    assert "401 Unauthorized" in text
    assert f"{BASE}/projects/demo/api-keys/{expiring.public_id}/" in text
    assert ExpiryNotice.objects.filter(api_key=expiring, threshold_days=7).count() == 2


def test_running_again_sends_nothing_new(inbox, project, admin_user, expiring, capsys):
    call_command("notify_expiring_keys")
    call_command("notify_expiring_keys")

    assert len(inbox.messages) == 1
    assert "Sent 0 expiry warnings; 1 had been sent before." in capsys.readouterr().out


def test_the_one_day_warning_follows_the_seven_day_one(inbox, project, admin_user, expiring):
    now = timezone.now()
    expiry.notify_expiring_keys(now)
    expiry.notify_expiring_keys(now + timedelta(days=3))  # 2 days left: still inside 7 days only
    expiry.notify_expiring_keys(now + timedelta(days=4, hours=12))  # 12 hours left
    expiry.notify_expiring_keys(now + timedelta(days=4, hours=18))

    subjects = [subject(m) for m in inbox.messages]
    assert subjects == [
        "API key “nightly-report” in Demo Project expires in 5 days",
        "API key “nightly-report” in Demo Project expires in 12 hours",
    ]


def test_a_key_first_seen_within_a_day_gets_only_the_one_day_warning(inbox, project, admin_user):
    key = ApiKeyFactory(project=project, name="short", expires_at=timezone.now() + timedelta(hours=20))

    call_command("notify_expiring_keys")

    assert len(inbox.messages) == 1
    assert list(ExpiryNotice.objects.filter(api_key=key).values_list("threshold_days", flat=True)) == [1]


def test_keys_that_do_not_stop_soon_or_already_stopped_are_not_mentioned(inbox, project, admin_user):
    ApiKeyFactory(project=project, name="far", expires_at=timezone.now() + timedelta(days=8))
    ApiKeyFactory(project=project, name="never", expires_at=None)
    expired_api_key(project=project, name="gone")
    revoked = ApiKeyFactory(project=project, name="revoked", expires_at=timezone.now() + timedelta(days=2))
    from apikeys import services

    services.api_key_revoke(api_key=revoked, revoked_by=admin_user)

    call_command("notify_expiring_keys")

    assert inbox.messages == []


def test_only_active_managers_with_an_address_of_the_keys_project_are_told(inbox, project, admin_user, expiring):
    MembershipFactory(project=project, user=UserFactory(username="dora", is_active=False), role=role(catalog.MEMBER))
    MembershipFactory(project=project, user=UserFactory(username="eve", email=""), role=role(catalog.ADMINISTRATOR))
    other = ProjectFactory(slug="other", name="Other")
    MembershipFactory(project=other, user=UserFactory(username="frank"), role=role(catalog.ADMINISTRATOR))

    call_command("notify_expiring_keys")

    assert [m["X-Envelope-To"] for m in inbox.messages] == ["alice@example.com"]


def test_the_warning_is_in_the_language_the_recipient_last_used(inbox, project, admin_user, expiring):
    Preference.objects.create(user=admin_user, language="de")

    call_command("notify_expiring_keys")

    message = inbox.messages[0]
    assert subject(message) == "API-Schlüssel „nightly-report“ in Demo Project läuft in 5 Tagen ab"
    text = body(message)
    assert "Hallo alice," in text
    assert "401 Unauthorized" in text
    # A German date (31.12.2026), never an ISO one.
    assert timezone.localtime(expiring.expires_at).strftime("%d.%m.%Y") in text
    assert expiring.expires_at.date().isoformat() not in text


def test_a_refused_warning_is_tried_again_on_the_next_run(inbox, project, admin_user, expiring):
    inbox.refusing = True
    with pytest.raises(CommandError, match="1 expiry warnings could not be sent"):
        call_command("notify_expiring_keys")
    assert not ExpiryNotice.objects.exists()

    inbox.refusing = False
    call_command("notify_expiring_keys")

    assert len(inbox.messages) == 1
    assert ExpiryNotice.objects.count() == 1


def test_without_the_consoles_address_it_refuses_to_send_links_to_nowhere(inbox, settings, expiring):
    settings.CONSOLE_BASE_URL = ""

    with pytest.raises(CommandError, match="CONSOLE_BASE_URL is not set"):
        call_command("notify_expiring_keys")

    assert inbox.messages == []


def test_a_mail_server_that_is_down_fails_the_run_and_claims_nothing(settings, project, admin_user, expiring):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.CONSOLE_BASE_URL = "127.0.0.1", free_port(), BASE

    with pytest.raises(ConnectionRefusedError):
        call_command("notify_expiring_keys")

    assert not ExpiryNotice.objects.exists()


# -- the recipient's language, recorded at log-in and on switching ---------------------------


def test_the_language_of_the_log_in_page_is_remembered(client, admin_user):
    admin_user.set_password("correct horse battery")
    admin_user.save()

    client.post(
        "/accounts/login/",
        {"username": "alice", "password": "correct horse battery"},
        HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9",
    )

    assert Preference.objects.get(user=admin_user).language == "de"


def test_switching_the_language_is_remembered(client, admin_user):
    client.force_login(admin_user)

    client.post("/i18n/setlang/", {"language": "de", "next": "/projects/"})
    assert Preference.objects.get(user=admin_user).language == "de"
    client.post("/i18n/setlang/", {"language": "en", "next": "/projects/"})
    assert Preference.objects.get(user=admin_user).language == "en"


def test_a_language_the_console_does_not_speak_is_not_remembered(client, admin_user):
    client.force_login(admin_user)

    client.post("/i18n/setlang/", {"language": "xx", "next": "/projects/"})

    assert not Preference.objects.exists()


def test_a_logged_out_visitor_switching_language_writes_nothing(client, db):
    response = client.post("/i18n/setlang/", {"language": "de", "next": "/accounts/login/"})

    assert response.status_code == 302
    assert not Preference.objects.exists()


# -- the Sunset header and the tab's count ----------------------------------------------------


def test_every_answer_to_an_expiring_key_says_when_it_stops(client, project):
    key = ApiKeyFactory(
        project=project, permissions=[catalog.READ_PROJECT], expires_at=timezone.now() + timedelta(days=3)
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}

    served = client.get("/api/v1/whoami", **auth)
    refused = client.get("/api/v1/projects/demo/api-keys", **auth)  # 403: the key lacks the permission
    elsewhere = client.get("/api/v1/projects/other", **auth)  # 404: another project

    assert served.status_code == 200 and refused.status_code == 403
    for response in (served, refused, elsewhere):
        assert response["Sunset"] == http_date(key.expires_at.timestamp())


def test_a_key_that_never_expires_and_a_refused_key_get_no_sunset(client, project):
    key = ApiKeyFactory(project=project, expires_at=None)

    assert "Sunset" not in client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    assert "Sunset" not in client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {key.secret[:-1]}x")


def test_the_tab_says_how_many_keys_expire_within_seven_days(client, project, admin_user):
    ApiKeyFactory(project=project, name="soon", expires_at=timezone.now() + timedelta(days=2))
    ApiKeyFactory(project=project, name="sooner", expires_at=timezone.now() + timedelta(hours=3))
    ApiKeyFactory(project=project, name="later", expires_at=timezone.now() + timedelta(days=30))
    expired_api_key(project=project, name="gone")
    client.force_login(admin_user)

    page = client.get("/projects/demo/api-keys/").content.decode()

    assert "2 expire within 7 days" in page
    assert 'href="?status=expires_soon"' in page


# -- two hosts at once (PostgreSQL: SQLite serializes writers) -------------------------------


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite serializes writers")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_runs_at_once_send_each_warning_once(inbox):
    project = ProjectFactory(slug="twice", name="Twice")
    for name in ("ann", "ben", "cid"):
        MembershipFactory(project=project, user=UserFactory(username=name), role=role(catalog.ADMINISTRATOR))
    for index in range(4):
        ApiKeyFactory(project=project, name=f"k{index}", expires_at=timezone.now() + timedelta(days=3))
    barrier, errors = threading.Barrier(4, timeout=30), []

    def run():
        try:
            barrier.wait()
            expiry.notify_expiring_keys()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    sent = sorted((m["X-Envelope-To"], subject(m)) for m in inbox.messages)
    assert len(sent) == 3 * 4 == len(set(sent))
    assert ExpiryNotice.objects.count() == 12


def test_the_managers_of_a_rolled_key_hear_when_its_old_secret_stops_working(inbox, project, admin_user):
    from apikeys import services

    key = ApiKeyFactory(project=project, name="deploy", expires_at=timezone.now() + timedelta(days=60))
    successor = services.api_key_roll(api_key=key, grace=timedelta(days=3, minutes=30), rolled_by=admin_user).api_key

    call_command("notify_expiring_keys")

    (message,) = inbox.messages
    assert subject(message) == "The old secret of API key “deploy” in Demo Project stops working in 3 days"
    assert "was rolled" in body(message)
    assert ExpiryNotice.objects.get().api_key == key
    assert not ExpiryNotice.objects.filter(api_key=successor).exists()
