"""Allowed addresses: validated and normalized at creation, fixed afterwards, enforced after the secret."""

import pytest
from django.urls import reverse

from apikeys import addresses, services
from apikeys.errors import ApiKeyError
from apikeys.models import ApiKey, ImmutableKeyError
from projects import catalog
from tests.factories import ApiKeyFactory
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

READ = catalog.READ_PROJECT


def call(client, secret, address="127.0.0.1", **extra):
    return client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR=address, **extra)


@pytest.fixture
def pinned(project):
    return ApiKeyFactory(project=project, name="pinned", permissions=[READ], allowed_ips=["203.0.113.0/24"])


# -- the rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (["203.0.113.7"], ["203.0.113.7"]),
        (["203.0.113.7/32"], ["203.0.113.7"]),
        (["10.0.0.0/8", " 2001:DB8::/32 "], ["10.0.0.0/8", "2001:db8::/32"]),
        (["::ffff:192.0.2.7"], ["192.0.2.7"]),  # IPv4-mapped IPv6 is the IPv4 address
        (["::ffff:192.0.2.0/120"], ["192.0.2.0/24"]),
        (["10.0.0.0/8", "10.0.0.0/8", ""], ["10.0.0.0/8"]),
        ("203.0.113.7\n2001:db8::1, 10.0.0.0/8", ["203.0.113.7", "2001:db8::1", "10.0.0.0/8"]),  # the form's text
        ([], []),
    ],
)
def test_entries_are_stored_in_one_normal_form(given, stored):
    assert addresses.clean_allowed_ips(given) == stored


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (["10.0.0.1/8"], "did you mean 10.0.0.0/8?"),
        (["999.1.1.1"], "is not an IP address or a CIDR range"),
        (["10.0.0.0/33"], "is not an IP address or a CIDR range"),
        (["fe80::1%eth0"], "is not an IP address or a CIDR range"),
        (["example.com"], "is not an IP address or a CIDR range"),
        ([f"10.0.0.{n}" for n in range(21)], "at most 20"),
        ([7], "must be a list"),
        ({"10.0.0.0/8": True}, "must be a list"),
    ],
)
def test_bad_entries_are_refused_with_a_reason(given, reason):
    with pytest.raises(ApiKeyError) as refused:
        addresses.clean_allowed_ips(given)

    assert refused.value.field == "allowed_ips" and reason in refused.value.message


def test_the_list_cannot_change_after_creation(pinned):
    with pytest.raises(ImmutableKeyError):
        ApiKey.objects.filter(pk=pinned.pk).update(allowed_ips=[])
    pinned.allowed_ips = []
    with pytest.raises(ImmutableKeyError):
        pinned.save(update_fields=["allowed_ips"])
    assert ApiKey.objects.get(pk=pinned.pk).allowed_ips == ["203.0.113.0/24"]


# -- enforcement -------------------------------------------------------------------


def test_a_pinned_key_works_from_its_network_and_is_refused_elsewhere(client, pinned):
    assert call(client, pinned.secret, "203.0.113.9").status_code == 200

    refused = call(client, pinned.secret, "198.51.100.1")

    assert refused.status_code == 403
    assert refused.json() == {
        "error": "ip_not_allowed",
        "detail": "This API key cannot be used from this address (198.51.100.1).",
    }


def test_a_refused_address_records_no_use(client, pinned):
    call(client, pinned.secret, "198.51.100.1")

    assert ApiKey.objects.get(pk=pinned.pk).last_used_at is None


def test_the_address_is_checked_only_after_the_secret(client, pinned):
    wrong = pinned.secret[:-8] + ("A" if pinned.secret[-8] != "A" else "B") + pinned.secret[-7:]
    from_elsewhere = call(client, wrong, "198.51.100.1")
    from_inside = call(client, wrong, "203.0.113.9")

    assert from_elsewhere.status_code == from_inside.status_code == 401
    assert from_elsewhere.json() == from_inside.json()


def test_a_revoked_key_is_revoked_wherever_it_is_used_from(client, admin_user, pinned):
    services.api_key_revoke(api_key=pinned, revoked_by=admin_user)

    assert call(client, pinned.secret, "198.51.100.1").json()["detail"] == "The API key has been revoked."


@pytest.mark.parametrize(
    ("allowed", "address", "status"),
    [
        (["203.0.113.9"], "::ffff:203.0.113.9", 200),  # a dual-stack socket's spelling of an IPv4 client
        (["::ffff:203.0.113.9"], "203.0.113.9", 200),
        (["2001:db8::/32"], "2001:db8::1", 200),
        (["2001:db8::/32"], "2001:db9::1", 403),
        (["203.0.113.0/24"], "2001:db8::1", 403),
        (["0.0.0.0/0"], "2001:db8::1", 403),  # all of IPv4 is not IPv6
    ],
)
def test_ipv4_and_ipv6(client, project, allowed, address, status):
    key = ApiKeyFactory(project=project, permissions=[READ], allowed_ips=allowed)

    assert call(client, key.secret, address).status_code == status


def test_refusals_count_as_failed_authentications(client, settings, pinned):
    settings.API_AUTH_FAILURE_LIMIT = 3
    answers = [call(client, pinned.secret, "198.51.100.1").status_code for _ in range(5)]

    assert answers == [403, 403, 403, 429, 429]


# -- the client's address behind proxies (TRUSTED_PROXY_COUNT) --------------------


@pytest.mark.parametrize(
    ("count", "forwarded", "status"),
    [
        # One proxy appends the client's address.
        (1, "203.0.113.9", 200),
        (1, "198.51.100.1", 403),
        # A client that writes its own X-Forwarded-For does not get through: the proxy appends the real one.
        (1, "203.0.113.9, 198.51.100.1", 403),
        # Two proxies (a CDN, then the load balancer): the second entry from the right.
        (2, "203.0.113.9, 192.0.2.50", 200),
        (2, "198.51.100.1, 192.0.2.50", 403),
        (2, "203.0.113.9, 198.51.100.1, 192.0.2.50", 403),
    ],
)
def test_behind_proxies_the_address_is_the_one_the_outermost_trusted_proxy_saw(
    client, settings, pinned, count, forwarded, status
):
    settings.TRUSTED_PROXY_COUNT = count

    assert call(client, pinned.secret, "10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded).status_code == status


def test_a_count_higher_than_the_real_proxies_lets_a_forged_header_through(client, settings, pinned):
    """Why the README says: exactly the number of proxies. One real proxy, TRUSTED_PROXY_COUNT=2."""
    forged_then_appended = "203.0.113.9, 198.51.100.1"  # the client wrote the first entry
    settings.TRUSTED_PROXY_COUNT = 1
    assert call(client, pinned.secret, "10.0.0.2", HTTP_X_FORWARDED_FOR=forged_then_appended).status_code == 403

    settings.TRUSTED_PROXY_COUNT = 2

    assert call(client, pinned.secret, "10.0.0.2", HTTP_X_FORWARDED_FOR=forged_then_appended).status_code == 200


# -- creating pinned keys ------------------------------------------------------------


def create(client, creator, **body):
    return client.post(
        f"/api/v1/projects/{creator.project.slug}/api-keys",
        {"permissions": [READ], "expires_at": creator.expires_at.isoformat(), **body},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {creator.secret}",
        REMOTE_ADDR="203.0.113.9",
    )


@pytest.fixture
def manager(project):
    return ApiKeyFactory(project=project, permissions=[catalog.CREATE_API_KEYS, READ])


def test_the_api_creates_a_pinned_key_and_shows_the_list(client, manager):
    response = create(client, manager, name="pinned", allowed_ips=["2001:DB8::/32", "203.0.113.7/32"])

    assert response.status_code == 201
    assert response.json()["allowed_ips"] == ["2001:db8::/32", "203.0.113.7"]


@pytest.mark.parametrize(
    "allowed_ips",
    [["10.0.0.1/8"], "10.0.0.0/8", [f"10.0.{n}.0/24" for n in range(21)], ["10.0.0.0/8\x00"]],
)
def test_the_api_refuses_bad_lists_with_a_400_and_creates_nothing(client, manager, allowed_ips):
    response = create(client, manager, name="bad", allowed_ips=allowed_ips)

    assert response.status_code == 400 and response.json()["error"] == "invalid_field"
    assert not ApiKey.objects.filter(name="bad").exists()


def test_a_pinned_key_creates_keys_pinned_within_its_own_list(client, project):
    parent = ApiKeyFactory(project=project, permissions=[catalog.CREATE_API_KEYS, READ], allowed_ips=["203.0.113.0/24"])

    inherited = create(client, parent, name="inherits")
    narrower = create(client, parent, name="narrower", allowed_ips=["203.0.113.7"])
    wider = create(client, parent, name="wider", allowed_ips=["203.0.0.0/16"])
    other_family = create(client, parent, name="v6", allowed_ips=["2001:db8::/32"])

    assert inherited.json()["allowed_ips"] == ["203.0.113.0/24"]
    assert narrower.json()["allowed_ips"] == ["203.0.113.7"]
    for refused in (wider, other_family):
        assert refused.status_code == 403
        assert "may only be used from 203.0.113.0/24" in refused.json()["detail"]


def test_a_roll_copies_the_list(admin_user, pinned):
    successor = services.api_key_roll(api_key=pinned, grace=services.GRACE_PERIODS[0], rolled_by=admin_user)

    assert successor.api_key.allowed_ips == ["203.0.113.0/24"]


# -- the console ---------------------------------------------------------------------


def create_in_console(client, project, allowed_ips: str):
    form = client.get(reverse("apikeys:create", args=[project.slug]))
    ticket = parse(form).find("input", name="ticket").attrs["value"]
    return client.post(
        reverse("apikeys:create", args=[project.slug]),
        {"name": "console", "permissions": [READ], "expiration": "30", "allowed_ips": allowed_ips, "ticket": ticket},
    )


def test_the_create_form_takes_one_entry_a_line_and_the_key_page_shows_them(client, admin_user, project):
    client.force_login(admin_user)

    created = create_in_console(client, project, "203.0.113.7\r\n2001:db8::/32\r\n")

    assert created.status_code == 201
    key = ApiKey.objects.get(name="console")
    assert key.allowed_ips == ["203.0.113.7", "2001:db8::/32"]
    page = client.get(reverse("apikeys:detail", args=[project.slug, key.public_id]))
    shown = parse(page).find(data_testid="allowed-ips")
    assert [code.text() for code in shown.find_all("code")] == ["203.0.113.7", "2001:db8::/32"]


def test_a_bad_entry_is_a_form_error_named_in_the_summary_and_nothing_is_created(client, admin_user, project):
    client.force_login(admin_user)

    response = create_in_console(client, project, "203.0.113.7\n<b>10.0.0.1/8</b>")

    assert response.status_code == 200
    errors = parse(response).find(id="allowed-ips-errors").text()
    assert "“<b>10.0.0.1/8</b>” is not an IP address or a CIDR range." in errors
    assert "<b>10.0.0.1/8</b>" not in response.text  # escaped
    summary = parse(response).find(class_="error-summary")
    assert summary.find("a", href="#id_allowed_ips") is not None
    assert not ApiKey.objects.filter(name="console").exists()


def test_a_key_without_a_list_is_usable_from_any_address(client, admin_user, project):
    key = ApiKeyFactory(project=project, permissions=[READ])
    client.force_login(admin_user)

    page = client.get(reverse("apikeys:detail", args=[project.slug, key.public_id]))

    assert parse(page).find(data_testid="allowed-ips").text() == "any address"
    assert call(client, key.secret, "198.51.100.1").status_code == 200
