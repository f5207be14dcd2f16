"""`manage.py clear_expired`: expired sessions and old create-form tickets go, nothing else does."""

import io
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone

from apikeys.models import ApiKey, CreationTicket
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def clear_expired() -> str:
    out = io.StringIO()
    call_command("clear_expired", stdout=out)
    return out.getvalue().strip()


def test_it_deletes_expired_sessions_and_day_old_tickets_only(admin_user, project):
    now = timezone.now()
    Session.objects.create(session_key="e" * 32, session_data="-", expire_date=now - timedelta(seconds=1))
    Session.objects.create(session_key="l" * 32, session_data="-", expire_date=now + timedelta(days=1))
    CreationTicket.objects.create(token="unused-old", user=admin_user, created_at=now - timedelta(days=1, minutes=1))
    CreationTicket.objects.create(
        token="used-old", user=admin_user, created_at=now - timedelta(days=2), used_at=now - timedelta(days=2)
    )
    CreationTicket.objects.create(token="fresh", user=admin_user, created_at=now - timedelta(hours=23))
    key = ApiKeyFactory(project=project)

    assert clear_expired() == (
        "Deleted 1 expired sessions and 2 expired create-form tickets; recorded 0 ended grace periods of rolled keys."
    )

    assert list(Session.objects.values_list("session_key", flat=True)) == ["l" * 32]
    assert list(CreationTicket.objects.values_list("token", flat=True)) == ["fresh"]
    assert list(ApiKey.objects.all()) == [key]
    assert clear_expired() == (
        "Deleted 0 expired sessions and 0 expired create-form tickets; recorded 0 ended grace periods of rolled keys."
    )


def test_a_deleted_ticket_cannot_be_used(admin_user):
    now = timezone.now()
    CreationTicket.objects.create(token="unused-old", user=admin_user, created_at=now - timedelta(days=2))
    clear_expired()

    assert not CreationTicket.objects.consume("unused-old", user=admin_user, now=now)
