"""The Django admin for projects, roles and memberships."""

import pytest
from django.contrib.auth.models import Permission
from pytest_django.asserts import assertContains, assertNotContains

from projects import catalog
from projects.models import Membership, Project, Role
from tests.factories import MembershipFactory, RoleFactory, UserFactory, role

ADMIN_PAGES = [
    "/admin/projects/project/",
    "/admin/projects/project/add/",
    "/admin/projects/role/",
    "/admin/projects/role/add/",
    "/admin/projects/membership/",
    "/admin/projects/membership/add/",
]


@pytest.fixture
def admin_client_(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_superuser_can_open_admin_pages(admin_client_, admin_user, path):
    assert admin_client_.get(path).status_code == 200


def test_superuser_can_open_change_pages(admin_client_, admin_user, project):
    membership = Membership.objects.get(user=admin_user)
    for path in [
        f"/admin/projects/project/{project.pk}/change/",
        f"/admin/projects/role/{role(catalog.VIEWER).pk}/change/",
        f"/admin/projects/membership/{membership.pk}/change/",
    ]:
        assert admin_client_.get(path).status_code == 200, path


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_project_administrator_who_is_not_staff_is_sent_to_admin_log_in(client, admin_user, path):
    client.force_login(admin_user)

    response = client.get(path)

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_role_permission_choices_are_exactly_the_catalog(admin_client_, db):
    response = admin_client_.get("/admin/projects/role/add/")

    field = response.context["adminform"].form.fields["permissions"]
    offered = {Permission.objects.get(pk=pk.value).codename for pk, _ in field.choices}
    assert offered == set(catalog.CODENAMES)
    assert len(offered) == 24


def test_role_form_offers_none_of_djangos_model_permissions(admin_client_, db):
    response = admin_client_.get("/admin/projects/role/add/")

    for codename in ["add_project", "change_project", "delete_project", "view_project", "add_role", "add_user"]:
        pk = Permission.objects.get(codename=codename).pk
        assertNotContains(response, f'<option value="{pk}"')
    assertNotContains(response, "Can add project")


def test_role_cannot_be_given_a_django_model_permission(admin_client_, db):
    add_user = Permission.objects.get(codename="add_user")
    read_project = Permission.objects.get(codename=catalog.READ_PROJECT)

    response = admin_client_.post(
        "/admin/projects/role/add/",
        {"name": "Sneaky", "description": "", "permissions": [add_user.pk, read_project.pk]},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["permissions"]
    assert not Role.objects.filter(name="Sneaky").exists()


def test_superuser_can_create_a_role_from_catalog_permissions(admin_client_, db):
    perms = Permission.objects.filter(codename__in=[catalog.READ_PROJECT, catalog.READ_API_KEYS])

    response = admin_client_.post(
        "/admin/projects/role/add/", {"name": "Auditor", "description": "", "permissions": [p.pk for p in perms]}
    )

    assert response.status_code == 302
    created = Role.objects.get(name="Auditor")
    assert {p.codename for p in created.permissions.all()} == {catalog.READ_PROJECT, catalog.READ_API_KEYS}


def test_role_changelist_shows_each_roles_permission_count(admin_client_, db):
    RoleFactory(name="Auditor", codenames=[catalog.READ_PROJECT, catalog.READ_API_KEYS])

    response = admin_client_.get("/admin/projects/role/")

    assertContains(response, "Auditor")
    assertContains(response, '<td class="field-permission_count">2</td>', html=False)


def test_project_admin_has_the_memberships_inline(admin_client_, admin_user, viewer_user, project):
    response = admin_client_.get(f"/admin/projects/project/{project.pk}/change/")

    assertContains(response, 'name="memberships-TOTAL_FORMS"')
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.model is Membership
    assert {form.instance.user.username for form in formset.initial_forms} == {"alice", "bob"}


def test_superuser_can_add_a_member_through_the_project_inline(admin_client_, project):
    dave = UserFactory(username="dave")
    viewer = role(catalog.VIEWER)

    response = admin_client_.post(
        f"/admin/projects/project/{project.pk}/change/",
        {
            "name": project.name,
            "slug": project.slug,
            "description": project.description,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-user": str(dave.pk),
            "memberships-0-role": str(viewer.pk),
        },
    )

    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=dave).role == viewer
    assert dave.has_perm(f"projects.{catalog.READ_API_KEYS}", project)


def test_a_user_cannot_get_two_memberships_in_one_project(admin_client_, admin_user, project):
    response = admin_client_.post(
        "/admin/projects/membership/add/",
        {"user": str(admin_user.pk), "project": str(project.pk), "role": str(role(catalog.VIEWER).pk)},
    )

    assert response.status_code == 200
    assert Membership.objects.filter(user=admin_user, project=project).count() == 1
    assert Membership.objects.get(user=admin_user, project=project).role.name == catalog.ADMINISTRATOR


def test_role_in_use_cannot_be_deleted(admin_client_, member_user):
    member_role = role(catalog.MEMBER)

    response = admin_client_.post(f"/admin/projects/role/{member_role.pk}/delete/", {"post": "yes"})

    assert response.status_code == 200  # the admin explains what protects it
    assert Role.objects.filter(pk=member_role.pk).exists()
    assert Membership.objects.filter(user=member_user).exists()


def test_membership_changelist_filters_by_project(admin_client_, admin_user, other_project):
    MembershipFactory(project=other_project, user=UserFactory(username="dave"))

    response = admin_client_.get(
        f"/admin/projects/membership/?project__id__exact={Project.objects.get(slug='demo').pk}"
    )

    assertContains(response, "alice")
    assertNotContains(response, "dave")
