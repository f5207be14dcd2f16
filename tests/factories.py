from datetime import timedelta
from unittest import mock

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apikeys import services
from apikeys.models import ApiKey
from projects import catalog
from projects.models import Membership, Project, Role, catalog_permissions
from projects.roles import default_role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("password")


class ProjectFactory(factory.django.DjangoModelFactory):
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
