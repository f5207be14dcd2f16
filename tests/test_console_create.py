"""The create form and the view-once secret page (README, "View-once secrets")."""

import json
import logging
import pickle
from datetime import date, datetime, time, timedelta

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apikeys import authentication, tokens
from apikeys.models import ApiKey, AuditEvent, CreationTicket
from config.logfilters import install_record_factory
from projects import catalog
from projects.templatetags.console import when
from tests.factories import ApiKeyFactory, MembershipFactory, RoleFactory
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

DELETE_PROJECT = "can_delete_project_in_project"


def create_url(project) -> str:
    return reverse("apikeys:create", args=[project.slug])


def list_url(project) -> str:
    return reverse("apikeys:list", args=[project.slug])


def open_form(client, project) -> dict:
    """GET the form and return what a browser would post back (with its ticket)."""
    response = client.get(create_url(project))
    assert response.status_code == 200
    ticket = parse(response).find("input", name="ticket").attrs["value"]
    assert ticket
    return {
        "name": "deploy",
        "description": "",
        "tags": "",
        "expiration": "30",
        "ticket": ticket,
        "permissions": [catalog.READ_PROJECT],
    }


def offered(response) -> list[str]:
    return [box.attrs["value"] for box in parse(response).find_all("input", name="permissions")]


def secret_of(response) -> str:
    element = parse(response).by_id("api-key-secret")
    assert element is not None, "no element with id=api-key-secret"
    return element.attrs.get("value") or element.text()


# -- the form ----------------------------------------------------------------------


def test_member_is_offered_only_what_their_role_holds(client, project, member_user):
    client.force_login(member_user)

    response = client.get(create_url(project))

    assert set(offered(response)) == set(catalog.DEFAULT_ROLES[catalog.MEMBER])
    assert DELETE_PROJECT not in offered(response)


def test_administrator_is_offered_the_whole_catalog_in_catalog_order(client, project, admin_user):
    client.force_login(admin_user)

    assert offered(client.get(create_url(project))) == [p.codename for p in catalog.CATALOG]


def test_checkbox_value_is_the_codename(client, project, admin_user):
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    for box in page.find_all("input", name="permissions"):
        assert box.attrs["type"] == "checkbox"
        assert box.attrs["value"] in catalog.CODENAMES
        label = box.parent
        assert label.tag == "label"
        assert catalog.label(box.attrs["value"]) in label.text()


def test_forged_permission_gets_a_form_error_and_no_key(client, project, member_user):
    client.force_login(member_user)
    data = open_form(client, project)
    data["permissions"] = [catalog.READ_PROJECT, DELETE_PROJECT]

    response = client.post(create_url(project), data)

    assert response.status_code == 200
    errors = response.context["form"].errors["permissions"]
    assert any(DELETE_PROJECT in error for error in errors)
    assert DELETE_PROJECT in parse(response).find("fieldset", id="permissions").text()
    assert not ApiKey.objects.exists()
    assert not AuditEvent.objects.exists()


def test_permission_outside_the_catalog_is_refused(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project)
    data["permissions"] = ["add_apikey"]

    response = client.post(create_url(project), data)

    assert response.status_code == 200
    assert "permissions" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_permissions_are_grouped_per_service_with_select_all(client, project, admin_user):
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    groups = page.find_all("fieldset", class_="perm-fieldset")
    assert [group.find("legend").text() for group in groups] == list(catalog.GROUPS)
    for group in groups:
        legend = group.find("legend").text()
        select_all = group.find("input", data_select_all=True)
        assert select_all is not None and select_all.attrs["type"] == "checkbox"
        assert legend in select_all.parent.text()
        assert [box.attrs["value"] for box in group.find_all("input", name="permissions")] == [
            p.codename for p in catalog.CATALOG if p.group == legend
        ]


def test_member_sees_only_groups_with_something_to_offer(client, project):
    user = MembershipFactory(
        project=project, role=RoleFactory(codenames=[catalog.CREATE_API_KEYS, "can_read_databases_in_dbaas"])
    ).user
    client.force_login(user)

    page = parse(client.get(create_url(project)))

    assert [g.find("legend").text() for g in page.find_all("fieldset", class_="perm-fieldset")] == ["Project", "DBaaS"]


def test_form_warns_about_the_api_key_creation_permission(client, project, admin_user):
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    warning = page.by_id("manage-warning")
    assert warning is not None
    assert "API Key Creation Permission" in warning.text()
    box = page.find("input", name="permissions", value=catalog.CREATE_API_KEYS)
    assert "manage-warning" in box.attrs["aria-describedby"].split()
    # Next to its checkbox, and shown once it is ticked.
    assert warning.parent is box.parent.parent
    assert warning.has("hidden")
    ticked = parse(client.get(create_url(project) + "?preset=all-with-dangerous")).by_id("manage-warning")
    assert not ticked.has("hidden")


def test_form_has_the_seed_fields(client, project, admin_user):
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    for name in ("name", "description", "tags", "expires_on"):
        field = page.find(name=name)
        assert field is not None, name
        assert page.find("label", for_=field.attrs["id"]) is not None, f"{name} has no label"
    assert [radio.attrs["value"] for radio in page.find_all("input", name="expiration")] == [
        "30",
        "90",
        "365",
        "custom",
        "never",
    ]


def test_form_response_is_not_stored(client, project, admin_user):
    client.force_login(admin_user)

    assert "no-store" in client.get(create_url(project))["Cache-Control"]


@pytest.mark.parametrize("days", [30, 90, 365])
def test_quick_choice_sets_the_expiry(client, project, admin_user, days):
    client.force_login(admin_user)
    data = open_form(client, project) | {"expiration": str(days)}

    before = timezone.now()
    response = client.post(create_url(project), data)
    after = timezone.now()

    assert response.status_code == 201
    key = ApiKey.objects.get()
    assert before + timedelta(days=days) <= key.expires_at <= after + timedelta(days=days)


def test_custom_date_expires_at_the_end_of_that_day(client, project, admin_user):
    client.force_login(admin_user)
    day = date.today() + timedelta(days=45)
    data = open_form(client, project) | {"expiration": "custom", "expires_on": day.isoformat()}

    response = client.post(create_url(project), data)

    assert response.status_code == 201
    assert ApiKey.objects.get().expires_at == datetime.combine(day, time.max, tzinfo=timezone.get_current_timezone())


def test_never_leaves_the_key_without_expiry(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project) | {"expiration": "never"}

    assert client.post(create_url(project), data).status_code == 201
    assert ApiKey.objects.get().expires_at is None


def test_never_is_not_offered_or_accepted_under_an_expiry_policy(client, project, admin_user, settings):
    settings.API_KEY_REQUIRE_EXPIRY = True
    client.force_login(admin_user)
    data = open_form(client, project)
    radios = [r.attrs["value"] for r in parse(client.get(create_url(project))).find_all("input", name="expiration")]

    response = client.post(create_url(project), data | {"expiration": "never"})

    assert "never" not in radios
    assert response.status_code == 200
    assert "expiration" in response.context["form"].errors
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("lifetime", ["99999999999", "120", "-5", "٣٠"])
def test_a_lifetime_the_form_does_not_offer_is_a_form_error(client, project, admin_user, lifetime):
    client.force_login(admin_user)
    data = open_form(client, project)

    response = client.post(create_url(project), data | {"expiration": lifetime})

    assert response.status_code == 200
    assert "expiration" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_custom_date_beyond_the_maximum_lifetime_is_refused(client, project, admin_user, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 30
    client.force_login(admin_user)
    data = open_form(client, project)
    too_late = (date.today() + timedelta(days=60)).isoformat()

    response = client.post(create_url(project), data | {"expiration": "custom", "expires_on": too_late})

    assert response.status_code == 200
    assert "at most" in response.content.decode()
    assert not ApiKey.objects.exists()


def expiration_choices(response) -> list[str]:
    return [radio.attrs["value"] for radio in parse(response).find_all("input", name="expiration")]


@pytest.mark.parametrize(
    ("cap", "offered_choices", "initial"),
    [
        (0, ["30", "90", "365", "custom", "never"], "90"),
        (60, ["30", "60", "custom"], "30"),
        (90, ["30", "90", "custom"], "90"),
        (400, ["30", "90", "365", "400", "custom"], "90"),
        (7, ["7", "custom"], "7"),
    ],
)
def test_the_form_offers_only_lifetimes_the_policy_allows(
    client, project, admin_user, settings, cap, offered_choices, initial
):
    settings.API_KEY_MAX_LIFETIME_DAYS = cap
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    assert [r.attrs["value"] for r in page.find_all("input", name="expiration")] == offered_choices
    assert [r.attrs["value"] for r in page.find_all("input", name="expiration") if "checked" in r.attrs] == [initial]
    picker = page.find("input", name="expires_on")
    assert picker.attrs["min"] == (timezone.localdate() + timedelta(days=1)).isoformat()
    # The last day whose end is within the lifetime: the day before the cap's day.
    last = timezone.localdate() + timedelta(days=cap - 1 if cap else 36524)
    assert picker.attrs["max"] == last.isoformat()


def test_every_offered_lifetime_is_accepted(client, project, admin_user, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 60
    client.force_login(admin_user)

    for choice in [c for c in expiration_choices(client.get(create_url(project))) if c != "custom"]:
        data = open_form(client, project) | {"name": f"lifetime {choice}", "expiration": choice}
        assert client.post(create_url(project), data).status_code == 201, choice


def test_the_help_text_names_the_time_zone_the_date_is_read_in(client, project, admin_user, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    client.force_login(admin_user)
    day = date.today() + timedelta(days=10)

    help_text = parse(client.get(create_url(project))).by_id("expires-help").text()
    client.post(
        create_url(project), open_form(client, project) | {"expiration": "custom", "expires_on": day.isoformat()}
    )

    assert "Europe/Berlin" in help_text and "UTC" not in help_text
    # The end of that day in Berlin, as the help says.
    expected = datetime.combine(day, time.max, tzinfo=timezone.get_current_timezone())
    assert ApiKey.objects.get().expires_at == expected


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
@pytest.mark.parametrize("day", ["9999-12-31", "9000-01-01", "2200-06-30"])
def test_a_date_at_the_end_of_the_calendar_is_a_form_error_in_every_zone(
    client, project, admin_user, settings, zone, day
):
    settings.TIME_ZONE = zone
    client.force_login(admin_user)

    response = client.post(
        create_url(project), open_form(client, project) | {"expiration": "custom", "expires_on": day}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["expires_on"] == ["The expiration date can be at most 100 years from now."]
    assert not ApiKey.objects.exists()
    # And the tab still renders in that zone.
    assert client.get(list_url(project)).status_code == 200


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("deploy\u200b", "U+200B"),  # zero-width space
        ("\u202edeploy", "U+202E"),  # right-to-left override
        ("dep\x07loy", "U+0007"),  # a control character
        ("deploy\ufe0f", "U+FE0F"),  # a variation selector
        ("dep\u3164loy", "U+3164"),  # Hangul filler, a "letter" that shows nothing
    ],
)
def test_invisible_characters_in_a_name_are_a_form_error(client, project, admin_user, typed, error):
    client.force_login(admin_user)

    response = client.post(create_url(project), open_form(client, project) | {"name": typed})

    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors["name"])
    assert not ApiKey.objects.exists()


def test_a_look_alike_of_an_active_name_is_refused(client, project, admin_user):
    client.force_login(admin_user)
    assert client.post(create_url(project), open_form(client, project) | {"name": "deploy key"}).status_code == 201

    # Full-width letters, a no-break space, a doubled space: all the same name once normalized.
    for look_alike in ["ｄｅｐｌｏｙ key", "deploy\u00a0key", "deploy  key"]:
        response = client.post(create_url(project), open_form(client, project) | {"name": look_alike})
        assert response.status_code == 200, look_alike
        assert response.context["form"].errors["name"] == [
            "An active API key with this name already exists in this project."
        ]
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "Enter a name for the key."),
        ({"permissions": []}, "Choose at least one permission."),
        ({"expiration": "custom", "expires_on": ""}, "Pick the date on which the key expires."),
        ({"expiration": "custom", "expires_on": "2001-01-01"}, "The expiration date must be tomorrow or later."),
        ({"expiration": "forever"}, "Select a valid choice."),
        ({"tags": "bad tag"}, "is not valid"),
    ],
    ids=["no-name", "no-permissions", "no-date", "past-date", "bad-choice", "bad-tag"],
)
def test_validation_errors_re_render_the_form(client, project, admin_user, changes, message):
    client.force_login(admin_user)
    data = open_form(client, project) | {"name": "keeps my input", "description": "and this"} | changes

    response = client.post(create_url(project), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    page = parse(response)
    assert page.by_id("api-key-secret") is None
    # What was typed stays, and so does the form's ticket.
    assert page.find("input", name="ticket").attrs["value"] == data["ticket"]
    assert page.find("textarea", name="description").text() == "and this"
    assert not ApiKey.objects.exists()


def test_form_can_be_fixed_and_resubmitted_after_an_error(client, project, admin_user):
    ApiKeyFactory(project=project, name="taken")
    client.force_login(admin_user)
    data = open_form(client, project) | {"name": "taken"}

    refused = client.post(create_url(project), data)
    accepted = client.post(create_url(project), data | {"name": "free"})

    assert refused.status_code == 200
    assert "already exists" in refused.content.decode()
    assert accepted.status_code == 201
    assert ApiKey.objects.filter(name="free").exists()


# -- the view-once secret page -------------------------------------------------------------


@pytest.fixture
def created(client, project, admin_user):
    """Create a key through the form; returns (response, secret, key, posted data)."""
    client.force_login(admin_user)
    data = open_form(client, project) | {"name": "ci deploy", "tags": "ci"}
    response = client.post(create_url(project), data)
    assert response.status_code == 201
    key = ApiKey.objects.get()
    return response, secret_of(response), key, data


def test_secret_is_shown_once_with_the_authorization_header(created):
    response, secret, key, _ = created
    page = parse(response)

    assert tokens.parse(secret).public_id == key.public_id
    assert authentication.api_key_authenticate(secret).api_key == key
    assert page.by_id("api-key-header").attrs["value"] == f"Authorization: Bearer {secret}"
    assert "You will not be able to retrieve the secret key again" in page.text()
    copy = page.find("button", data_copy_target="api-key-secret")
    assert copy is not None and copy.text() == "Copy"
    assert key.masked in page.text()


def test_secret_page_is_not_stored_by_any_cache(created):
    response = created[0]

    cache_control = response["Cache-Control"]
    assert "no-store" in cache_control
    assert "private" in cache_control
    assert "max-age=0" in cache_control
    assert "public" not in cache_control


def dump_database() -> str:
    """Every row of every table, as text; sessions decoded."""
    parts = []
    for model in apps.get_models(include_auto_created=True):
        for row in model._base_manager.all().values_list():
            parts.append(repr(row))
    for session in Session.objects.all():
        parts.append(repr(session.get_decoded()))
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names from the db
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)


def test_secret_is_not_written_to_the_database(created, admin_user):
    _, secret, key, _ = created

    dump = dump_database()

    assert secret not in dump
    assert tokens.hash_key(secret, key.pepper_version) in dump  # the dump did reach the keys
    assert str(admin_user.pk) in "".join(repr(s.get_decoded()) for s in Session.objects.all())
    # Not even a part of it that would narrow it down.
    assert tokens.parse(secret).raw[len("cpk_") + 13 : -6] not in dump


def test_secret_is_not_in_the_session_messages_or_cookies(client, created):
    response, secret, _, _ = created

    assert secret not in repr(dict(client.session.items()))
    assert secret not in str(client.cookies)
    assert secret not in str(response.cookies)
    for message in get_messages(response.wsgi_request):
        assert secret not in str(message)
    assert "Set-Cookie" not in response or secret not in response["Set-Cookie"]
    # The next page does not carry it either.
    following = client.get(list_url(created[2].project))
    assert secret not in following.content.decode()
    assert secret not in str(client.cookies)


def test_secret_is_not_in_any_cache(created):
    _, secret, _, _ = created

    for cache in caches.all(initialized_only=True):
        if isinstance(cache, RedisCache):  # CI's second pass: every key in the Redis database
            client = cache._cache.get_client()
            for cache_key in client.scan_iter():
                assert secret.encode() not in cache_key
                assert secret.encode() not in (client.get(cache_key) or b"")
            continue
        store = getattr(cache, "_cache", None)
        if not isinstance(store, dict):
            pytest.fail(f"cannot list the entries of {type(cache).__name__}")
        for cache_key, value in store.items():
            assert secret not in cache_key
            assert secret.encode() not in value
            assert secret not in repr(pickle.loads(value))


class RawRecords(logging.Handler):
    """Sees each record before any other handler's filter (the redaction) rewrites it."""

    def __init__(self):
        super().__init__(logging.NOTSET)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(f"{record.getMessage()} {record.__dict__!r}")


@pytest.fixture
def raw_records():
    """Messages as the code logs them: the scrubbing record factory is set aside meanwhile.

    So a test using it sees whether the secret is ever handed to a logger, not
    only whether the scrubbing caught it (config/logfilters.py).
    """
    handler = RawRecords()
    root = logging.getLogger()
    root.handlers.insert(0, handler)
    logging.setLogRecordFactory(logging.LogRecord)
    yield handler.messages
    root.removeHandler(handler)
    install_record_factory()


def test_secret_is_not_logged_not_even_in_sql(client, project, admin_user, caplog, settings, raw_records):
    # DEBUG turns on Django's SQL log (django.db.backends at DEBUG level).
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    client.force_login(admin_user)
    data = open_form(client, project)
    caplog.clear()
    raw_records.clear()

    response = client.post(create_url(project), data)

    assert response.status_code == 201
    secret = secret_of(response)
    key = ApiKey.objects.get()
    inserts = [r.getMessage() for r in caplog.records if r.name == "django.db.backends" and "INSERT" in r.getMessage()]
    key_inserts = [sql for sql in inserts if "apikeys_apikey" in sql]
    assert key_inserts, "SQL logging was not captured"
    assert key.secret_hash in key_inserts[0]
    assert secret not in key_inserts[0]
    assert len(raw_records) == len(caplog.records)
    # Not logged at all, not merely redacted on the way out.
    for message in raw_records:
        assert secret not in message
    for record in caplog.records:
        assert secret not in record.getMessage()
    assert secret not in caplog.text


def test_resubmitting_the_same_form_creates_nothing_and_shows_no_secret(client, created):
    _, secret, key, data = created

    again = client.post(create_url(key.project), data, follow=True)

    assert ApiKey.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATED).count() == 1
    assert again.redirect_chain == [(list_url(key.project), 302)]
    text = again.content.decode()
    assert secret not in text
    assert parse(again).by_id("api-key-secret") is None
    assert "already submitted" in text
    assert "no second key" in text


def test_resubmitting_with_another_name_still_creates_nothing(client, created):
    _, secret, key, data = created

    again = client.post(create_url(key.project), data | {"name": "second"})

    assert again.status_code == 302
    assert ApiKey.objects.count() == 1
    assert secret not in again.content.decode()


def test_list_afterwards_shows_the_key_masked_only(client, created):
    _, secret, key, _ = created

    response = client.get(list_url(key.project))

    text = response.content.decode()
    assert secret not in text
    assert key.masked in text


def test_each_form_rendering_gets_its_own_ticket(client, project, admin_user):
    client.force_login(admin_user)

    first, second = open_form(client, project), open_form(client, project)

    assert first["ticket"] != second["ticket"]
    assert CreationTicket.objects.filter(user=admin_user, used_at__isnull=True).count() == 2


def test_two_forms_open_in_two_tabs_create_two_keys(client, project, admin_user):
    client.force_login(admin_user)
    first, second = open_form(client, project), open_form(client, project)

    assert client.post(create_url(project), first | {"name": "one"}).status_code == 201
    assert client.post(create_url(project), second | {"name": "two"}).status_code == 201
    assert set(ApiKey.objects.values_list("name", flat=True)) == {"one", "two"}


def test_creation_is_audited_with_the_client_address(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project)

    client.post(create_url(project), data, REMOTE_ADDR="198.51.100.4")

    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.CREATED
    assert event.actor_user == admin_user
    assert event.ip_address == "198.51.100.4"
    assert event.api_key == ApiKey.objects.get()


# -- presets and the summary ---------------------------------------------------------


def checked(response) -> list[str]:
    return [
        box.attrs["value"] for box in parse(response).find_all("input", name="permissions") if "checked" in box.attrs
    ]


def test_read_only_preset_ticks_only_the_read_permissions_the_user_may_grant(client, project, member_user):
    client.force_login(member_user)

    response = client.get(create_url(project) + "?preset=read")

    assert checked(response) == [p.codename for p in catalog.CATALOG if p.codename in catalog.READ_ONLY]
    assert all(code.startswith("can_read_") or code.startswith("can_become_") for code in checked(response))


def test_everything_preset_ticks_what_the_user_holds_except_the_dangerous(client, project, member_user):
    client.force_login(member_user)

    response = client.get(create_url(project) + "?preset=all")

    assert checked(response) == [code for code in offered(response) if code not in catalog.DANGEROUS]
    assert catalog.CREATE_API_KEYS in offered(response)
    assert catalog.CREATE_API_KEYS not in checked(response)
    # The page says what was left out, by label, and how to add it.
    line = parse(response).by_id("dangerous-left-out")
    assert not line.has("hidden")
    assert "1 dangerous permission was left out" in line.text()
    assert catalog.BY_CODENAME[catalog.CREATE_API_KEYS].label in line.text()
    assert line.find("a").attrs["href"] == "?preset=all-with-dangerous"


def test_everything_with_the_dangerous_ones_ticks_all_the_user_holds(client, project, admin_user):
    client.force_login(admin_user)

    response = client.get(create_url(project) + "?preset=all-with-dangerous")

    assert checked(response) == offered(response) == [p.codename for p in catalog.CATALOG]
    assert parse(response).by_id("dangerous-left-out").has("hidden")


def test_the_left_out_line_waits_hidden_for_the_script(client, project, admin_user):
    client.force_login(admin_user)

    line = parse(client.get(create_url(project))).by_id("dangerous-left-out")

    assert line.has("hidden")
    assert "4 dangerous permissions were left out" in line.text()
    for code in catalog.DANGEROUS:
        assert catalog.BY_CODENAME[code].label in line.text()


def test_summary_lists_the_chosen_permissions_before_create(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project)
    data["name"] = ""  # invalid: the form comes back with the choices kept

    response = client.post(create_url(project), data)

    summary = parse(response).by_id("permission-summary")
    assert summary is not None
    assert summary.text() == "1 permission selected: View the project"
    assert "No permission selected" in parse(client.get(create_url(project))).by_id("permission-summary").text()


def test_summary_flags_the_dangerous_ones(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project) | {"name": "", "permissions": [catalog.READ_PROJECT, DELETE_PROJECT]}

    summary = parse(client.post(create_url(project), data)).by_id("permission-summary")

    # (text() puts a space between elements: the page has none before the comma.)
    assert summary.text().replace(" ,", ",") == "2 permissions selected: View the project, Delete the project Dangerous"


# -- the permission matrix -----------------------------------------------------------


def group_fieldset(page, name: str):
    return next(g for g in page.find_all("fieldset", class_="perm-fieldset") if g.find("legend").text() == name)


def test_crud_services_are_a_matrix_of_resources_and_actions(client, project, admin_user):
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    metakube = group_fieldset(page, "MetaKube").find("table")
    assert [th.text() for th in metakube.find("thead").find_all("th")] == ["Create", "View", "Update", "Delete"]
    assert all(th.attrs["scope"] == "col" for th in metakube.find("thead").find_all("th"))
    rows = metakube.find("tbody").find_all("tr")
    assert [row.find("th").text() for row in rows] == ["Clusters", "SSH keys"]
    assert all(row.find("th").attrs["scope"] == "row" for row in rows)
    # Each cell's checkbox is named by its label: "Create clusters".
    first = rows[0].find_all("td")[0].find("input")
    assert first.attrs["value"] == "can_create_clusters_in_metakube"
    assert first.parent.tag == "label"
    assert first.parent.find(class_="visually-hidden").text() == "Create clusters"
    # Its column's name is shown beside it where the box is too narrow for the table.
    assert first.parent.find(class_="cell-action").attrs["aria-hidden"] == "true"
    # Backups can only be viewed: the other cells are empty.
    backups = group_fieldset(page, "DBaaS").find("table").find("tbody").find_all("tr")[1]
    assert backups.find("th").text() == "Database backups"
    assert [bool(td.find("input")) for td in backups.find_all("td")] == [False, True, False, False]


def test_project_and_role_like_permissions_are_lists(client, project, admin_user):
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    for name in ("Project", "OpenStack", "Observability"):
        group = group_fieldset(page, name)
        assert group.find("table") is None, name
        assert len(group.find("ul").find_all("input", name="permissions")) == len(
            [p for p in catalog.CATALOG if p.group == name]
        )


def test_the_matrix_leaves_out_what_the_user_does_not_hold(client, project):
    user = MembershipFactory(
        project=project,
        role=RoleFactory(
            codenames=[catalog.CREATE_API_KEYS, "can_read_databases_in_dbaas", "can_delete_databases_in_dbaas"]
        ),
    ).user
    client.force_login(user)

    table = group_fieldset(parse(client.get(create_url(project))), "DBaaS").find("table")

    assert [th.text() for th in table.find("thead").find_all("th")] == ["View", "Delete"]
    assert [row.find("th").text() for row in table.find("tbody").find_all("tr")] == ["Databases"]


def test_codenames_are_values_not_text(client, project, admin_user):
    client.force_login(admin_user)

    text = parse(client.get(create_url(project))).by_id("permissions").text()

    assert not [code for code in catalog.CODENAMES if code in text]


def test_dangerous_permissions_are_marked_with_their_reason(client, project, admin_user):
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    for entry in catalog.CATALOG:
        box = page.find("input", name="permissions", value=entry.codename)
        described = [page.by_id(i) for i in box.attrs.get("aria-describedby", "").split()]
        notes = [element.text() for element in described if element is not None and "danger-note" in element.classes()]
        if entry.codename in catalog.DANGEROUS:
            assert box.has("data-dangerous")
            assert notes == [f"⚠ Dangerous {entry.danger}"], entry.codename
        else:
            assert not box.has("data-dangerous")
            assert notes == [], entry.codename
    assert {entry.codename for entry in catalog.CATALOG if entry.danger} == {
        "can_become_administrator_in_project",
        "can_crud_permissions_in_project",
        "can_delete_project_in_project",
        catalog.CREATE_API_KEYS,
    }


def test_select_all_says_it_skips_the_dangerous_ones(client, project, admin_user):
    client.force_login(admin_user)

    page = parse(client.get(create_url(project)))

    select_all = group_fieldset(page, "Project").find("input", data_select_all=True).parent
    assert select_all.text() == "Select all of Project except the dangerous ones"
    assert (
        group_fieldset(page, "MetaKube").find("input", data_select_all=True).parent.text() == "Select all of MetaKube"
    )


def test_a_group_of_only_dangerous_permissions_has_no_select_all(client, project):
    user = MembershipFactory(project=project, role=RoleFactory(codenames=[catalog.CREATE_API_KEYS])).user
    client.force_login(user)

    group = group_fieldset(parse(client.get(create_url(project))), "Project")

    assert group.find("input", data_select_all=True) is None


def test_not_offered_permissions_are_named_by_label(client, project, member_user):
    client.force_login(member_user)

    details = parse(client.get(create_url(project))).find("details", class_="not-offered")

    assert "3 permissions are not offered" in details.find("summary").text()
    assert [li.text() for li in details.find_all("li")] == [
        "Become administrator of the project",
        "Manage members and their permissions",
        "Delete the project",
    ]


def test_pre_fill_names_the_permissions_it_leaves_out(client, project, member_user):
    source = ApiKeyFactory(
        project=project,
        name="ci",
        description="from CI",
        tags=["ci"],
        permissions=[catalog.READ_PROJECT, DELETE_PROJECT, "can_become_administrator_in_project"],
    )
    client.force_login(member_user)

    response = client.get(create_url(project) + f"?from={source.public_id}")

    assert checked(response) == [catalog.READ_PROJECT]
    assert parse(response).by_id("prefill-dropped").text() == (
        "2 permissions of “ci” are not included because you do not hold them in this project: "
        "Become administrator of the project, Delete the project."
    )


def test_pre_fill_of_what_the_user_holds_names_nothing(client, project, admin_user):
    source = ApiKeyFactory(project=project, name="ci", permissions=[catalog.READ_PROJECT, DELETE_PROJECT])
    client.force_login(admin_user)

    response = client.get(create_url(project) + f"?from={source.public_id}")

    assert checked(response) == [catalog.READ_PROJECT, DELETE_PROJECT]
    assert "Pre-filled with the permissions of “ci”" in response.content.decode()
    assert parse(response).by_id("prefill-dropped") is None


# -- the expiry, as the page tells it ------------------------------------------------


def expiry_result(response) -> str:
    return parse(response).by_id("expiry-result").text()


def test_the_page_says_when_the_chosen_lifetime_ends(client, project, admin_user):
    client.force_login(admin_user)

    before = timezone.now()
    page = parse(client.get(create_url(project)))

    radios = {r.attrs["value"]: r for r in page.find_all("input", name="expiration")}
    texts = {value: radio.attrs.get("data-expiry-text") for value, radio in radios.items()}
    for days in (30, 90, 365):
        assert texts[str(days)] in {f"Expires on {when(before + timedelta(days=days, minutes=m))}" for m in (0, 1)}
    assert texts["never"] == "Never expires"
    assert texts["custom"] is None  # the script writes the picked date
    assert page.by_id("expiry-result").text() == texts["90"]
    assert page.by_id("expiry-result").attrs["aria-live"] == "polite"


def test_the_page_says_when_a_chosen_date_ends(client, project, admin_user, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    client.force_login(admin_user)
    day = timezone.localdate() + timedelta(days=20)
    data = open_form(client, project) | {"name": "", "expiration": "custom", "expires_on": day.isoformat()}

    response = client.post(create_url(project), data)

    end = datetime.combine(day, time(23, 59), tzinfo=timezone.get_current_timezone())
    assert expiry_result(response) == f"Expires on {end:%a}, {day.day} {end:%b} {day.year}, 23:59 {end.tzname()}"


def test_never_says_so(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project) | {"name": "", "expiration": "never"}

    assert expiry_result(client.post(create_url(project), data)) == "Never expires"


def test_the_script_gets_the_date_style_and_its_names(client, project, admin_user, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    client.force_login(admin_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"

    result = parse(client.get(create_url(project))).by_id("expiry-result")

    assert result.attrs["data-format"] == "D, d.m.Y, H:i T"  # German: 05.03.2031, as the glossary asks
    assert json.loads(result.attrs["data-weekdays"])[:3] == ["Mo", "Di", "Mi"]
    assert json.loads(result.attrs["data-months"])[2] == "Mär"
    assert result.attrs["data-zone"] == "Europe/Berlin"
    assert json.loads(result.attrs["data-zone-names"]) == {"60": "CET", "120": "CEST"}


def test_a_date_typed_while_a_lifetime_is_chosen_is_not_ignored(client, project, admin_user):
    client.force_login(admin_user)
    day = timezone.localdate() + timedelta(days=10)
    data = open_form(client, project) | {"expiration": "90", "expires_on": day.isoformat()}

    response = client.post(create_url(project), data)

    assert response.status_code == 200
    assert response.context["form"].errors["expires_on"] == [
        "You entered a date but chose “90 days”. Choose “On a date” to use it, or clear the date."
    ]
    assert not ApiKey.objects.exists()
    # Cleared, the same lifetime is taken.
    assert client.post(create_url(project), data | {"expires_on": ""}).status_code == 201


@pytest.mark.parametrize("offset", [0, -1])
def test_a_date_before_tomorrow_is_refused(client, project, admin_user, offset):
    client.force_login(admin_user)
    day = timezone.localdate() + timedelta(days=offset)

    response = client.post(
        create_url(project), open_form(client, project) | {"expiration": "custom", "expires_on": day.isoformat()}
    )

    assert response.context["form"].errors["expires_on"] == ["The expiration date must be tomorrow or later."]
    assert not ApiKey.objects.exists()


def test_the_last_date_the_picker_offers_is_accepted_and_the_next_refused(client, project, admin_user, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 30
    client.force_login(admin_user)
    last = date.fromisoformat(parse(client.get(create_url(project))).find("input", name="expires_on").attrs["max"])

    refused = client.post(
        create_url(project),
        open_form(client, project) | {"expiration": "custom", "expires_on": (last + timedelta(days=1)).isoformat()},
    )
    accepted = client.post(
        create_url(project), open_form(client, project) | {"expiration": "custom", "expires_on": last.isoformat()}
    )

    [error] = refused.context["form"].errors["expires_on"]
    latest = when(datetime.combine(last, time.max, tzinfo=timezone.get_current_timezone()))
    assert error == f"The expiration date can be at most {latest}: a key may live at most 30 days."
    assert accepted.status_code == 201
    assert ApiKey.objects.get().expires_at <= timezone.now() + timedelta(days=30)


def test_on_a_date_is_not_offered_when_no_date_fits_the_policy(client, project, admin_user, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 1
    client.force_login(admin_user)

    assert expiration_choices(client.get(create_url(project))) == ["1"]


# -- the error summary ---------------------------------------------------------------


def test_a_refused_submit_summarizes_the_errors_with_links_to_the_fields(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project) | {"name": "", "permissions": [], "tags": "bad tag"}

    page = parse(client.post(create_url(project), data))

    summary = page.by_id("error-summary")
    assert summary.attrs["tabindex"] == "-1" and summary.has("autofocus")
    assert summary.find("h3").text() == "There is a problem"
    assert summary.find(role="alert") is not None
    links = [(a.attrs["href"], a.text()) for a in summary.find_all("a")]
    assert links == [
        ("#id_name", "Enter a name for the key."),
        ("#id_tags", "Tag “bad tag” is not valid: use up to 32 letters, digits or - _ . : / =."),
        ("#perm-can_become_administrator_in_project", "Choose at least one permission."),
    ]
    for href, _message in links:
        assert page.by_id(href[1:]) is not None, href


def test_each_field_with_an_error_is_marked_and_described_by_it(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project) | {"name": "", "permissions": [], "expiration": "custom", "expires_on": ""}

    page = parse(client.post(create_url(project), data))

    name = page.find("input", name="name")
    assert name.attrs["aria-invalid"] == "true"
    assert page.by_id(name.attrs["aria-describedby"]).text() == "Enter a name for the key."
    picker = page.find("input", name="expires_on")
    assert picker.attrs["aria-invalid"] == "true"
    assert "Pick the date on which the key expires." in page.by_id(picker.attrs["aria-describedby"].split()[0]).text()
    for box in page.find_all("input", name="permissions"):
        assert box.attrs["aria-invalid"] == "true"
        assert "permissions-errors" in box.attrs["aria-describedby"].split()
    assert page.by_id("permissions-errors").text() == "Choose at least one permission."
    # The date's error is next to the date, not at the choices.
    assert page.by_id("expires-on-field").find(class_="field-error") is not None


def test_an_expiration_error_links_to_the_first_choice(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project) | {"expiration": "forever"}

    page = parse(client.post(create_url(project), data))

    [link] = page.by_id("error-summary").find_all("a")
    assert link.attrs["href"] == "#id_expiration_0"
    assert page.by_id("id_expiration_0").attrs["aria-describedby"] == "expiration-errors"


def test_an_error_without_a_field_is_listed_without_a_link(client, project, admin_user):
    client.force_login(admin_user)
    data = open_form(client, project)
    del data["ticket"]

    summary = parse(client.post(create_url(project), data)).by_id("error-summary")

    assert summary.find("a") is None
    assert summary.find("li").text() == "This field is required."


def test_no_summary_without_errors(client, project, admin_user):
    client.force_login(admin_user)

    assert parse(client.get(create_url(project))).by_id("error-summary") is None
