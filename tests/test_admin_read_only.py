"""Every admin change page a user may only read is Django's view-only page.

It offers no Save buttons, and a POST to it (a stale tab, a forged form) is
refused on that same admin page (403), never with the console's 403 page or
a 500, and changes nothing. Checked for every model of the admin site and
for each kind of staff user.
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from apikeys.models import ApiKey, AuditEvent
from projects import catalog
from projects.models import Membership, Organization, OrganizationMembership, OrganizationRole, Project, Role
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent
from tests.factories import (
    ApiKeyFactory,
    CredentialFactory,
    MembershipFactory,
    OrganizationMembershipFactory,
    RoleFactory,
    ServiceAccountFactory,
    UserFactory,
    organization_role,
    role,
)
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

SAVE_BUTTONS = {"_save", "_continue", "_addanother", "_saveasnew"}
MODELS = [
    Group,
    User,
    Project,
    Role,
    Membership,
    ApiKey,
    AuditEvent,
    Organization,
    OrganizationRole,
    OrganizationMembership,
    ServiceAccount,
    Credential,
    ServiceAccountEvent,
]


@pytest.fixture
def objects(project):
    key = ApiKeyFactory(project=project, name="deploy")
    account = ServiceAccountFactory(organization=project.organization, name="automation")
    credential = CredentialFactory(service_account=account, name="ci")
    return {
        Group: Group.objects.create(name="operators"),
        User: UserFactory(username="erin"),
        Project: project,
        Role: role(catalog.VIEWER),
        Membership: MembershipFactory(project=project, user=UserFactory(username="frank"), role=role(catalog.VIEWER)),
        ApiKey: key,
        AuditEvent: AuditEvent.objects.get(api_key=key),
        Organization: project.organization,
        OrganizationRole: organization_role(catalog.ADMIN),
        OrganizationMembership: OrganizationMembershipFactory(
            organization=project.organization,
            user=UserFactory(username="grace"),
            role=organization_role(catalog.ORGANIZATION_MEMBER),
        ),
        ServiceAccount: account,
        Credential: credential,
        ServiceAccountEvent: ServiceAccountEvent.objects.get(credential=credential),
    }


def staff_with(codenames, project, role_name, organization_role_name=None) -> User:
    user = UserFactory(username="operator", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    MembershipFactory(project=project, user=user, role=role(role_name))
    if organization_role_name is not None:
        OrganizationMembershipFactory(
            organization=project.organization, user=user, role=organization_role(organization_role_name)
        )
    return user


def users(kind, project, superuser) -> User:
    if kind == "superuser":
        return superuser
    models = [model._meta.model_name for model in MODELS]
    if kind == "viewer":  # may view every model, Administrator of the project, Owner of its organization
        return staff_with([f"view_{name}" for name in models], project, catalog.ADMINISTRATOR, catalog.OWNER)
    # kind == "member": every model permission, but only a Member of the project, Admin of its organization
    codenames = [f"{action}_{name}" for name in models for action in ("view", "change", "add", "delete")]
    return staff_with(codenames, project, catalog.MEMBER, catalog.ADMIN)


# (kind of user, model, whether its change page is editable); a member does not
# reach memberships at all (they are another role's business). Service
# accounts, credentials and their events are read-only for everyone; only an
# Owner (or a superuser) changes an organization and its members.
CASES = [
    ("superuser", Group, True),
    ("superuser", User, True),
    ("superuser", Project, True),
    ("superuser", Role, True),
    ("superuser", Membership, True),
    ("superuser", ApiKey, False),
    ("superuser", AuditEvent, False),
    ("superuser", Organization, True),
    ("superuser", OrganizationRole, True),
    ("superuser", OrganizationMembership, True),
    ("superuser", ServiceAccount, False),
    ("superuser", Credential, False),
    ("superuser", ServiceAccountEvent, False),
    *[("viewer", model, False) for model in MODELS],
    ("member", Group, True),
    ("member", User, True),
    ("member", Project, False),
    ("member", Role, True),
    ("member", ApiKey, False),
    ("member", AuditEvent, False),
    ("member", Organization, False),
    ("member", OrganizationRole, True),
    ("member", OrganizationMembership, False),
    ("member", ServiceAccount, False),
    ("member", Credential, False),
    ("member", ServiceAccountEvent, False),
]


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def save_buttons(response) -> set[str]:
    return {element.attrs.get("name") for element in parse(response).iter()} & SAVE_BUTTONS


def stored(obj) -> dict:
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    return {field.attname: getattr(fresh, field.attname) for field in obj._meta.concrete_fields}


def test_every_model_of_the_admin_is_checked():
    assert set(admin.site._registry) == set(MODELS)


@pytest.mark.parametrize(("kind", "model", "editable"), CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_save_buttons_only_where_something_can_be_saved(client, project, superuser, objects, kind, model, editable):
    client.force_login(users(kind, project, superuser))

    response = client.get(change_url(objects[model]))

    assert response.status_code == 200
    assert bool(save_buttons(response)) == editable, save_buttons(response)
    adminform = response.context["adminform"]
    editable_fields = [name for name in adminform.form.fields if name not in adminform.readonly_fields]
    assert bool(editable_fields or response.context["has_editable_inline_admin_formsets"]) == editable
    if not editable:
        assert "closelink" in {c for element in parse(response).iter() for c in element.classes()}


@pytest.mark.parametrize(
    ("kind", "model"), [(kind, model) for kind, model, editable in CASES if not editable], ids=lambda v: str(v)
)
@pytest.mark.parametrize("button", ["_save", "_continue", "_addanother"])
def test_post_to_a_view_only_page_is_refused_on_that_page(client, project, superuser, objects, kind, model, button):
    client.force_login(users(kind, project, superuser))
    obj = objects[model]
    before = stored(obj)

    response = client.post(
        change_url(obj), {"name": "changed", "username": "changed", "action": "created", button: "Save"}
    )

    assert response.status_code == 403
    templates = [template.name for template in response.templates]
    assert "admin/change_form.html" in templates
    assert "403.html" not in templates  # the console's page
    assert not save_buttons(response)
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [f"The {model._meta.verbose_name} “{obj}” can only be viewed, not changed. Nothing was saved."]
    assert stored(obj) == before


def test_post_to_a_view_only_page_with_an_unknown_to_field_is_a_400(client, superuser, objects):
    client.force_login(superuser)

    response = client.post(f"{change_url(objects[ApiKey])}?_to_field=no_such_field", {"_save": "Save"})

    assert response.status_code == 400


def test_post_to_another_projects_key_is_like_a_post_to_a_missing_key(client, project, other_project, superuser):
    client.force_login(users("member", project, superuser))
    theirs = ApiKeyFactory(project=other_project, name="theirs")
    missing = reverse("admin:apikeys_apikey_change", args=[theirs.pk + 1000])

    response = client.post(change_url(theirs), {"_save": "Save"})
    expected = client.post(missing, {"_save": "Save"})

    assert expected.status_code == 302
    assert (response.status_code, response["Location"]) == (expected.status_code, expected["Location"])


def test_a_project_page_whose_members_alone_the_user_manages_is_read_only(client, project, objects):
    # Django makes the inlines of a view-only object view-only too: nothing to save.
    manager = staff_with(
        ["view_project", "change_project", "view_membership", "change_membership", "add_membership"],
        project,
        catalog.MEMBER,
    )
    Membership.objects.filter(user=manager).update(
        role=RoleFactory(codenames=[catalog.READ_PROJECT, "can_crud_permissions_in_project"])
    )
    client.force_login(manager)

    response = client.get(change_url(project))

    assert response.status_code == 200
    assert [inline.formset.prefix for inline in response.context["inline_admin_formsets"]] == ["memberships"]
    assert not response.context["has_editable_inline_admin_formsets"]
    assert not save_buttons(response)
