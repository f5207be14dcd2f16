"""apikeys.services: the rules of creating, revoking and authenticating keys."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apikeys import authentication, services, tokens
from apikeys.errors import ApiKeyError
from apikeys.models import ApiKey, AuditEvent, CreationTicket
from projects import catalog
from tests.factories import ApiKeyFactory, MembershipFactory, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db

DELETE_PROJECT = "can_delete_project_in_project"


def in_days(days: float) -> datetime:
    return timezone.now() + timedelta(days=days)


def create(project, user, **kwargs) -> services.CreatedKey:
    kwargs.setdefault("name", "deploy")
    kwargs.setdefault("permissions", [catalog.READ_PROJECT])
    kwargs.setdefault("expires_at", in_days(30))
    return services.api_key_create(project=project, created_by=user, **kwargs)


def refused(project, user, **kwargs) -> ApiKeyError:
    keys_before = ApiKey.objects.count()
    with pytest.raises(ApiKeyError) as caught:
        create(project, user, **kwargs)
    assert ApiKey.objects.count() == keys_before
    return caught.value


# -- what a creator may grant ---------------------------------------------------


def test_it_creates_a_key_with_the_requested_permissions(project, member_user):
    created = create(project, member_user, permissions=["can_read_clusters_in_metakube", catalog.READ_PROJECT])

    key = ApiKey.objects.get()
    assert created.api_key == key
    # Stored in catalog order, whatever order they were asked in.
    assert key.permissions == [catalog.READ_PROJECT, "can_read_clusters_in_metakube"]
    assert key.created_by == member_user
    assert key.project == project
    assert tokens.parse(created.secret).public_id == key.public_id
    assert key.secret_hash == tokens.hash_key(created.secret, key.pepper_version)


def test_member_cannot_grant_a_permission_their_role_lacks(project, member_user):
    error = refused(project, member_user, permissions=[catalog.READ_PROJECT, DELETE_PROJECT])

    assert error.field == "permissions"
    assert error.code == "forbidden"
    assert DELETE_PROJECT in error.message


def test_administrator_can_grant_it(project, admin_user):
    created = create(project, admin_user, permissions=[DELETE_PROJECT])

    assert created.api_key.permissions == [DELETE_PROJECT]


def test_creator_needs_the_api_key_creation_permission(project, viewer_user):
    error = refused(project, viewer_user, permissions=[catalog.READ_PROJECT])

    assert error.code == "forbidden"
    assert catalog.CREATE_API_KEYS in error.message


def test_non_member_cannot_create(project, outsider):
    error = refused(project, outsider)

    assert error.code == "forbidden"


def test_membership_in_another_project_does_not_count(project, other_project, outsider):
    MembershipFactory(project=other_project, user=outsider)

    assert refused(project, outsider).code == "forbidden"


def test_custom_role_grants_only_what_it_holds(project):
    user = MembershipFactory(
        project=project,
        role=RoleFactory(codenames=[catalog.CREATE_API_KEYS, "can_read_databases_in_dbaas"]),
    ).user

    assert create(project, user, permissions=["can_read_databases_in_dbaas"]).api_key
    assert refused(project, user, name="other", permissions=[catalog.READ_PROJECT]).field == "permissions"


@pytest.mark.parametrize(
    "permissions",
    [["can_fly_in_project"], [catalog.READ_PROJECT, "projects.can_read_project_in_project"], ["add_apikey"]],
)
def test_unknown_codenames_are_refused(project, admin_user, permissions):
    error = refused(project, admin_user, permissions=permissions)

    assert error.field == "permissions"
    assert "Unknown permission" in error.message


def test_empty_permission_list_is_refused(project, admin_user):
    assert refused(project, admin_user, permissions=[]).field == "permissions"


def test_permissions_as_a_string_are_refused(project, admin_user):
    assert refused(project, admin_user, permissions=catalog.READ_PROJECT).field == "permissions"


def test_duplicate_permissions_are_stored_once(project, admin_user):
    created = create(project, admin_user, permissions=[catalog.READ_PROJECT, catalog.READ_PROJECT])

    assert created.api_key.permissions == [catalog.READ_PROJECT]


# -- lifetime policy ------------------------------------------------------------


def test_expiry_in_the_past_is_refused(project, admin_user):
    error = refused(project, admin_user, expires_at=in_days(-1))

    assert error.field == "expires_at"


def test_expiry_now_is_refused(project, admin_user):
    assert refused(project, admin_user, expires_at=timezone.now()).field == "expires_at"


def test_naive_expiry_is_refused(project, admin_user):
    naive = datetime.now() + timedelta(days=10)  # noqa: DTZ005 - the point of the test

    error = refused(project, admin_user, expires_at=naive)

    assert error.field == "expires_at"
    assert "time zone" in error.message


def test_expiry_beyond_the_maximum_lifetime_is_refused(project, admin_user, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 30

    error = refused(project, admin_user, expires_at=in_days(31))

    assert error.field == "expires_at"
    assert create(project, admin_user, expires_at=in_days(29)).api_key


def test_no_expiry_is_refused_under_a_maximum_lifetime(project, admin_user, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 30

    assert refused(project, admin_user, expires_at=None).field == "expires_at"


def test_missing_expiry_is_refused_when_required(project, admin_user, settings):
    settings.API_KEY_REQUIRE_EXPIRY = True

    error = refused(project, admin_user, expires_at=None)

    assert error.field == "expires_at"
    assert create(project, admin_user, expires_at=in_days(3650)).api_key


def test_no_expiry_is_allowed_without_a_policy(project, admin_user, settings):
    settings.API_KEY_REQUIRE_EXPIRY = False
    settings.API_KEY_MAX_LIFETIME_DAYS = 0

    assert create(project, admin_user, expires_at=None).api_key.expires_at is None


# -- the deprecation switch --------------------------------------------------------


def test_creation_can_be_switched_off_while_existing_keys_keep_working(project, admin_user, settings):
    existing = ApiKeyFactory(project=project)
    settings.API_KEY_CREATION_DISABLED = True

    error = refused(project, admin_user, name="new")

    assert error.code == "creation_disabled"
    assert "disabled" in error.message
    assert authentication.api_key_authenticate(existing.secret).api_key == existing
    assert services.creation_disabled_reason() == error.message


def test_creation_is_allowed_when_the_switch_is_off(settings):
    settings.API_KEY_CREATION_DISABLED = False

    assert services.creation_disabled_reason() is None


# -- names, tags, description --------------------------------------------------------


def test_duplicate_active_name_is_refused(project, admin_user):
    create(project, admin_user, name="deploy")

    error = refused(project, admin_user, name="deploy")

    assert error.field == "name"


def test_name_of_a_revoked_key_can_be_reused(project, admin_user):
    first = create(project, admin_user, name="deploy").api_key
    services.api_key_revoke(api_key=first, revoked_by=admin_user)

    second = create(project, admin_user, name="deploy").api_key

    assert second != first
    assert ApiKey.objects.filter(name="deploy").count() == 2


def test_same_name_in_another_project_is_fine(project, other_project, admin_user):
    MembershipFactory(project=other_project, user=admin_user)
    create(project, admin_user, name="deploy")

    assert create(other_project, admin_user, name="deploy").api_key.project == other_project


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_bad_names_are_refused(project, admin_user, name):
    assert refused(project, admin_user, name=name).field == "name"


def test_tags_are_cleaned(project, admin_user):
    key = create(project, admin_user, tags=" ci, production ,ci,, team:infra ").api_key

    assert key.tags == ["ci", "production", "team:infra"]


@pytest.mark.parametrize("tags", [["<script>"], ["has space"], ["x" * 33], [f"t{n}" for n in range(11)], [1]])
def test_bad_tags_are_refused(project, admin_user, tags):
    assert refused(project, admin_user, tags=tags).field == "tags"


def test_exactly_one_creator_is_required(project, admin_user):
    parent = ApiKeyFactory(project=project, permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT])
    with pytest.raises(ValueError):
        services.api_key_create(project=project, name="x", permissions=[catalog.READ_PROJECT])
    with pytest.raises(ValueError):
        services.api_key_create(
            project=project, name="x", permissions=[catalog.READ_PROJECT], created_by=admin_user, created_by_key=parent
        )


# -- audit trail -------------------------------------------------------------------


def test_creation_is_audited(project, member_user):
    key = create(project, member_user, ip_address="203.0.113.7").api_key

    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.CREATED
    assert event.actor_user == member_user
    assert event.actor_label == member_user.username
    assert event.project == project
    assert event.api_key == key
    assert event.ip_address == "203.0.113.7"


def test_revocation_is_audited(project, member_user, admin_user):
    key = create(project, member_user).api_key

    assert services.api_key_revoke(api_key=key, revoked_by=admin_user, ip_address="2001:db8::1") is True

    event = AuditEvent.objects.get(action=AuditEvent.Action.REVOKED)
    assert event.actor_user == admin_user
    assert event.project == project
    assert event.api_key == key
    assert event.ip_address == "2001:db8::1"
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.revoked_by == admin_user


def test_refused_creation_writes_no_audit_event(project, member_user):
    refused(project, member_user, permissions=[DELETE_PROJECT])

    assert not AuditEvent.objects.exists()


def test_revoking_twice_returns_false_and_records_one_event(project, admin_user, member_user):
    key = create(project, admin_user).api_key

    assert services.api_key_revoke(api_key=key, revoked_by=admin_user) is True
    first_revocation = ApiKey.objects.get(pk=key.pk).revoked_at
    # A stale copy of the row, as a second browser tab would have.
    stale = ApiKey.objects.get(pk=key.pk)
    stale.revoked_at = None
    assert services.api_key_revoke(api_key=stale, revoked_by=member_user) is False

    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED).count() == 1
    key.refresh_from_db()
    assert key.revoked_at == first_revocation
    assert key.revoked_by == admin_user
    assert stale.revoked_at == first_revocation


# -- the one-time ticket of the create form -------------------------------------------


def test_ticket_can_be_consumed_once(project, admin_user):
    ticket = CreationTicket.objects.issue(user=admin_user)
    create(project, admin_user, name="first", ticket=ticket)

    error = refused(project, admin_user, name="second", ticket=ticket)

    assert error.code == "already_submitted"
    assert ApiKey.objects.count() == 1


def test_ticket_of_another_user_is_refused(project, admin_user, member_user):
    ticket = CreationTicket.objects.issue(user=member_user)

    assert refused(project, admin_user, ticket=ticket).code == "already_submitted"
    assert CreationTicket.objects.get(token=ticket).used_at is None


def test_unknown_ticket_is_refused(project, admin_user):
    assert refused(project, admin_user, ticket="made-up").code == "already_submitted"


def test_ticket_survives_a_refused_attempt(project, admin_user):
    create(project, admin_user, name="taken")
    ticket = CreationTicket.objects.issue(user=admin_user)

    # The name clash is found after the ticket is taken; the rollback gives it back.
    assert refused(project, admin_user, name="taken", ticket=ticket).field == "name"

    assert create(project, admin_user, name="free", ticket=ticket).api_key
    assert CreationTicket.objects.get(token=ticket).used_at is not None


def test_tickets_are_distinct():
    user = UserFactory()

    assert CreationTicket.objects.issue(user=user) != CreationTicket.objects.issue(user=user)


def test_name_of_an_expired_key_can_be_reused(project, admin_user):
    from tests.factories import expired_api_key

    expired = expired_api_key(project=project, name="ci-deploy")

    created = services.api_key_create(
        project=project, name="ci-deploy", permissions=[catalog.READ_PROJECT], created_by=admin_user
    )

    assert created.api_key.name == expired.name
    assert authentication.api_key_authenticate(expired.secret).error == "expired"


# -- names and descriptions that look like something else ----------------------


@pytest.mark.parametrize(
    "name",
    [
        "api\u200bkey",
        "api\u200dkey",
        "\u2066api\u2069",
        "api\u00adkey",
        "api\x00key",
        "api\nkey",
        "api\u2028key",
        "api\U000e0100key",
        "\u2800",
        # Default-ignorable and blank-looking characters outside the obvious categories.
        "x\u180cy",
        "a\u180db",
        "cd\u180f",
        "\u180b",
        "ij\U00016fe4",
        "ef\U0001d159",
        "\U0001d159",
        "a\u2064b",
    ],
)
def test_a_name_with_an_invisible_or_control_character_is_refused(project, admin_user, name):
    error = refused(project, admin_user, name=name)

    assert error.field == "name"
    assert "invisible or control character" in error.message


def test_names_are_stored_normalized_and_compared_normalized(project, admin_user):
    first = create(project, admin_user, name="  ﬁnance\u3000report  ").api_key

    assert first.name == "finance report"
    error = refused(project, admin_user, name="finance\u00a0 report")
    assert error.message == "An active API key with this name already exists in this project."


def test_a_description_keeps_its_line_breaks_but_nothing_invisible(project, admin_user):
    created = create(project, admin_user, description="line one\r\nline two\n\tindented").api_key
    assert created.description == "line one\nline two\n\tindented"

    error = refused(project, admin_user, name="other", description="looks fine\u202e")
    assert error.field == "description"


def test_the_api_refuses_invisible_names_with_a_clear_400(client, project):
    parent = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])

    response = client.post(
        "/api/v1/projects/demo/api-keys",
        {"name": "deploy\u200b", "permissions": [catalog.READ_PROJECT], "expires_at": in_days(5).isoformat()},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {parent.secret}",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_field",
        "detail": "The name contains an invisible or control character (U+200B), which is not allowed.",
    }


@pytest.mark.parametrize("name", ["p\u0430ypal", "\u0410lice", "\u03bfpen-ai", "deplo\u0443 key"])
def test_a_name_mixing_look_alike_alphabets_is_refused(project, admin_user, name):
    error = refused(project, admin_user, name=name)

    assert error.field == "name"
    assert "alphabets that look alike" in error.message


def test_a_name_cannot_start_with_a_combining_mark(project, admin_user):
    assert refused(project, admin_user, name="\u0338").field == "name"
    assert create(project, admin_user, name="caf\u0065\u0301").api_key.name == "café"  # composed by NFKC


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ape", "\u0430\u0440\u0435"),  # all-Cyrillic "аре"
        ("Deploy", "deploy"),
        ("pop", "\u03c1\u03bf\u03c1"),  # all-Greek "ρορ"
        ("STRASSE", "straße"),
    ],
)
def test_names_that_look_the_same_cannot_both_be_active(project, admin_user, first, second):
    create(project, admin_user, name=first)

    error = refused(project, admin_user, name=second)

    assert error.message == "An active API key with this name already exists in this project."


def test_other_alphabets_and_scripts_stay_welcome(project, admin_user):
    for name in ["Ключ для CI", "κλειδί", "デプロイ用キー", "部署密钥", "مفتاح النشر", "🚀 deploy"]:
        assert create(project, admin_user, name=name).api_key.name == name
