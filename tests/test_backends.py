"""ProjectPermissionBackend: `user.has_perm("projects.<codename>", project)`."""

from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Permission

from projects import catalog
from tests.factories import ApiKeyFactory, MembershipFactory, RoleFactory, UserFactory, role

CREATE = catalog.perm(catalog.CREATE_API_KEYS)
READ_KEYS = catalog.perm(catalog.READ_API_KEYS)
READ_PROJECT = catalog.perm(catalog.READ_PROJECT)


def fresh(user):
    """The same user as a new object, as the next request would load it."""
    return get_user_model().objects.get(pk=user.pk)


# -- members ------------------------------------------------------------------


def test_member_holds_the_permissions_of_their_role(member_user, project):
    assert member_user.has_perm(CREATE, project)
    assert member_user.has_perm("projects.can_create_clusters_in_metakube", project)


def test_member_lacks_permissions_their_role_does_not_grant(member_user, project):
    # Member = everything except these three (catalog.DEFAULT_ROLES).
    assert not member_user.has_perm("projects.can_become_administrator_in_project", project)
    assert not member_user.has_perm("projects.can_delete_project_in_project", project)


def test_viewer_may_read_api_keys_but_not_create_them(viewer_user, project):
    assert viewer_user.has_perm(READ_KEYS, project)
    assert not viewer_user.has_perm(CREATE, project)


def test_custom_role_grants_exactly_its_permissions(project):
    custom = RoleFactory(codenames=[catalog.READ_PROJECT, "can_read_databases_in_dbaas"])
    user = MembershipFactory(project=project, role=custom).user

    held = {p.codename for p in catalog.CATALOG if user.has_perm(p.perm, project)}

    assert held == {catalog.READ_PROJECT, "can_read_databases_in_dbaas"}


def test_role_without_permissions_grants_nothing(project):
    user = MembershipFactory(project=project, role=RoleFactory(codenames=[])).user

    assert not any(user.has_perm(p.perm, project) for p in catalog.CATALOG)


def test_permission_in_one_project_does_not_carry_to_another(admin_user, project, other_project):
    assert admin_user.has_perm(CREATE, project)
    assert not admin_user.has_perm(CREATE, other_project)
    assert not admin_user.has_perm(READ_PROJECT, other_project)


def test_each_project_uses_its_own_role(project, other_project):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=role(catalog.VIEWER))
    MembershipFactory(project=other_project, user=user, role=role(catalog.ADMINISTRATOR))

    assert not user.has_perm(CREATE, project)
    assert user.has_perm(CREATE, other_project)


def test_non_member_holds_nothing(outsider, project):
    assert not any(outsider.has_perm(p.perm, project) for p in catalog.CATALOG)


def test_object_with_a_project_attribute_is_checked_in_its_project(admin_user, viewer_user, project, other_project):
    key = ApiKeyFactory(project=project)
    foreign_key = ApiKeyFactory(project=other_project)

    assert admin_user.has_perm(CREATE, key)
    assert not viewer_user.has_perm(CREATE, key)
    assert viewer_user.has_perm(READ_KEYS, key)
    assert not admin_user.has_perm(CREATE, foreign_key)


def test_object_whose_project_attribute_is_not_a_project_grants_nothing(admin_user, project):
    assert not admin_user.has_perm(CREATE, SimpleNamespace(project=project.slug))
    assert not admin_user.has_perm(CREATE, SimpleNamespace(project=project.pk))
    assert not admin_user.has_perm(CREATE, object())


def test_project_permissions_are_not_granted_without_an_object(admin_user):
    # They are project-scoped: no global grant, so `perms.projects.*` in a
    # template or @permission_required without an object stays False.
    assert not admin_user.has_perm(CREATE)
    assert not admin_user.has_perm(READ_PROJECT)


def test_unknown_codename_is_refused_even_for_administrators(admin_user, project):
    assert not admin_user.has_perm("projects.can_fly_in_project", project)
    assert not admin_user.has_perm("projects.", project)


def test_permissions_of_other_apps_are_not_answered_from_the_role(admin_user, project):
    assert not admin_user.has_perm(f"apikeys.{catalog.CREATE_API_KEYS}", project)
    assert not admin_user.has_perm(catalog.CREATE_API_KEYS, project)
    assert not admin_user.has_perm("auth.add_user", project)
    assert not admin_user.has_perm("projects.add_project", project)


def test_a_role_holding_a_permission_outside_the_catalog_grants_nothing_more(project):
    # The admin offers only catalog permissions for a role; one set by other means does not count.
    outside = Permission.objects.get(content_type__app_label="projects", codename="add_project")
    custom = RoleFactory(codenames=[catalog.READ_PROJECT])
    custom.permissions.add(outside)
    user = MembershipFactory(project=project, role=custom).user

    assert not user.has_perm("projects.add_project", project)
    assert user.get_all_permissions(project) == {READ_PROJECT}


# -- get_all_permissions(obj) -------------------------------------------------


def test_all_permissions_of_a_member_are_those_of_their_role_in_that_project(project, other_project):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=role(catalog.VIEWER))
    MembershipFactory(project=other_project, user=user, role=role(catalog.ADMINISTRATOR))

    assert user.get_all_permissions(project) == {catalog.perm(c) for c in catalog.DEFAULT_ROLES[catalog.VIEWER]}
    assert user.get_all_permissions(other_project) == {p.perm for p in catalog.CATALOG}


def test_all_permissions_agree_with_has_perm(member_user, project):
    held = member_user.get_all_permissions(project)

    assert held == {p.perm for p in catalog.CATALOG if member_user.has_perm(p.perm, project)}
    assert held == {catalog.perm(c) for c in catalog.DEFAULT_ROLES[catalog.MEMBER]}


def test_all_permissions_of_an_object_are_those_in_its_project(viewer_user, project):
    key = ApiKeyFactory(project=project)

    assert viewer_user.get_all_permissions(key) == viewer_user.get_all_permissions(project)
    assert viewer_user.get_all_permissions(object()) == set()


def test_all_permissions_are_empty_for_outsiders_inactive_and_anonymous_users(outsider, admin_user, project):
    assert outsider.get_all_permissions(project) == set()
    assert AnonymousUser().get_all_permissions(project) == set()
    admin_user.is_active = False
    admin_user.save()
    assert fresh(admin_user).get_all_permissions(project) == set()


def test_superuser_holds_the_whole_catalog_in_any_project(superuser, project):
    assert superuser.get_all_permissions(project) == {p.perm for p in catalog.CATALOG}


def test_all_permissions_without_an_object_include_no_project_permission(admin_user):
    assert not {p.perm for p in catalog.CATALOG} & admin_user.get_all_permissions()


def test_all_permissions_cost_one_query_shared_with_has_perm(admin_user, project, django_assert_num_queries):
    user = fresh(admin_user)
    with django_assert_num_queries(1):
        assert CREATE in user.get_all_permissions(project)
        assert user.has_perm(CREATE, project)


# -- superusers, inactive and anonymous users ---------------------------------


def test_superuser_passes_every_check_without_membership(superuser, project, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert all(superuser.has_perm(p.perm, project) for p in catalog.CATALOG)


def test_inactive_member_holds_nothing(admin_user, project):
    admin_user.is_active = False
    admin_user.save()
    admin_user = fresh(admin_user)

    assert not any(admin_user.has_perm(p.perm, project) for p in catalog.CATALOG)


def test_inactive_superuser_holds_nothing(project):
    user = UserFactory(is_superuser=True, is_active=False)
    MembershipFactory(project=project, user=user, role=role(catalog.ADMINISTRATOR))

    assert not user.has_perm(CREATE, project)


def test_anonymous_user_holds_nothing(project, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert not AnonymousUser().has_perm(READ_PROJECT, project)
        assert not AnonymousUser().has_perm(CREATE, project)


# -- changes take effect, and what it costs -----------------------------------


def test_removed_membership_takes_effect_on_the_next_request(admin_user, project):
    assert admin_user.has_perm(CREATE, project)
    admin_user.memberships.all().delete()

    assert not fresh(admin_user).has_perm(CREATE, project)


def test_role_change_takes_effect_on_the_next_request(admin_user, project):
    admin_user.memberships.update(role=role(catalog.VIEWER))

    user = fresh(admin_user)
    assert not user.has_perm(CREATE, project)
    assert user.has_perm(READ_KEYS, project)


def test_editing_a_role_changes_what_its_members_hold(member_user, project):
    role(catalog.MEMBER).permissions.clear()

    assert not fresh(member_user).has_perm(CREATE, project)


def test_first_check_costs_one_query(admin_user, project, django_assert_num_queries):
    user = fresh(admin_user)
    with django_assert_num_queries(1):
        assert user.has_perm(CREATE, project)


def test_first_check_of_a_non_member_costs_one_query(outsider, project, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert not outsider.has_perm(CREATE, project)


def test_repeated_checks_on_the_same_project_cost_no_query(viewer_user, project, django_assert_num_queries):
    user = fresh(viewer_user)
    user.has_perm(READ_PROJECT, project)

    with django_assert_num_queries(0):
        assert user.has_perm(READ_KEYS, project)
        assert not user.has_perm(CREATE, project)
        viewer = catalog.DEFAULT_ROLES[catalog.VIEWER]
        assert all(user.has_perm(p.perm, project) is (p.codename in viewer) for p in catalog.CATALOG)
        assert user.has_perm(READ_KEYS, ApiKeyFactory.build(project=project))


def test_repeated_checks_of_a_non_member_cost_no_query(outsider, project, django_assert_num_queries):
    outsider.has_perm(READ_PROJECT, project)

    with django_assert_num_queries(0):
        assert not outsider.has_perm(CREATE, project)


def test_another_project_costs_one_more_query(admin_user, project, other_project, django_assert_num_queries):
    user = fresh(admin_user)
    user.has_perm(CREATE, project)

    with django_assert_num_queries(1):
        assert not user.has_perm(CREATE, other_project)
    with django_assert_num_queries(0):
        assert user.has_perm(READ_PROJECT, project)
        assert not user.has_perm(READ_PROJECT, other_project)


def test_preloading_several_projects_answers_as_asking_one_by_one(
    member_user, project, other_project, django_assert_num_queries
):
    from projects.backends import preload_project_permissions, project_permissions
    from tests.factories import ProjectFactory, ServiceAccountFactory

    empty = RoleFactory(codenames=[])
    MembershipFactory(project=other_project, user=member_user, role=empty)
    third = ProjectFactory()
    expected = {p.pk: project_permissions(fresh(member_user), p) for p in (project, other_project, third)}
    account = ServiceAccountFactory(organization=project.organization, projects={project: [catalog.READ_PROJECT]})

    user = fresh(member_user)
    with django_assert_num_queries(1):
        preload_project_permissions(user, [project, other_project, third])
    with django_assert_num_queries(0):
        assert {p.pk: project_permissions(user, p) for p in (project, other_project, third)} == expected
    assert expected[other_project.pk] == frozenset() and expected[third.pk] is None

    with django_assert_num_queries(1):
        preload_project_permissions(account, [project, third])
    with django_assert_num_queries(0):
        assert project_permissions(account, project) == {catalog.READ_PROJECT}
        assert project_permissions(account, third) is None
