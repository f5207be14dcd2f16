"""Keys created by a key cannot outlive it: revoking it revokes them."""

from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from apikeys import authentication, services
from apikeys.models import ApiKey, AuditEvent
from projects import catalog
from tests.factories import ApiKeyFactory


def _child(parent: ApiKey, name: str, days: int = 10) -> services.CreatedKey:
    return services.api_key_create(
        project=parent.project,
        name=name,
        permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS],
        expires_at=timezone.now() + timedelta(days=days),
        created_by_key=parent,
    )


def test_revoking_a_key_revokes_every_key_it_created_and_their_children(project, admin_user):
    parent = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])
    child = _child(parent, "child")
    grandchild = _child(child.api_key, "grandchild", days=5)
    unrelated = ApiKeyFactory(project=project)

    assert services.api_key_revoke(api_key=parent, revoked_by=admin_user, ip_address="192.0.2.1")

    for created in (child, grandchild):
        assert authentication.api_key_authenticate(created.secret).error == "revoked"
    assert authentication.api_key_authenticate(unrelated.secret).ok
    revoked = AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED)
    assert sorted(revoked.values_list("api_key__name", flat=True)) == sorted([parent.name, "child", "grandchild"])
    assert set(revoked.values_list("actor_user", flat=True)) == {admin_user.pk}


def test_revoking_a_child_leaves_its_parent_working(project, admin_user):
    parent = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])
    child = _child(parent, "child")

    services.api_key_revoke(api_key=child.api_key, revoked_by=admin_user)

    assert authentication.api_key_authenticate(parent.secret).ok


def test_a_failure_in_the_middle_of_a_cascade_revokes_nothing(project, admin_user, monkeypatch):
    """The key and its offspring are revoked in one transaction: all of them, or (the database failing) none."""
    parent = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])
    child = _child(parent, "child")
    grandchild = _child(child.api_key, "grandchild", days=5)
    real_audit, calls = services._audit, []

    def audit_failing_at_the_last_descendant(*args, **kwargs):
        calls.append(args[1].name)
        if args[1].name == "grandchild":
            raise DatabaseError("disk full")
        return real_audit(*args, **kwargs)

    monkeypatch.setattr(services, "_audit", audit_failing_at_the_last_descendant)

    with pytest.raises(DatabaseError):
        services.api_key_revoke(api_key=parent, revoked_by=admin_user)

    assert calls[-1] == "grandchild"  # the parent and the child were already revoked and audited
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 0
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED).exists()
    for key in (parent, child, grandchild):
        assert authentication.api_key_authenticate(key.secret).ok
