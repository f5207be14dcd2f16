"""Bring expiry dates at the end of the calendar back to where every time zone can show them.

Before the 100-year bound, a key could be created expiring on 9999-12-31;
shown in a time zone east of UTC that is year 10000, which no datetime
holds, so every page listing the key failed. Such keys keep an expiry far
beyond any real use: 9999-01-01 UTC renders in every zone.
"""

from datetime import UTC, datetime

from django.db import migrations

RENDERABLE_LIMIT = datetime(9999, 1, 1, tzinfo=UTC)


def bound_expiry(apps, schema_editor):
    ApiKey = apps.get_model("apikeys", "ApiKey")
    ApiKey.objects.filter(expires_at__gt=RENDERABLE_LIMIT).update(expires_at=RENDERABLE_LIMIT)


class Migration(migrations.Migration):
    dependencies = [("apikeys", "0001_initial")]

    operations = [migrations.RunPython(bound_expiry, migrations.RunPython.noop)]
