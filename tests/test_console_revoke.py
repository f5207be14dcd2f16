"""Revoking a key: confirmation page or <dialog>, then a final, audited revocation.

See the README, "Revocation is soft and final".
"""

import json

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from apikeys import services
from apikeys.models import ApiKey, AuditEvent
from tests.factories import ApiKeyFactory, MembershipFactory
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def revoke_url(project, key) -> str:
    return reverse("apikeys:revoke", args=[project.slug, key.public_id])


def list_url(project) -> str:
    return reverse("apikeys:list", args=[project.slug])


@pytest.fixture
def key(project):
    return ApiKeyFactory(project=project, name="deploy")


@pytest.fixture
def logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


def revoke_events(key) -> int:
    return AuditEvent.objects.filter(api_key=key, action=AuditEvent.Action.REVOKED).count()


def test_get_without_htmx_is_a_full_confirmation_page(logged_in, project, key):
    response = logged_in.get(revoke_url(project, key))

    assert response.status_code == 200
    page = parse(response)
    assert page.find("html") is not None
    assert page.find("dialog") is None
    form = page.find("form", action=revoke_url(project, key))
    assert form is not None and form.attrs["method"] == "post"
    buttons = [b for b in form.find_all("button") if b.attrs.get("type") == "submit"]
    assert [b.text() for b in buttons] == ["Revoke API Key"]
    assert "deploy" in page.text()
    assert key.masked in page.text()
    cancel = [a for a in page.find_all("a") if a.text() == "Cancel"]
    assert cancel and cancel[0].attrs["href"] == reverse("apikeys:detail", args=[project.slug, key.public_id])
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_get_with_htmx_is_a_native_dialog_fragment(logged_in, project, key):
    response = logged_in.get(revoke_url(project, key), headers=HTMX)

    assert response.status_code == 200
    text = response.content.decode()
    assert "<html" not in text
    page = parse(response)
    dialog = page.find("dialog")
    assert dialog is not None
    assert page.find_all()[0] is dialog
    title = dialog.by_id(dialog.attrs["aria-labelledby"])
    assert title.text() == "Revoke API Key"
    form = dialog.find("form")
    assert form.attrs["action"] == revoke_url(project, key)
    assert form.attrs["hx-post"] == revoke_url(project, key)
    assert form.attrs["hx-target"] == f"#key-{key.public_id}"
    assert [b.text() for b in form.find_all("button", type="submit")] == ["Revoke API Key"]
    cancel = [b for b in form.find_all("button") if b.text() == "Cancel"]
    assert cancel and cancel[0].has("data-close-dialog") and cancel[0].has("autofocus")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_post_without_htmx_revokes_and_redirects_with_a_message(logged_in, project, key, admin_user):
    response = logged_in.post(revoke_url(project, key))

    assert response.status_code == 302
    assert response["Location"] == list_url(project) + "?status=all"
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["API key “deploy” was revoked."]
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.revoked_by == admin_user
    listed = logged_in.get(response["Location"])
    row = parse(listed).by_id(f"key-{key.public_id}")
    assert row.find("span", data_testid="status").text() == "Revoked"
    assert "API key “deploy” was revoked." in parse(listed).by_id("messages").text()


def test_post_with_htmx_returns_the_updated_entry_and_an_event(logged_in, project, key):
    response = logged_in.post(revoke_url(project, key), headers=HTMX)

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    page = parse(response)
    row = page.by_id(f"key-{key.public_id}")
    assert row is not None and row.tag == "tr"
    assert row.find("span", data_testid="status").text() == "Revoked"
    assert row.find("a", href=revoke_url(project, key)) is None
    assert page.find(role="status").text() == "API key “deploy” was revoked."
    trigger = json.loads(response["HX-Trigger"])
    assert trigger == {"apikeys:revoked": {"public_id": key.public_id}}
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_revoking_twice_records_one_event_and_says_so(logged_in, project, key):
    logged_in.post(revoke_url(project, key))
    revoked_at = ApiKey.objects.get(pk=key.pk).revoked_at

    again = logged_in.post(revoke_url(project, key))

    assert again.status_code == 302
    # The first message was never displayed, so both are queued.
    assert [str(m) for m in get_messages(again.wsgi_request)][-1] == "API key “deploy” was already revoked."
    assert revoke_events(key) == 1
    assert ApiKey.objects.get(pk=key.pk).revoked_at == revoked_at


def test_revoking_twice_with_htmx_says_so(logged_in, project, key):
    logged_in.post(revoke_url(project, key), headers=HTMX)

    again = logged_in.post(revoke_url(project, key), headers=HTMX)

    assert again.status_code == 200
    assert parse(again).find(role="status").text() == "API key “deploy” was already revoked."
    assert revoke_events(key) == 1


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_confirmation_of_a_revoked_key_says_it_is_revoked(logged_in, project, key, admin_user, htmx):
    services.api_key_revoke(api_key=key, revoked_by=admin_user)

    response = logged_in.get(revoke_url(project, key), headers=HTMX if htmx else {})

    assert response.status_code == 200
    assert "is already revoked" in parse(response).text()
    assert not [b for b in parse(response).find_all("button") if b.text() == "Revoke API Key"]


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_key_of_another_project_is_404_through_this_projects_url(
    logged_in, project, other_project, admin_user, method, htmx
):
    MembershipFactory(project=other_project, user=admin_user)
    foreign = ApiKeyFactory(project=other_project)

    response = getattr(logged_in, method)(revoke_url(project, foreign), headers=HTMX if htmx else {})

    assert response.status_code == 404
    assert ApiKey.objects.get(pk=foreign.pk).revoked_at is None
    assert revoke_events(foreign) == 0


def test_unknown_key_is_404(logged_in, project):
    assert logged_in.get(reverse("apikeys:revoke", args=[project.slug, "AAAAAAAAAAAA"])).status_code == 404


def test_key_is_addressed_by_public_id_not_pk(logged_in, project, key):
    assert logged_in.get(f"/projects/{project.slug}/api-keys/{key.pk}/revoke/").status_code == 404
    # Nor by anything shaped like a public id that is not one of this project's keys.
    assert logged_in.get(f"/projects/{project.slug}/api-keys/{str(key.pk).zfill(12)}/revoke/").status_code == 404


def test_revoked_key_is_refused_on_next_request(logged_in, project, key):
    api = Client()  # a program holding the key, on its own connection
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}
    # A positive answer first, so that any cache of it would be warm.
    assert api.get("/api/v1/whoami", **bearer).status_code == 200

    assert logged_in.post(revoke_url(project, key)).status_code == 302

    response = api.get("/api/v1/whoami", **bearer)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_revocation_is_audited_with_the_client_address(logged_in, project, key, admin_user):
    logged_in.post(revoke_url(project, key), REMOTE_ADDR="192.0.2.33")

    event = AuditEvent.objects.get(action=AuditEvent.Action.REVOKED)
    assert event.api_key == key
    assert event.actor_user == admin_user
    assert event.project == project
    assert event.ip_address == "192.0.2.33"


def test_revoke_keeps_the_row(logged_in, project, key):
    logged_in.post(revoke_url(project, key))

    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_member_can_revoke_a_key_created_by_someone_else(client, project, member_user, key):
    # Keys belong to the project, not to their creator.
    client.force_login(member_user)

    assert client.post(revoke_url(project, key)).status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_by == member_user


def test_revoke_needs_post_to_change_anything(logged_in, project, key):
    assert logged_in.put(revoke_url(project, key)).status_code == 405
    assert logged_in.delete(revoke_url(project, key)).status_code == 405
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_hostile_name_is_escaped_in_the_confirmation(logged_in, project, htmx):
    hostile = ApiKeyFactory(project=project, name="<script>alert(1)</script>")

    response = logged_in.get(revoke_url(project, hostile), headers=HTMX if htmx else {})

    text = response.content.decode()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
