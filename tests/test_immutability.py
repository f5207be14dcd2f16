"""A key's permissions (and everything else it is) are fixed at creation.

See the README, "Fine-grained, project-owned keys".
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apikeys import authentication, services
from apikeys.models import IMMUTABLE_FIELDS, ApiKey, ImmutableKeyError
from projects import catalog
from tests.factories import ApiKeyFactory
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

WIDER = [catalog.READ_PROJECT, "can_delete_project_in_project", catalog.CREATE_API_KEYS]


@pytest.fixture
def key(project):
    return ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT], tags=["ci"])


def row(key: ApiKey) -> dict:
    return ApiKey.objects.filter(pk=key.pk).values().get()


def test_save_after_changing_permissions_is_refused(key):
    before = row(key)
    key.permissions = WIDER

    with pytest.raises(ImmutableKeyError):
        key.save()

    assert row(key) == before


def test_save_with_permissions_in_update_fields_is_refused(key):
    before = row(key)
    key.permissions = WIDER

    with pytest.raises(ImmutableKeyError):
        key.save(update_fields=["permissions"])

    assert row(key) == before


@pytest.mark.parametrize("field", sorted(IMMUTABLE_FIELDS - {"project_id", "created_by_id", "created_by_key_id"}))
def test_save_of_any_security_field_is_refused(key, field):
    before = row(key)

    with pytest.raises(ImmutableKeyError):
        key.save(update_fields=[field])

    assert row(key) == before


def test_save_without_update_fields_is_refused_even_unchanged(key):
    before = row(key)

    with pytest.raises(ImmutableKeyError):
        key.save()

    assert row(key) == before


def test_queryset_update_of_permissions_is_refused(key):
    before = row(key)

    with pytest.raises(ImmutableKeyError):
        ApiKey.objects.filter(pk=key.pk).update(permissions=WIDER)

    assert row(key) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"expires_at": None},
        {"name": "renamed"},
        {"tags": ["prod"]},
        {"secret_hash": "0" * 64},
        {"pepper_version": "v0"},
        {"public_id": "AAAAAAAAAAAA"},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_queryset_update_of_other_security_fields_is_refused(key, changes):
    before = row(key)

    with pytest.raises(ImmutableKeyError):
        ApiKey.objects.filter(pk=key.pk).update(**changes)

    assert row(key) == before


def test_manager_update_is_refused(key):
    before = row(key)

    with pytest.raises((ImmutableKeyError, AttributeError)):
        ApiKey.objects.update(permissions=WIDER)

    assert row(key) == before


def test_bulk_update_of_permissions_is_refused(key):
    before = row(key)
    key.permissions = WIDER

    # bulk_update joins the outer transaction; a savepoint keeps the test's usable.
    with pytest.raises(ImmutableKeyError), transaction.atomic():
        ApiKey.objects.bulk_update([key], ["permissions"])

    assert row(key) == before


def test_update_or_create_cannot_change_permissions(key):
    before = row(key)

    with pytest.raises(ImmutableKeyError):
        ApiKey.objects.update_or_create(pk=key.pk, defaults={"permissions": WIDER})

    assert row(key) == before


def test_revoked_key_cannot_be_unrevoked_with_update(key, admin_user):
    services.api_key_revoke(api_key=key, revoked_by=admin_user)
    before = row(key)
    assert before["revoked_at"] is not None

    with pytest.raises(ImmutableKeyError):
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=None)

    assert row(key) == before
    assert authentication.api_key_authenticate(key.secret).error == "revoked"


def test_revoked_key_cannot_be_unrevoked_with_save(key, admin_user):
    services.api_key_revoke(api_key=key, revoked_by=admin_user)
    before = row(key)
    key.revoked_at = key.revoked_by = None

    with pytest.raises(ImmutableKeyError):
        key.save(update_fields=["revoked_at", "revoked_by"])

    assert row(key) == before


def test_revocation_goes_through_the_service_not_save(key):
    before = row(key)
    key.revoked_at = timezone.now()

    with pytest.raises(ImmutableKeyError):
        key.save(update_fields=["revoked_at"])

    assert row(key) == before


def test_bookkeeping_field_can_still_be_updated(key):
    # The guard is not a blanket refusal: last use is bookkeeping.
    used = timezone.now() - timedelta(minutes=5)
    key.last_used_at = used

    key.save(update_fields=["last_used_at"])

    assert row(key)["last_used_at"] == used


# -- the admin -----------------------------------------------------------------------


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def change_url(key: ApiKey) -> str:
    return reverse("admin:apikeys_apikey_change", args=[key.pk])


def test_admin_change_form_shows_every_field_read_only(admin_client, key):
    response = admin_client.get(change_url(key))

    assert response.status_code == 200
    adminform = response.context["adminform"]
    assert list(adminform.form.fields) == []
    shown = {field for fieldset in adminform.fieldsets for field in fieldset[1]["fields"]}
    assert set(adminform.readonly_fields) >= shown
    assert {"permission_list", "name", "expires_at", "tags", "revoked_at"} <= shown
    page = parse(response)
    form = page.find("form", id="apikey_form")
    assert form is not None
    editable = [
        element
        for element in form.iter()
        if element.tag in {"input", "select", "textarea"} and element.attrs.get("type") not in {"hidden", "submit"}
    ]
    assert editable == []
    # The permissions are shown, as text.
    assert catalog.READ_PROJECT in page.find("div", class_="field-permission_list").text()


def test_admin_post_to_change_url_does_not_change_the_key(admin_client, key):
    before = row(key)

    response = admin_client.post(
        change_url(key),
        {
            "name": "renamed",
            "permissions": WIDER,
            "permission_list": ", ".join(WIDER),
            "expires_at": "",
            "revoked_at": "",
            "tags": '["prod"]',
            "_save": "Save",
        },
    )

    assert response.status_code == 403
    assert row(key) == before


def test_admin_has_no_delete_action(admin_client, key):
    response = admin_client.get(reverse("admin:apikeys_apikey_changelist"))

    assert response.status_code == 200
    actions = dict(response.context["action_form"].fields["action"].choices)
    assert "delete_selected" not in actions
    assert "revoke_selected" in actions


def test_admin_delete_url_is_forbidden(admin_client, key):
    url = reverse("admin:apikeys_apikey_delete", args=[key.pk])

    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_admin_delete_selected_action_is_refused(admin_client, key):
    admin_client.post(
        reverse("admin:apikeys_apikey_changelist"),
        {"action": "delete_selected", "_selected_action": [key.pk], "post": "yes"},
    )

    assert ApiKey.objects.filter(pk=key.pk).exists()
