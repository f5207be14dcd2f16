from datetime import timedelta
from unittest import mock

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apikeys import schema, services
from apikeys.models import ApiKey
from projects import catalog
from projects.models import (
    Membership,
    Organization,
    OrganizationMembership,
    Project,
    Role,
    catalog_permissions,
)
from projects.roles import default_organization_role, default_role
from serviceaccounts import services as account_services
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountMembership


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("password")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    """A project, in the default organization unless one is given."""

    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    description = "A project for tests."


def role(name: str) -> Role:
    """One of the default roles.

    The data migration creates them; a transactional test's flush removes
    them (and post_migrate brings back only the Permission rows), so they are
    made again here when missing.
    """
    return default_role(name)


class RoleFactory(factory.django.DjangoModelFactory):
    """A custom role; pass codenames=[...] for its permissions."""

    class Meta:
        model = Role
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Role {n}")

    @factory.post_generation
    def codenames(self, create, extracted, **kwargs):
        if create and extracted is not None:
            self.permissions.set(catalog_permissions().filter(codename__in=extracted))


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = factory.LazyFunction(lambda: role(catalog.ADMINISTRATOR))


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A key made through the service, like every real key.

    The raw secret is kept on the instance as `.secret` for tests that use it.
    """

    class Meta:
        model = ApiKey

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"key-{n}")
    description = ""
    tags = factory.LazyFunction(list)
    permissions = factory.LazyFunction(lambda: [catalog.READ_PROJECT])
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=90))
    created_by = None

    @classmethod
    def _create(cls, model_class, *, project, created_by=None, **kwargs):
        if created_by is None and kwargs.get("created_by_key") is None:
            created_by = UserFactory(is_superuser=True, username="key-factory-admin")
        created = services.api_key_create(project=project, created_by=created_by, **kwargs)
        created.api_key.secret = created.secret
        return created.api_key


def expired_api_key(*, expired_for: timedelta = timedelta(days=1), **kwargs) -> ApiKey:
    """A key whose expiry passed `expired_for` ago.

    The service refuses expiry dates in the past and the model refuses later
    changes, so the key is created through the service as of a moment before.
    """
    now = timezone.now()
    kwargs["expires_at"] = now - expired_for
    with mock.patch("django.utils.timezone.now", return_value=now - expired_for - timedelta(days=30)):
        return ApiKeyFactory(**kwargs)


def organization_role(name: str):
    """One of the default organization roles (Owner, Admin, Member), made again when a flush removed it."""
    return default_organization_role(name)


def person(org, org_role: str | None, *, username: str | None = None, **project_roles):
    """A user with an organization role in `org` (or none) and default project roles by project slug."""
    user = UserFactory(username=username) if username else UserFactory()
    if org_role is not None:
        OrganizationMembershipFactory(organization=org, user=user, role=organization_role(org_role))
    for project in org.projects.filter(slug__in=project_roles):
        MembershipFactory(project=project, user=user, role=role(project_roles[project.slug]))
    return user


class OrganizationMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganizationMembership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = factory.LazyFunction(lambda: organization_role(catalog.ADMIN))


class ServiceAccountFactory(factory.django.DjangoModelFactory):
    """A service account; `projects={project: [codenames]}` makes its memberships, `admin=True` its Admin role."""

    class Meta:
        model = ServiceAccount
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"automation-{n}")
    description = ""

    @factory.post_generation
    def projects(self, create, extracted, **kwargs):
        for project, codenames in (extracted or {}).items():
            ServiceAccountMembership.objects.create(
                service_account=self, project=project, permissions=schema.clean_permissions(codenames)
            )

    @factory.post_generation
    def admin(self, create, extracted, **kwargs):
        if extracted:
            self.organization_role = organization_role(catalog.ADMIN)
            self.save(update_fields=["organization_role"])


class CredentialFactory(factory.django.DjangoModelFactory):
    """A credential made through the service by the operator, like the bootstrap command; `.secret` holds it."""

    class Meta:
        model = Credential

    service_account = factory.SubFactory(ServiceAccountFactory)
    name = factory.Sequence(lambda n: f"credential-{n}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=90))

    @classmethod
    def _create(cls, model_class, *, service_account, actor=None, **kwargs):
        actor = actor or account_services.Actor(operator="tests")
        created = account_services.create_credential(service_account, actor=actor, **kwargs)
        created.credential.secret = created.secret
        return created.credential
