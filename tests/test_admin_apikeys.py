"""The Django admin for API keys and their audit trail."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from apikeys import authentication, services, tokens
from apikeys.models import ApiKey, AuditEvent
from projects import catalog
from tests.factories import ApiKeyFactory, MembershipFactory, UserFactory, expired_api_key, role
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:apikeys_apikey_changelist"
ADD = "admin:apikeys_apikey_add"


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def staff_user(db):
    """Staff with the model permissions of the admin, but no superpowers."""
    user = UserFactory(username="operator", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="apikeys", codename__in=["add_apikey", "change_apikey", "view_apikey"]
        )
    )
    return user


def listed(response) -> set[str]:
    return {key.name for key in response.context["cl"].result_list}


# -- the change list ----------------------------------------------------------------------


def test_changelist_columns(admin_client, project, member_user):
    key = ApiKeyFactory(project=project, name="deploy", created_by=member_user)
    authentication.api_key_authenticate(key.secret)

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    page = parse(response)
    headers = [th for th in page.find_all("th") if th.attrs.get("scope") == "col"]
    columns = [c.removeprefix("column-") for th in headers for c in th.classes() if c.startswith("column-")]
    assert columns[:7] == [
        "name",
        "project",
        "masked_key",
        "status_display",
        "expires_at",
        "last_used_at",
        "created_by",
    ]
    header_text = [th.text() for th in headers]
    for label in ("Name", "Project", "Key", "Status", "Expires at", "Last used at", "Created by"):
        assert label in header_text, label
    row = [tr for tr in page.find_all("tr") if tr.find("td", class_="field-masked_key")][0]
    assert row.find("th", class_="field-name").text() == "deploy"
    assert row.find("td", class_="field-project").text() == project.name
    assert row.find("td", class_="field-masked_key").text() == key.masked
    assert row.find("td", class_="field-status_display").text() == "Active"
    assert row.find("td", class_="field-created_by").text() == member_user.username
    assert row.find("td", class_="field-last_used_at").text() not in {"", "-"}
    assert key.secret not in response.content.decode()


@pytest.fixture
def keys(project, other_project, superuser):
    made = {
        "alpha": ApiKeyFactory(project=project, name="alpha", tags=["ci"]),
        "beta": ApiKeyFactory(project=project, name="beta", tags=["production"]),
        "gamma": ApiKeyFactory(project=other_project, name="gamma", tags=["ci-nightly"]),
        "soon": ApiKeyFactory(project=other_project, name="soon", expires_at=timezone.now() + timedelta(days=1)),
        "expired": expired_api_key(project=project, name="expired"),
    }
    services.api_key_revoke(api_key=made["beta"], revoked_by=superuser)
    return made


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("revoked", {"beta"}),
        ("expired", {"expired"}),
        ("expires_soon", {"soon"}),
        ("active", {"alpha", "gamma", "soon"}),
    ],
)
def test_filter_by_status(admin_client, keys, status, expected):
    response = admin_client.get(reverse(CHANGELIST), {"status": status})

    assert response.status_code == 200
    assert listed(response) == expected


def test_status_filter_offers_every_status(admin_client, keys):
    response = admin_client.get(reverse(CHANGELIST))

    filters = [
        spec for spec in response.context["cl"].filter_specs if getattr(spec, "parameter_name", None) == "status"
    ]
    assert filters and [label for _, label in filters[0].lookup_choices] == [
        "Active",
        "Expires soon",
        "Retiring",
        "Expired",
        "Retired",
        "Revoked",
    ]


def test_filter_by_project(admin_client, keys, other_project):
    response = admin_client.get(reverse(CHANGELIST), {"project__id__exact": other_project.pk})

    assert listed(response) == {"gamma", "soon"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [("alp", {"alpha"}), ("production", {"beta"}), ("ci", {"alpha", "gamma"}), ("zzz", set())],
)
def test_search_by_name_and_tag(admin_client, keys, query, expected):
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": query})) == expected


def test_search_by_public_id(admin_client, keys):
    key = keys["soon"]

    assert listed(admin_client.get(reverse(CHANGELIST), {"q": key.public_id})) == {"soon"}


@pytest.mark.parametrize("query", ['"', "[", "]", ",", '", "', "'"])
def test_search_with_json_punctuation_does_not_match_every_key(admin_client, keys, query):
    # Tags are stored as JSON text (["ci"]): its punctuation is no tag.
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": query})) == set()


# -- revoking from the change list -----------------------------------------------------------


def test_revoke_action_asks_for_confirmation_first(admin_client, keys):
    chosen = [keys["alpha"], keys["gamma"]]

    response = admin_client.post(
        reverse(CHANGELIST), {"action": "revoke_selected", "_selected_action": [k.pk for k in chosen]}
    )

    assert response.status_code == 200
    page = parse(response)
    text = page.text()
    assert "alpha" in text and "gamma" in text
    assert "cannot be undone" in text
    form = [f for f in page.find_all("form") if f.find("input", name="confirm")][0]
    assert form.attrs["method"] == "post"
    assert form.find("input", name="confirm").attrs["value"] == "yes"
    assert form.find("input", name="action").attrs["value"] == "revoke_selected"
    assert {i.attrs["value"] for i in form.find_all("input", name="_selected_action")} == {str(k.pk) for k in chosen}
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exclude(pk=keys["beta"].pk).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED).count() == 1  # beta's, from the fixture


def test_revoke_action_revokes_the_selected_keys_once_confirmed(admin_client, keys, superuser):
    chosen = [keys["alpha"], keys["gamma"], keys["beta"]]

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "revoke_selected", "_selected_action": [k.pk for k in chosen], "confirm": "yes"},
        REMOTE_ADDR="192.0.2.8",
    )

    assert response.status_code == 302
    revoked = set(ApiKey.objects.filter(revoked_at__isnull=False).values_list("name", flat=True))
    assert revoked == {"alpha", "gamma", "beta"}
    # beta was already revoked: no second revocation, and the count says so.
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Revoked 2 API keys."]
    events = AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED, actor_user=superuser, ip_address="192.0.2.8")
    assert {e.api_key.name for e in events} == {"alpha", "gamma"}
    assert authentication.api_key_authenticate(keys["alpha"].secret).error == "revoked"
    assert authentication.api_key_authenticate(keys["soon"].secret).ok


def test_revoke_action_needs_the_change_permission(client, keys, staff_user):
    staff_user.user_permissions.remove(Permission.objects.get(codename="change_apikey"))
    client.force_login(staff_user)

    client.post(
        reverse(CHANGELIST),
        {"action": "revoke_selected", "_selected_action": [keys["alpha"].pk], "confirm": "yes"},
    )

    assert ApiKey.objects.get(pk=keys["alpha"].pk).revoked_at is None


# -- adding a key in the admin ------------------------------------------------------------------


def open_add_form(client) -> str:
    response = client.get(reverse(ADD))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    return parse(response).find("input", name="ticket").attrs["value"]


def add_data(client, project, **changes) -> dict:
    data = {
        "project": project.pk,
        "name": "from the admin",
        "description": "",
        "tags": "ops",
        "expires_at": (timezone.now() + timedelta(days=10)).strftime("%Y-%m-%d %H:%M:%S"),
        "permissions": [catalog.READ_PROJECT],
        "ticket": open_add_form(client),
    }
    return data | changes


def test_staff_cannot_add_a_key_in_a_project_they_are_not_a_member_of(client, project, staff_user):
    client.force_login(staff_user)

    response = client.post(reverse(ADD), add_data(client, project, permissions=["can_delete_project_in_project"]))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["project"]
    assert project.name not in response.content.decode()
    assert parse(response).by_id("api-key-secret") is None
    assert not ApiKey.objects.exists()


def test_staff_cannot_grant_what_their_role_lacks(client, project, staff_user):
    MembershipFactory(project=project, user=staff_user, role=role(catalog.MEMBER))
    client.force_login(staff_user)

    response = client.post(
        reverse(ADD),
        add_data(client, project, permissions=[catalog.READ_PROJECT, "can_delete_project_in_project"]),
    )

    assert response.status_code == 200
    assert "can_delete_project_in_project" in str(response.context["adminform"].form.errors["permissions"])
    assert not ApiKey.objects.exists()


def test_staff_member_can_add_within_their_role(client, project, staff_user):
    MembershipFactory(project=project, user=staff_user, role=role(catalog.MEMBER))
    client.force_login(staff_user)

    response = client.post(reverse(ADD), add_data(client, project))

    assert response.status_code == 201
    assert ApiKey.objects.get().created_by == staff_user


def test_superuser_adds_a_key_and_sees_the_secret_once(admin_client, project, superuser):
    response = admin_client.post(reverse(ADD), add_data(admin_client, project, tags="ops, ci"), REMOTE_ADDR="192.0.2.9")

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    secret = parse(response).by_id("api-key-secret").attrs["value"]
    key = ApiKey.objects.get()
    assert tokens.parse(secret).public_id == key.public_id
    assert authentication.api_key_authenticate(secret).api_key == key
    assert key.created_by == superuser
    assert key.tags == ["ops", "ci"]
    assert key.permissions == [catalog.READ_PROJECT]
    # Through the service: audited like everywhere else.
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_user, event.ip_address) == (AuditEvent.Action.CREATED, superuser, "192.0.2.9")
    # No message, cookie or later page carries the secret.
    assert list(get_messages(response.wsgi_request)) == []
    assert secret not in str(response.cookies)
    assert secret not in str(admin_client.cookies)
    assert secret not in admin_client.get(reverse(CHANGELIST)).content.decode()
    change = admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk]))
    assert secret not in change.content.decode()
    assert key.masked in change.content.decode()


def test_admin_adds_a_key_limited_to_addresses_and_shows_its_usage_read_only(admin_client, project):
    response = admin_client.post(reverse(ADD), add_data(admin_client, project, allowed_ips="203.0.113.0/24\n::1"))
    assert response.status_code == 201
    key = ApiKey.objects.get()
    key.secret = parse(response).by_id("api-key-secret").attrs["value"]
    assert key.allowed_ips == ["203.0.113.0/24", "::1"]
    admin_client.get(
        f"/api/v1/whoami?permission={catalog.READ_PROJECT}",
        HTTP_AUTHORIZATION=f"Bearer {key.secret}",
        REMOTE_ADDR="203.0.113.5",
        HTTP_USER_AGENT="<b>bot</b>",
    )

    change = admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk]))

    page = change.content.decode()
    assert "203.0.113.0/24, ::1" in page and "203.0.113.5" in page
    assert "&lt;b&gt;bot&lt;/b&gt;" in page and "<b>bot</b>" not in page
    assert f"{catalog.READ_PROJECT}: " in page
    assert 'name="allowed_ips"' not in page  # read-only: no field to change it


def test_admin_add_refuses_a_bad_address_with_a_form_error(admin_client, project):
    response = admin_client.post(reverse(ADD), add_data(admin_client, project, allowed_ips="10.0.0.1/8"))

    assert response.status_code == 200
    assert "did you mean 10.0.0.0/8?" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_admin_add_form_resubmitted_creates_nothing(admin_client, project):
    data = add_data(admin_client, project)
    first = admin_client.post(reverse(ADD), data)
    secret = parse(first).by_id("api-key-secret").attrs["value"]

    again = admin_client.post(reverse(ADD), data)

    assert again.status_code == 200
    assert "already submitted" in again.content.decode()
    assert secret not in again.content.decode()
    assert ApiKey.objects.count() == 1


def test_admin_add_refuses_a_past_expiry(admin_client, project):
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")

    response = admin_client.post(reverse(ADD), add_data(admin_client, project, expires_at=past))

    assert response.status_code == 200
    assert "must be in the future" in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
def test_admin_add_refuses_a_date_at_the_end_of_the_calendar_in_every_zone(admin_client, project, settings, zone):
    settings.TIME_ZONE = zone

    response = admin_client.post(reverse(ADD), add_data(admin_client, project, expires_at="9999-12-31 23:59:59"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["expires_at"] == [
        "The expiration date can be at most 100 years from now."
    ]
    assert not ApiKey.objects.exists()
    assert admin_client.get(reverse("admin:apikeys_apikey_changelist")).status_code == 200


def test_admin_add_says_which_time_zone_the_date_is_in(admin_client, project, settings):
    settings.TIME_ZONE = "America/New_York"

    help_text = str(admin_client.get(reverse(ADD)).context["adminform"].form.fields["expires_at"].help_text)
    admin_client.post(reverse(ADD), add_data(admin_client, project, expires_at="2031-01-31 00:00:00"))

    assert "America/New_York" in help_text and "UTC" not in help_text
    assert ApiKey.objects.get().expires_at == datetime(2031, 1, 31, 5, 0, tzinfo=UTC)


def test_admin_add_respects_the_deprecation_switch(admin_client, project, settings):
    data = add_data(admin_client, project)
    settings.API_KEY_CREATION_DISABLED = True

    response = admin_client.post(reverse(ADD), data)

    assert response.status_code == 200
    assert services.creation_disabled_reason() in response.content.decode()
    assert not ApiKey.objects.exists()


def test_staff_without_the_add_permission_cannot_add(client, project, staff_user):
    staff_user.user_permissions.remove(Permission.objects.get(codename="add_apikey"))
    client.force_login(staff_user)

    assert client.get(reverse(ADD)).status_code == 403


def test_view_once_page_has_a_copy_button_for_the_secret(admin_client, project):
    response = admin_client.post(reverse(ADD), add_data(admin_client, project))

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    page = parse(response)
    secret = page.by_id("api-key-secret")
    assert secret.tag == "input" and secret.has("readonly")
    buttons = page.find_all("button", **{"data-copy-target": "api-key-secret"})
    assert len(buttons) == 1
    assert buttons[0].attrs["type"] == "button" and buttons[0].text() == "Copy"
    assert buttons[0].attrs["data-copied-text"] == "Copied"
    assert page.by_id("copy-status").attrs["role"] == "status"
    # The admin's CSP runs no inline script: the handler is a static file of ours.
    scripts = [script.attrs["src"] for script in page.find_all("script") if script.has("src")]
    assert "/static/js/copy.js" in scripts
    assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"]
    handler = finders.find("js/copy.js")
    assert handler is not None
    assert "button.dataset.copyTarget" in Path(handler).read_text()


# -- an existing key's page is read-only --------------------------------------------------------


SAVE_BUTTONS = {"_save", "_continue", "_addanother", "_saveasnew"}


@pytest.fixture(params=["superuser", "scoped staff"])
def key_viewer(request, client, project, superuser, staff_user):
    """A user who sees `project`'s keys and may revoke them: a superuser, or staff whose role allows it."""
    if request.param == "superuser":
        client.force_login(superuser)
    else:
        MembershipFactory(project=project, user=staff_user, role=role(catalog.MEMBER))
        client.force_login(staff_user)
    return client


def change_url(key) -> str:
    return reverse("admin:apikeys_apikey_change", args=[key.pk])


def save_buttons(response) -> set[str]:
    return {element.attrs.get("name") for element in parse(response).iter()} & SAVE_BUTTONS


def test_key_page_has_no_save_buttons(key_viewer, project):
    key = ApiKeyFactory(project=project, name="deploy")

    response = key_viewer.get(change_url(key))

    assert response.status_code == 200
    assert save_buttons(response) == set()
    assert response.context["title"] == "View API key"
    page = parse(response)
    assert page.find("a", class_="closelink").attrs["href"] == reverse(CHANGELIST)
    assert page.find("a", class_="deletelink") is None
    assert "cannot be edited" in page.find("form", id="apikey_form").text()


def test_post_to_a_key_page_changes_nothing_and_stays_in_the_admin(key_viewer, project):
    key = ApiKeyFactory(project=project, name="deploy", tags=["ci"])
    before = ApiKey.objects.filter(pk=key.pk).values().get()

    for button in ["_save", "_continue", "_addanother"]:
        response = key_viewer.post(
            change_url(key),
            {
                "name": "renamed",
                "tags": "prod",
                "permissions": sorted(catalog.CODENAMES),
                "expires_at": "",
                button: "1",
            },
        )

        assert response.status_code == 403
        assert "Location" not in response
        assert "admin/apikeys/apikey/change_form.html" in [t.name for t in response.templates]
        assert "403.html" not in [t.name for t in response.templates]  # the console's page
        assert save_buttons(response) == set()
        assert [str(m) for m in response.context["messages"]] == [
            f"The API key “{key}” can only be viewed, not changed. Nothing was saved."
        ]
    assert ApiKey.objects.filter(pk=key.pk).values().get() == before
    assert AuditEvent.objects.filter(api_key=key).count() == 1  # its creation only


def revoke_form(response):
    forms = [f for f in parse(response).find_all("form") if f.find("input", name="action")]
    return forms[0] if forms else None


def test_key_page_offers_revoking_the_key_through_the_confirmation(key_viewer, project):
    key = ApiKeyFactory(project=project, name="deploy")

    form = revoke_form(key_viewer.get(change_url(key)))
    data = {i.attrs["name"]: i.attrs["value"] for i in form.find_all("input") if i.attrs.get("type") == "hidden"}
    confirmation = key_viewer.post(form.attrs["action"], data)

    assert form.attrs["action"] == reverse(CHANGELIST)
    assert data["action"] == "revoke_selected" and data["_selected_action"] == str(key.pk)
    assert form.find("button").text() == "Revoke this API key…"
    assert confirmation.status_code == 200
    assert "cannot be undone" in confirmation.content.decode()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None  # not before it is confirmed


def test_key_page_offers_no_revoking_when_there_is_nothing_to_revoke_or_no_right_to(client, project, superuser):
    revoked = ApiKeyFactory(project=project, name="revoked")
    services.api_key_revoke(api_key=revoked, revoked_by=superuser)
    active = ApiKeyFactory(project=project, name="active")
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_apikey", "change_apikey"]))
    MembershipFactory(project=project, user=viewer, role=role(catalog.VIEWER))

    client.force_login(superuser)
    assert revoke_form(client.get(change_url(revoked))) is None
    client.force_login(viewer)
    response = client.get(change_url(active))
    assert response.status_code == 200
    assert revoke_form(response) is None
    assert save_buttons(response) == set()


# -- the audit trail is read-only -------------------------------------------------------------------


@pytest.fixture
def event(project, superuser):
    key = ApiKeyFactory(project=project)
    services.api_key_revoke(api_key=key, revoked_by=superuser)
    return AuditEvent.objects.get(action=AuditEvent.Action.REVOKED)


def test_audit_events_cannot_be_added(admin_client, event):
    response = admin_client.get(reverse("admin:apikeys_auditevent_add"))

    assert response.status_code == 403
    changelist = admin_client.get(reverse("admin:apikeys_auditevent_changelist"))
    assert reverse("admin:apikeys_auditevent_add") not in changelist.content.decode()


def test_audit_events_cannot_be_changed(admin_client, event):
    url = reverse("admin:apikeys_auditevent_change", args=[event.pk])

    shown = admin_client.get(url)
    posted = admin_client.post(url, {"action": AuditEvent.Action.CREATED, "actor_label": "someone else"})

    assert shown.status_code == 200
    assert list(shown.context["adminform"].form.fields) == []
    assert posted.status_code == 403
    event.refresh_from_db()
    assert (event.action, event.actor_label) == (AuditEvent.Action.REVOKED, "root")


def test_audit_events_cannot_be_deleted(admin_client, event):
    url = reverse("admin:apikeys_auditevent_delete", args=[event.pk])

    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    changelist = admin_client.get(reverse("admin:apikeys_auditevent_changelist"))
    action_form = changelist.context["action_form"]
    assert action_form is None or "delete_selected" not in dict(action_form.fields["action"].choices)
    admin_client.post(
        reverse("admin:apikeys_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_audit_changelist_lists_the_events(admin_client, event):
    response = admin_client.get(reverse("admin:apikeys_auditevent_changelist"))

    assert response.status_code == 200
    assert {(e.action, e.api_key_id) for e in response.context["cl"].result_list} == {
        (AuditEvent.Action.CREATED, event.api_key_id),
        (AuditEvent.Action.REVOKED, event.api_key_id),
    }
