"""The admin shows staff only the projects where their project role lets them.

Django's model permissions (view/change/add apikey…) open the admin; the
project permissions of the user's role decide which records they reach,
exactly as in the console. Another project's records are treated as missing.
Superusers see everything.
"""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from pytest_django.asserts import assertNotContains

from apikeys import authentication
from apikeys.models import ApiKey, AuditEvent
from projects import catalog
from projects.models import Membership, Project
from tests.factories import ApiKeyFactory, MembershipFactory, RoleFactory, UserFactory, role
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

KEYS = "admin:apikeys_apikey_changelist"
EVENTS = "admin:apikeys_auditevent_changelist"
MODEL_PERMISSIONS = [
    "add_apikey",
    "change_apikey",
    "view_apikey",
    "view_auditevent",
    "view_project",
    "change_project",
    "add_project",
    "delete_project",
    "view_membership",
    "change_membership",
    "add_membership",
    "delete_membership",
]


@pytest.fixture
def operator(project):
    """Staff with every model permission of the admin, Administrator of `project` (the demo) only."""
    user = UserFactory(username="operator", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=MODEL_PERMISSIONS))
    MembershipFactory(project=project, user=user, role=role(catalog.ADMINISTRATOR))
    return user


@pytest.fixture
def staff(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def mine(project):
    return ApiKeyFactory(project=project, name="mine", tags=["ci"], ip_address="192.0.2.10")


@pytest.fixture
def theirs(other_project):
    return ApiKeyFactory(project=other_project, name="theirs", tags=["ci"], ip_address="198.51.100.99")


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {str(obj) if not isinstance(obj, ApiKey) else obj.name for obj in response.context["cl"].result_list}


def project_filter_choices(response) -> list[str]:
    specs = [spec for spec in response.context["cl"].filter_specs if spec.title == "project"]
    return sorted(name for _, name in specs[0].lookup_choices)


def is_like_a_missing_object(client, url_of, obj, model):
    """The page of `obj` answers exactly as the page of an object that does not exist."""
    missing = model.objects.order_by("-pk").first().pk + 1000
    response = client.get(url_of(obj.pk))
    expected = client.get(url_of(missing))
    assert expected.status_code in {302, 404}
    assert response.status_code == expected.status_code
    assert response.get("Location") == expected.get("Location")
    return response


# -- API keys ------------------------------------------------------------------------------------


def test_staff_lists_only_the_keys_of_their_projects(staff, mine, theirs):
    assert listed(staff.get(reverse(KEYS))) == {"mine"}


def test_superuser_lists_every_key(client, superuser, mine, theirs):
    client.force_login(superuser)

    assert listed(client.get(reverse(KEYS))) == {"mine", "theirs"}


@pytest.mark.parametrize("query", ["theirs", "ci", "the"])
def test_search_does_not_reach_other_projects(staff, mine, theirs, query):
    assert "theirs" not in listed(staff.get(reverse(KEYS), {"q": query}))


def test_search_by_another_projects_public_id_finds_nothing(staff, mine, theirs):
    assert listed(staff.get(reverse(KEYS), {"q": theirs.public_id})) == set()


def test_project_filter_does_not_name_other_projects(staff, operator, mine, theirs, other_project):
    third = Project.objects.create(name="Third", slug="third")
    MembershipFactory(project=third, user=operator, role=role(catalog.MEMBER))
    ApiKeyFactory(project=third, name="third")

    response = staff.get(reverse(KEYS))

    assert project_filter_choices(response) == ["Demo Project", "Third"]
    assertNotContains(response, other_project.name)
    # Asking for the other project's keys by its id shows none of them.
    assert "theirs" not in listed(staff.get(reverse(KEYS), {"project__id__exact": other_project.pk}))


@pytest.mark.parametrize("page", ["change", "history"])
def test_another_projects_key_page_is_like_a_missing_key(staff, mine, theirs, page):
    response = is_like_a_missing_object(
        staff, lambda pk: reverse(f"admin:apikeys_apikey_{page}", args=[pk]), theirs, ApiKey
    )

    assert "theirs" not in staff.get(response.get("Location", "/admin/")).content.decode()
    assert staff.get(reverse(f"admin:apikeys_apikey_{page}", args=[mine.pk])).status_code == 200


def test_forged_revoke_of_another_projects_keys_revokes_nothing(staff, mine, theirs):
    for step in ({}, {"confirm": "yes"}):
        response = staff.post(
            reverse(KEYS), {"action": "revoke_selected", "_selected_action": [theirs.pk, mine.pk], **step}
        )
        assert "theirs" not in response.content.decode()

    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None
    assert ApiKey.objects.get(pk=mine.pk).revoked_at is not None
    assert authentication.api_key_authenticate(theirs.secret).ok


def test_superuser_revokes_keys_of_any_project(client, superuser, mine, theirs):
    client.force_login(superuser)

    client.post(reverse(KEYS), {"action": "revoke_selected", "_selected_action": [theirs.pk], "confirm": "yes"})

    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is not None


@pytest.fixture
def viewer(client, operator, project):
    """The operator, but only a Viewer of the demo (can_read_api_keys_in_project, no creation permission)."""
    Membership.objects.filter(user=operator).update(role=role(catalog.VIEWER))
    client.force_login(operator)
    return client


def test_read_only_member_sees_the_keys_but_cannot_revoke_them(viewer, mine, theirs):
    assert listed(viewer.get(reverse(KEYS))) == {"mine"}

    response = viewer.post(
        reverse(KEYS), {"action": "revoke_selected", "_selected_action": [mine.pk], "confirm": "yes"}
    )

    assert ApiKey.objects.get(pk=mine.pk).revoked_at is None
    assert "API Key Creation Permission" in " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_member_without_an_api_key_permission_sees_no_keys(client, operator, project, mine):
    Membership.objects.filter(user=operator).update(role=RoleFactory(codenames=[catalog.READ_PROJECT]))
    client.force_login(operator)

    assert listed(client.get(reverse(KEYS))) == set()
    assert listed(client.get(reverse(EVENTS))) == set()


def test_add_form_offers_only_projects_with_the_creation_permission(viewer, operator, project, other_project):
    third = Project.objects.create(name="Third", slug="third")
    MembershipFactory(project=third, user=operator, role=role(catalog.MEMBER))

    response = viewer.get(reverse("admin:apikeys_apikey_add"))

    offered = {label for value, label in response.context["adminform"].form.fields["project"].choices if value}
    assert offered == {"Third"}
    assertNotContains(response, other_project.name)


def test_add_refuses_another_project_on_post(staff, other_project):
    ticket = parse(staff.get(reverse("admin:apikeys_apikey_add"))).find("input", name="ticket").attrs["value"]

    response = staff.post(
        reverse("admin:apikeys_apikey_add"),
        {"project": other_project.pk, "name": "sneaky", "permissions": [catalog.READ_PROJECT], "ticket": ticket},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["project"]
    assert not ApiKey.objects.exists()


# -- audit events --------------------------------------------------------------------------------


def events_listed(response) -> set[str]:
    assert response.status_code == 200
    return {event.api_key.name for event in response.context["cl"].result_list}


def test_staff_lists_only_the_audit_events_of_their_projects(staff, mine, theirs):
    response = staff.get(reverse(EVENTS))

    assert events_listed(response) == {"mine"}
    assertNotContains(response, "198.51.100.99")


def test_superuser_lists_every_audit_event(client, superuser, mine, theirs):
    client.force_login(superuser)

    assert events_listed(client.get(reverse(EVENTS))) == {"mine", "theirs"}


@pytest.mark.parametrize("query", ["theirs", "key-factory-admin"])
def test_audit_search_does_not_reach_other_projects(staff, mine, theirs, query):
    assert "theirs" not in events_listed(staff.get(reverse(EVENTS), {"q": query}))


def test_audit_project_filter_does_not_name_other_projects(staff, operator, mine, theirs, other_project):
    third = Project.objects.create(name="Third", slug="third")
    MembershipFactory(project=third, user=operator, role=role(catalog.VIEWER))
    ApiKeyFactory(project=third, name="third")

    response = staff.get(reverse(EVENTS))

    assert project_filter_choices(response) == ["Demo Project", "Third"]
    assertNotContains(response, other_project.name)
    assert "theirs" not in events_listed(staff.get(reverse(EVENTS), {"project__id__exact": other_project.pk}))


@pytest.mark.parametrize("page", ["change", "history"])
def test_another_projects_audit_event_page_is_like_a_missing_one(staff, mine, theirs, page):
    event = AuditEvent.objects.get(api_key=theirs)

    response = is_like_a_missing_object(
        staff, lambda pk: reverse(f"admin:apikeys_auditevent_{page}", args=[pk]), event, AuditEvent
    )

    assert "198.51.100.99" not in staff.get(response.get("Location", "/admin/")).content.decode()
    own = AuditEvent.objects.get(api_key=mine)
    assert staff.get(reverse(f"admin:apikeys_auditevent_{page}", args=[own.pk])).status_code == 200


# -- projects --------------------------------------------------------------------------------------


def test_staff_lists_only_their_projects(staff, other_project):
    assert listed(staff.get(reverse("admin:projects_project_changelist"))) == {"Demo Project"}


@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_another_project_page_is_like_a_missing_project(staff, other_project, page):
    response = is_like_a_missing_object(
        staff, lambda pk: reverse(f"admin:projects_project_{page}", args=[pk]), other_project, Project
    )

    assertNotContains(staff.get(response.get("Location", "/admin/")), other_project.name)


def test_staff_cannot_rename_another_project(staff, other_project):
    staff.post(
        reverse("admin:projects_project_change", args=[other_project.pk]),
        {"name": "Mine now", "slug": other_project.slug, "description": "", **empty_inline()},
    )

    assert Project.objects.get(pk=other_project.pk).name == "Sandbox"


def empty_inline() -> dict:
    return {
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }


def test_member_without_the_administrator_permission_cannot_change_the_project(client, operator, project):
    Membership.objects.filter(user=operator).update(role=role(catalog.MEMBER))
    client.force_login(operator)
    url = reverse("admin:projects_project_change", args=[project.pk])

    assert client.get(url).status_code == 200  # they may see it
    response = client.post(url, {"name": "Renamed", "slug": project.slug, "description": "", **empty_inline()})

    assert response.status_code == 403
    assert Project.objects.get(pk=project.pk).name == "Demo Project"


def test_member_without_the_delete_permission_cannot_delete_the_project(client, operator, project):
    Membership.objects.filter(user=operator).update(role=role(catalog.MEMBER))
    client.force_login(operator)

    client.post(
        reverse("admin:projects_project_changelist"),
        {"action": "delete_selected", "_selected_action": [project.pk], "post": "yes"},
    )
    client.post(reverse("admin:projects_project_delete", args=[project.pk]), {"post": "yes"})

    assert Project.objects.filter(pk=project.pk).exists()


def test_deleting_a_project_needs_the_right_to_remove_its_members(client, operator, project, admin_user):
    deleter = RoleFactory(codenames=[catalog.READ_PROJECT, "can_delete_project_in_project"])
    Membership.objects.filter(user=operator).update(role=deleter)
    client.force_login(operator)

    response = client.post(reverse("admin:projects_project_delete", args=[project.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Membership.objects.filter(user=admin_user, project=project).exists()


def test_only_superusers_add_projects(staff):
    # A new project has no members, so no project role could cover it.
    assert staff.get(reverse("admin:projects_project_add")).status_code == 403


def test_project_autocomplete_offers_only_their_projects(staff, other_project):
    response = staff.get(
        "/admin/autocomplete/",
        {"app_label": "projects", "model_name": "membership", "field_name": "project", "term": ""},
    )

    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Demo Project"]


def test_superuser_lists_every_project(client, superuser, project, other_project):
    client.force_login(superuser)

    assert listed(client.get(reverse("admin:projects_project_changelist"))) == {"Demo Project", "Sandbox"}


# -- memberships ---------------------------------------------------------------------------------


@pytest.fixture
def dave(other_project):
    return MembershipFactory(project=other_project, user=UserFactory(username="dave"), role=role(catalog.VIEWER))


def test_staff_lists_only_memberships_of_projects_whose_members_they_manage(staff, admin_user, dave, other_project):
    response = staff.get(reverse("admin:projects_membership_changelist"))

    assert {m.user.username for m in response.context["cl"].result_list} == {"alice", "operator"}
    assertNotContains(response, "dave")
    assertNotContains(response, other_project.name)


def test_member_who_may_not_manage_members_lists_no_memberships(client, operator, admin_user):
    Membership.objects.filter(user=operator).update(role=role(catalog.MEMBER))
    client.force_login(operator)

    response = client.get(reverse("admin:projects_membership_changelist"))

    assert list(response.context["cl"].result_list) == []


@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_another_projects_membership_page_is_like_a_missing_one(staff, dave, page):
    response = is_like_a_missing_object(
        staff, lambda pk: reverse(f"admin:projects_membership_{page}", args=[pk]), dave, Membership
    )

    assertNotContains(staff.get(response.get("Location", "/admin/")), "dave")


def test_staff_cannot_add_a_membership_in_another_project(staff, other_project):
    eve = UserFactory(username="eve")

    response = staff.post(
        reverse("admin:projects_membership_add"),
        {"user": eve.pk, "project": other_project.pk, "role": role(catalog.ADMINISTRATOR).pk},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["project"]
    assert not Membership.objects.filter(user=eve).exists()


def test_staff_cannot_delete_memberships_of_another_project_with_a_forged_action(staff, dave):
    staff.post(
        reverse("admin:projects_membership_changelist"),
        {"action": "delete_selected", "_selected_action": [dave.pk], "post": "yes"},
    )

    assert Membership.objects.filter(pk=dave.pk).exists()


def test_staff_manages_members_of_their_project(staff, project):
    eve = UserFactory(username="eve")

    response = staff.post(
        reverse("admin:projects_membership_add"),
        {"user": eve.pk, "project": project.pk, "role": role(catalog.VIEWER).pk},
    )

    assert response.status_code == 302
    assert eve.has_perm(f"projects.{catalog.READ_API_KEYS}", project)
