"""Failed API authentications are rate limited per client address.

See the README, "Using a key", and API_AUTH_FAILURE_* under "Settings".
"""

import time

import pytest
import redis
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from apikeys import tokens
from config import ratelimit
from projects import catalog
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

LIMIT = 3
WHOAMI = "/api/v1/whoami"


@pytest.fixture(autouse=True)
def low_limit(settings):
    settings.API_AUTH_FAILURE_LIMIT = LIMIT
    settings.API_AUTH_FAILURE_WINDOW_SECONDS = 60
    settings.TRUSTED_PROXY_COUNT = 0


@pytest.fixture
def key(project):
    return ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT])


def counter(ip: str) -> str:
    """The cache key under which the API counts an address's failures."""
    return ratelimit._api_failure_key(ip)


def fail(client, **extra):
    return client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {tokens.generate().raw}", **extra)


def exhaust(client, **extra):
    for _ in range(LIMIT):
        assert fail(client, **extra).status_code == 401


def assert_rate_limited(response):
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "rate_limited"
    assert int(response["Retry-After"]) == 60


def test_failures_past_the_limit_get_429_with_retry_after(client, project):
    exhaust(client)

    assert_rate_limited(fail(client))
    # And it stays that way within the window, whatever the failure.
    assert_rate_limited(client.get(WHOAMI))
    assert_rate_limited(client.get(WHOAMI, HTTP_AUTHORIZATION="Basic eA=="))


def test_the_limit_is_not_reached_one_failure_early(client, project):
    for _ in range(LIMIT):
        assert fail(client).status_code == 401
    assert cache.get(counter("127.0.0.1")) == LIMIT


@pytest.mark.parametrize(
    "guess",
    [
        pytest.param(lambda client, key: fail(client), id="unknown key"),
        pytest.param(
            lambda client, key: client.get(
                WHOAMI, HTTP_AUTHORIZATION=f"Bearer {tokens.generate(public_id=key.public_id).raw}"
            ),
            id="another secret for a real id",
        ),
    ],
)
def test_every_guess_counts(client, key, guess):
    for _ in range(LIMIT):
        assert guess(client, key).status_code == 401

    assert_rate_limited(guess(client, key))


NOT_A_KEY = [
    pytest.param(lambda client: client.get(WHOAMI), id="no header"),
    pytest.param(lambda client: client.get(WHOAMI, HTTP_AUTHORIZATION="Bearer"), id="bearer alone"),
    pytest.param(lambda client: client.get(WHOAMI, HTTP_AUTHORIZATION="Basic eA=="), id="another scheme"),
    pytest.param(lambda client: client.get(WHOAMI, HTTP_AUTHORIZATION="Bearer cpk_nonsense"), id="malformed key"),
    pytest.param(lambda client: client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {bad_checksum()}"), id="bad checksum"),
    pytest.param(
        lambda client: client.post("/api/v1/projects/demo/api-keys", "{}", content_type="application/json"),
        id="create without a key",
    ),
]


def bad_checksum() -> str:
    raw = tokens.generate().raw
    return raw[:-1] + ("A" if raw[-1] != "A" else "B")


@pytest.mark.parametrize("attempt", NOT_A_KEY)
def test_a_request_without_a_well_formed_key_is_refused_without_counting(
    client, project, attempt, django_assert_num_queries
):
    # It costs no lookup and cannot be a guess: refused for less than /healthz costs.
    with django_assert_num_queries(0):
        for _ in range(LIMIT + 2):
            assert attempt(client).status_code == 401

    assert cache.get(counter("127.0.0.1")) is None


@pytest.mark.parametrize("attempt", NOT_A_KEY)
def test_an_address_over_the_limit_gets_429_whatever_it_sends(client, project, attempt):
    exhaust(client)
    assert_rate_limited(fail(client))

    assert_rate_limited(attempt(client))


def test_the_rate_limit_applies_to_every_endpoint(client, project):
    exhaust(client)
    assert_rate_limited(fail(client))

    for method, url in [
        ("get", "/api/v1/projects/demo"),
        ("get", "/api/v1/projects/demo/api-keys"),
        ("post", "/api/v1/projects/demo/api-keys"),
        ("post", "/api/v1/projects/demo/api-keys/abc/revoke"),
    ]:
        assert_rate_limited(getattr(client, method)(url, HTTP_AUTHORIZATION="Bearer x"))


def test_another_address_is_unaffected(client, project):
    exhaust(client, REMOTE_ADDR="198.51.100.1")
    assert_rate_limited(fail(client, REMOTE_ADDR="198.51.100.1"))

    assert fail(client, REMOTE_ADDR="198.51.100.2").status_code == 401
    assert cache.get(counter("198.51.100.2")) == 1


def test_a_valid_key_is_never_counted(client, key, django_assert_num_queries):
    for _ in range(LIMIT + 2):
        assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {key.secret}").status_code == 200
    with django_assert_num_queries(1):  # the key lookup; last_used_at is fresh
        assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {key.secret}").status_code == 200

    assert cache.get(counter("127.0.0.1")) is None
    # The counter exists as soon as one request fails, so the check above can fail.
    fail(client)
    assert cache.get(counter("127.0.0.1")) == 1


def test_valid_requests_do_not_reset_or_raise_the_count(client, key):
    fail(client)
    fail(client)
    client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {key.secret}")

    assert cache.get(counter("127.0.0.1")) == 2


def test_an_address_over_the_limit_is_refused_before_any_lookup(client, key, django_assert_num_queries, monkeypatch):
    """Past the limit a request costs neither a query nor a hash, whatever key it carries."""
    exhaust(client)
    assert_rate_limited(fail(client))
    hashed = []
    monkeypatch.setattr(tokens, "hash_key", lambda *args: hashed.append(args))

    with django_assert_num_queries(0):
        response = client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {key.secret}")

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert hashed == []


def test_a_refused_address_costs_no_cache_round_trip(client, key, monkeypatch):
    exhaust(client)
    assert_rate_limited(fail(client))

    def cache_down(*args, **kwargs):
        raise AssertionError("the cache was asked")

    monkeypatch.setattr(cache, "get", cache_down)
    monkeypatch.setattr(cache, "get_many", cache_down)
    monkeypatch.setattr(cache, "incr", cache_down)
    monkeypatch.setattr(cache, "add", cache_down)

    assert fail(client).status_code == 429
    # Another address with a valid key: nothing asks the cache either.
    assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {key.secret}", REMOTE_ADDR="198.51.100.9").status_code == 200


def test_another_process_learns_the_limit_from_the_shared_counter(client, project):
    exhaust(client)
    assert_rate_limited(fail(client))
    ratelimit._api_tripped.clear()  # a process that has not seen this address yet

    assert_rate_limited(fail(client))
    assert "127.0.0.1" in ratelimit._api_tripped


def test_the_remembered_addresses_are_bounded(monkeypatch, settings):
    monkeypatch.setattr(ratelimit, "MAX_TRIPPED_ADDRESSES", 3)
    for number in range(10):
        ratelimit._remember_api_tripped(f"198.51.100.{number}")

    assert len(ratelimit._api_tripped) == 3
    assert "198.51.100.9" in ratelimit._api_tripped


def test_a_failed_permission_check_is_not_an_authentication_failure(client, key):
    for _ in range(LIMIT + 1):
        assert (
            client.get("/api/v1/projects/demo/api-keys", HTTP_AUTHORIZATION=f"Bearer {key.secret}").status_code == 403
        )

    assert cache.get(counter("127.0.0.1")) is None


@pytest.mark.slow  # sleeps past a window
def test_the_window_ends(client, project, settings):
    settings.API_AUTH_FAILURE_WINDOW_SECONDS = 1
    exhaust(client)
    assert fail(client).status_code == 429

    time.sleep(1.5)

    assert fail(client).status_code == 401


# -- which address is the client's ------------------------------------------------


def test_behind_one_trusted_proxy_the_last_forwarded_entry_is_the_client(client, project, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy's own address varies; what it appended is the client. Entries
    # left of it are whatever the client claimed and are ignored.
    for number in range(LIMIT):
        response = fail(
            client, REMOTE_ADDR=f"10.0.0.{number + 1}", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, 203.0.113.7"
        )
        assert response.status_code == 401

    assert_rate_limited(fail(client, REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7"))
    assert cache.get(counter("203.0.113.7")) == LIMIT + 1
    assert cache.get(counter("10.0.0.1")) is None
    assert cache.get(counter("192.0.2.0")) is None
    # Another client behind the same proxy is unaffected.
    assert fail(client, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 401


def test_a_client_cannot_escape_the_limit_by_forging_forwarded_for_behind_a_proxy(client, project, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    exhaust(client, HTTP_X_FORWARDED_FOR="203.0.113.7")

    # The client prepends made-up entries; the proxy still appends the real address.
    assert_rate_limited(fail(client, HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2, 203.0.113.7"))


def test_without_trusted_proxies_forwarded_for_is_ignored(client, project, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for number in range(LIMIT):
        assert fail(client, REMOTE_ADDR="198.51.100.5", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}").status_code == 401

    assert_rate_limited(fail(client, REMOTE_ADDR="198.51.100.5", HTTP_X_FORWARDED_FOR="192.0.2.200"))
    assert cache.get(counter("198.51.100.5")) == LIMIT + 1
    assert cache.get(counter("192.0.2.0")) is None
    assert cache.get(counter("192.0.2.200")) is None


@pytest.mark.parametrize(
    ("forwarded", "client_address"),
    [
        ("2001:db8::1%" + "a" * 300, "2001:db8::1"),  # a zone id: not storable in inet, and one bucket per zone
        ("2001:db8::1%1", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: the same client as 203.0.113.7
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ],
)
def test_every_spelling_of_an_address_is_one_client(client, project, settings, forwarded, client_address):
    settings.TRUSTED_PROXY_COUNT = 1
    exhaust(client, HTTP_X_FORWARDED_FOR=forwarded)

    assert_rate_limited(fail(client, HTTP_X_FORWARDED_FOR=client_address))
    assert cache.get(counter(client_address)) == LIMIT + 1


def test_a_zone_id_in_forwarded_for_is_stored_without_it(client, project, settings):
    """A long zone id reached PostgreSQL's inet column: a 503 that no retry could fix."""
    from apikeys.models import AuditEvent

    settings.TRUSTED_PROXY_COUNT = 1
    parent = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS])

    response = client.post(
        "/api/v1/projects/demo/api-keys",
        {"name": "zoned", "permissions": [catalog.READ_PROJECT], "expires_at": parent.expires_at.isoformat()},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {parent.secret}",
        HTTP_X_FORWARDED_FOR="2001:db8::1%" + "a" * 300,
    )

    assert response.status_code == 201, response.content
    assert AuditEvent.objects.get(api_key__name="zoned").ip_address == "2001:db8::1"


# -- the counter in Redis ----------------------------------------------------------------


redis_only = pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the one-round-trip counter is Redis's (REDIS_URL)"
)


@redis_only
def test_a_failure_costs_one_redis_round_trip_and_its_window_expires(client, monkeypatch):
    sends = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sends.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)

    assert fail(client).status_code == 401
    assert fail(client).status_code == 401

    assert len(sends) == 2  # one per refused request: create-with-expiry and increment together
    monkeypatch.undo()
    backend = caches["default"]
    redis_key = backend.make_and_validate_key(counter("127.0.0.1"))
    client_ = backend._cache.get_client(redis_key)
    assert cache.get(counter("127.0.0.1")) == 2
    assert 0 < client_.ttl(redis_key) <= 60


@redis_only
def test_refused_calls_reuse_one_redis_client(client, monkeypatch):
    # Django's own RedisCache built a redis.Redis per cache call: an eighth of a refusal's cost.
    built = []
    original = redis.Redis.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)

    for _ in range(3):
        assert fail(client).status_code == 401
    assert cache.get(counter("127.0.0.1")) == 3

    assert len(built) <= 1  # at most the first use in this thread builds it
