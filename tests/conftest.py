import pytest

from projects import catalog
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, role


@pytest.fixture(autouse=True)
def test_settings(settings):
    # Argon2 is what deployments use (see test_settings.py); tests need speed.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The hashed-manifest storage needs `collectstatic`; tests serve plain files.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def clean_cache():
    from django.core.cache import cache

    from config import ratelimit

    cache.clear()
    ratelimit._api_tripped.clear()  # what this process remembers of the shared counters
    yield
    cache.clear()
    ratelimit._api_tripped.clear()


@pytest.fixture
def project(db):
    return ProjectFactory(name="Demo Project", slug="demo")


@pytest.fixture
def other_project(db):
    return ProjectFactory(name="Sandbox", slug="sandbox")


@pytest.fixture
def admin_user(project):
    """Administrator of `project`: every permission."""
    return MembershipFactory(project=project, user=UserFactory(username="alice"), role=role(catalog.ADMINISTRATOR)).user


@pytest.fixture
def member_user(project):
    return MembershipFactory(project=project, user=UserFactory(username="carol"), role=role(catalog.MEMBER)).user


@pytest.fixture
def viewer_user(project):
    return MembershipFactory(project=project, user=UserFactory(username="bob"), role=role(catalog.VIEWER)).user


@pytest.fixture
def outsider(db):
    return UserFactory(username="mallory")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)
