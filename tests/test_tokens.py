"""The key format: generate, parse, checksum, scanner and redaction regexes, mask, keyed hash."""

import contextlib
import hashlib
import hmac
import re
import secrets

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apikeys import authentication, tokens
from apikeys.models import ApiKey
from tests.factories import ApiKeyFactory

PEPPERS = {"v1": "first-pepper-of-the-tests", "v0": "older-pepper-of-the-tests"}


@pytest.fixture(autouse=True)
def known_settings(settings):
    settings.API_KEY_PREFIX = "cpk"
    settings.API_KEY_PEPPERS = dict(PEPPERS)


def split(raw: str) -> tuple[str, str, str, str]:
    """prefix, public id, secret, checksum."""
    key_prefix, public_id, rest = raw.split("_")
    return key_prefix, public_id, rest[: tokens.SECRET_LENGTH], rest[tokens.SECRET_LENGTH :]


def decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + tokens.ALPHABET.index(char)
    return number


# -- generate and parse ---------------------------------------------------------


def test_generated_key_parses_back_to_itself():
    generated = tokens.generate()

    parsed = tokens.parse(generated.raw)

    assert parsed == generated
    assert parsed.raw == generated.raw
    assert parsed.public_id == generated.public_id


def test_public_id_is_embedded_after_the_prefix():
    generated = tokens.generate(public_id="ABCdef012345")

    assert generated.raw.startswith("cpk_ABCdef012345_")
    assert tokens.parse(generated.raw).public_id == "ABCdef012345"


def test_fresh_public_ids_are_base62_and_distinct():
    ids = {tokens.generate().public_id for _ in range(200)}

    assert len(ids) == 200
    assert all(re.fullmatch(r"[0-9A-Za-z]{12}", public_id) for public_id in ids)


def test_secret_part_is_43_base62_characters_followed_by_a_6_character_checksum():
    raw = tokens.generate().raw
    key_prefix, public_id, secret, checksum = split(raw)

    assert key_prefix == "cpk"
    assert len(public_id) == 12
    assert re.fullmatch(r"[0-9A-Za-z]{43}", secret)
    assert re.fullmatch(r"[0-9A-Za-z]{6}", checksum)
    assert len(raw) == len("cpk_") + 12 + 1 + 43 + 6


def test_secret_part_carries_all_256_bits(monkeypatch):
    # 43 base62 characters hold 256 bits (62**43 > 2**256). The extremes of 32
    # random bytes must come out intact, so no bit is dropped or folded.
    assert 62**tokens.SECRET_LENGTH >= 2**256 > 62 ** (tokens.SECRET_LENGTH - 1)
    requested = []

    def fake_token_bytes(n):
        requested.append(n)
        return fake_token_bytes.value

    monkeypatch.setattr(tokens.secrets, "token_bytes", fake_token_bytes)
    for value in (b"\xff" * 32, b"\x00" * 32, bytes(range(32)), b"\x80" + b"\x00" * 31):
        fake_token_bytes.value = value
        secret = split(tokens.generate().raw)[2]
        assert decode(secret) == int.from_bytes(value, "big")
    assert requested == [32] * 4


def test_secrets_of_fresh_keys_differ():
    secrets_seen = {split(tokens.generate().raw)[2] for _ in range(200)}

    assert len(secrets_seen) == 200


def test_every_single_character_substitution_is_rejected():
    raw = tokens.generate().raw
    tried = 0
    for position, original in enumerate(raw):
        for replacement in tokens.ALPHABET:
            if replacement == original:
                continue
            mistyped = raw[:position] + replacement + raw[position + 1 :]
            with pytest.raises(tokens.InvalidKey):
                tokens.parse(mistyped)
            tried += 1
    assert tried == len(raw) * 61 + raw.count("_")


def test_swapping_two_adjacent_characters_is_rejected():
    raw = tokens.generate().raw
    for position in range(len(raw) - 1):
        swapped = raw[:position] + raw[position + 1] + raw[position] + raw[position + 2 :]
        if swapped == raw:
            continue
        with pytest.raises(tokens.InvalidKey):
            tokens.parse(swapped)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda raw: "xyz" + raw[3:], id="wrong-prefix"),
        pytest.param(lambda raw: "CPK" + raw[3:], id="prefix-in-other-case"),
        pytest.param(lambda raw: raw[:-1], id="truncated-by-one"),
        pytest.param(lambda raw: raw[:20], id="truncated"),
        pytest.param(lambda raw: raw + "0", id="one-character-too-long"),
        pytest.param(lambda raw: raw + "0" * 300, id="far-too-long"),
        pytest.param(lambda raw: raw + "\n", id="trailing-newline"),
        pytest.param(lambda raw: " " + raw, id="leading-space"),
        pytest.param(lambda raw: "Bearer " + raw, id="with-scheme"),
        pytest.param(lambda raw: raw.replace("_", "-"), id="other-separator"),
        pytest.param(lambda raw: raw[:-7] + "é" + raw[-6:], id="non-ascii-letter"),
        pytest.param(lambda raw: raw[:-7] + "٣" + raw[-6:], id="non-ascii-digit"),
        pytest.param(lambda raw: raw[:-7] + "Ａ" + raw[-6:], id="fullwidth-letter"),
        pytest.param(lambda raw: "", id="empty"),
    ],
)
def test_malformed_text_is_invalid(mangle):
    raw = tokens.generate().raw

    with pytest.raises(tokens.InvalidKey):
        tokens.parse(mangle(raw))


@pytest.mark.parametrize("value", [None, 42, b"cpk_", ["cpk"], object()], ids=repr)
def test_non_str_input_is_invalid(value):
    with pytest.raises(tokens.InvalidKey):
        tokens.parse(value)


def test_bytes_of_a_valid_key_are_invalid():
    raw = tokens.generate().raw

    with pytest.raises(tokens.InvalidKey):
        tokens.parse(raw.encode())


def test_key_of_another_prefix_is_invalid(settings):
    settings.API_KEY_PREFIX = "old"
    old_key = tokens.generate().raw
    settings.API_KEY_PREFIX = "cpk"

    with pytest.raises(tokens.InvalidKey):
        tokens.parse(old_key)


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_parse_of_arbitrary_text_raises_only_invalid_key(text):
    with contextlib.suppress(tokens.InvalidKey):
        tokens.parse(text)


# -- scanner regex ----------------------------------------------------------------


def test_scanner_regex_matches_generated_keys():
    pattern = re.compile(tokens.scanner_regex())
    for _ in range(50):
        raw = tokens.generate().raw
        assert pattern.fullmatch(raw)
        leaked = f'export TOKEN="{raw}"\nAuthorization: Bearer {raw}\n'
        assert pattern.findall(leaked) == [raw, raw]


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "cpk_",
        "cpk_tooShort_abc",
        secrets.token_urlsafe(64),
        "".join(secrets.choice(tokens.ALPHABET) for _ in range(66)),
        "abc_" + "A" * 12 + "_" + "b" * 49,
        "cpk_" + "A" * 11 + "_" + "b" * 49,
        "cpk_" + "A" * 12 + "_" + "b" * 48,
        "xcpk_" + "A" * 12 + "_" + "b" * 49 + "_",
        "550e8400-e29b-41d4-a716-446655440000",
    ],
)
def test_scanner_regex_does_not_match_other_text(text):
    assert re.search(tokens.scanner_regex(), text) is None


def test_scanner_regex_follows_the_prefix(settings):
    settings.API_KEY_PREFIX = "acme"
    raw = tokens.generate().raw

    assert raw.startswith("acme_")
    assert re.fullmatch(tokens.scanner_regex(), raw)
    assert not re.search(tokens.scanner_regex("cpk"), raw)


# -- redaction regex (the log filter's) -------------------------------------------


@pytest.mark.parametrize("key_prefix", ["cpk", "ab", "Z9", "x" * 16])
def test_redaction_regex_finds_every_prefix_and_cut_or_glued_keys(settings, key_prefix):
    settings.API_KEY_PREFIX = key_prefix
    raw = tokens.generate().raw
    secret = split(raw)[2]

    for text in (raw, raw[: -tokens.CHECKSUM_LENGTH], f"{raw}x", f"x{raw}y", f"{'a' * 20}{raw}"):
        found = re.search(tokens.redaction_regex(), text)
        assert found and secret in found.group(), text
    assert re.search(tokens.redaction_regex(), raw[: -tokens.CHECKSUM_LENGTH - 1]) is None  # no whole secret left
    assert re.fullmatch(tokens.scanner_regex(), raw)  # scanners find a subset of it


def test_redaction_regex_reads_no_setting(monkeypatch):
    """The log filter builds it before Django is set up (gunicorn's config imports it first)."""

    class Unconfigured:
        def __getattr__(self, name):
            raise AssertionError(f"settings.{name} was read")

    monkeypatch.setattr(tokens, "settings", Unconfigured())

    assert re.search(tokens.redaction_regex(), "cpk_" + "A" * 12 + "_" + "b" * 49)


# -- mask ---------------------------------------------------------------------------


def test_mask_is_prefix_ellipsis_and_last_four():
    raw = tokens.generate().raw

    masked = tokens.mask(tokens.last_four(raw))

    assert masked == f"cpk_…{raw[-4:]}"
    assert raw[4:-4] not in masked


@pytest.mark.django_db
def test_stored_key_displays_masked():
    key = ApiKeyFactory()

    assert key.masked == f"cpk_…{key.secret[-4:]}"
    assert key.last4 == key.secret[-4:]
    assert key.secret not in str(key)


# -- keyed hash and pepper rotation --------------------------------------------------


def test_hash_is_hmac_sha256_hex():
    raw = tokens.generate().raw

    digest = tokens.hash_key(raw, "v1")

    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == tokens.hash_key(raw, "v1")
    assert raw not in digest


def test_hash_differs_per_pepper_version():
    raw = tokens.generate().raw

    assert tokens.hash_key(raw, "v1") != tokens.hash_key(raw, "v0")


def test_hash_differs_per_key():
    assert tokens.hash_key(tokens.generate().raw, "v1") != tokens.hash_key(tokens.generate().raw, "v1")


def test_hash_of_an_unknown_pepper_version_raises_key_error():
    with pytest.raises(KeyError):
        tokens.hash_key(tokens.generate().raw, "v9")


def test_matches_accepts_the_right_key_only():
    raw, other = tokens.generate().raw, tokens.generate().raw
    stored = tokens.hash_key(raw, "v1")

    assert tokens.matches(raw, "v1", stored)
    assert not tokens.matches(other, "v1", stored)
    assert not tokens.matches(raw, "v0", stored)


def test_matches_is_false_for_an_unknown_pepper_version():
    raw = tokens.generate().raw
    stored = tokens.hash_key(raw, "v1")

    assert not tokens.matches(raw, "v9", stored)


def test_current_pepper_version_is_the_first_configured(settings):
    assert tokens.current_pepper_version() == "v1"

    settings.API_KEY_PEPPERS = {"v2": "the-new-pepper-of-the-tests", **PEPPERS}

    assert tokens.current_pepper_version() == "v2"


@pytest.mark.django_db
def test_the_stored_hash_is_keyed_by_the_peppers_secret(settings):
    """The database alone cannot verify a key: its row holds HMAC-SHA256 under the pepper's secret.

    An unkeyed hash (SHA-256 of the key, even with the pepper's version mixed in)
    fails here: the row would equal it, and would still verify the key once the
    pepper's secret is replaced under the same version.
    """
    key = ApiKeyFactory()
    stored = ApiKey.objects.get(pk=key.pk).secret_hash

    assert stored == hmac.new(PEPPERS["v1"].encode(), key.secret.encode(), hashlib.sha256).hexdigest()
    assert stored != hashlib.sha256(key.secret.encode()).hexdigest()
    assert authentication.api_key_authenticate(key.secret).api_key == key

    settings.API_KEY_PEPPERS = {"v1": "another-secret-under-the-same-version", "v0": PEPPERS["v0"]}

    assert authentication.api_key_authenticate(key.secret).error == "invalid"


@pytest.mark.django_db
def test_key_keeps_verifying_after_pepper_rotation(settings):
    old_key = ApiKeyFactory()
    assert old_key.pepper_version == "v1"

    settings.API_KEY_PEPPERS = {"v2": "the-new-pepper-of-the-tests", **PEPPERS}
    new_key = ApiKeyFactory()

    assert new_key.pepper_version == "v2"
    assert new_key.secret_hash == tokens.hash_key(new_key.secret, "v2")
    assert authentication.api_key_authenticate(old_key.secret).api_key == old_key
    assert authentication.api_key_authenticate(new_key.secret).api_key == new_key


@pytest.mark.django_db
def test_key_stops_verifying_once_its_pepper_is_retired(settings):
    old_key = ApiKeyFactory()

    settings.API_KEY_PEPPERS = {"v2": "the-new-pepper-of-the-tests"}

    assert authentication.api_key_authenticate(old_key.secret).error == "invalid"


def test_a_retired_pepper_costs_the_same_hmac_as_any_refusal(settings, monkeypatch):
    settings.API_KEY_PEPPERS = {"v2": "the-new-pepper-of-the-tests"}
    hashed = []
    real = tokens.hash_key
    monkeypatch.setattr(tokens, "hash_key", lambda raw, version: hashed.append(version) or real(raw, version))

    assert tokens.matches(tokens.generate().raw, "v1", "0" * 64) is False
    assert hashed == ["v1", "v2"]  # the retired version is tried, then the same HMAC as for an unknown id
