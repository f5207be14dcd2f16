"""Properties of the key format (apikeys/tokens.py), checked with hypothesis.

The README's "API keys": a recognizable prefix, an embedded public id, 256
bits of secret and a checksum, so that secret scanners match a key with one
published regex ("Secret scanning") and a mistyped key is refused before any
database query. These tests hold the format to that for keys, prefixes and
typos hypothesis picks, not only for the handful of examples in test_tokens.py.

No database: tokens.py must not need one.
"""

import re
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apikeys import tokens

# The `settings` fixture is function-scoped and shared by all examples of a
# test; every example sets what it needs, so sharing it is safe.
properties = hypothesis_settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

prefixes = st.from_regex(r"[a-z0-9]{2,16}", fullmatch=True)
public_ids = st.text(alphabet=tokens.ALPHABET, min_size=tokens.PUBLIC_ID_LENGTH, max_size=tokens.PUBLIC_ID_LENGTH)
# Every secret a key can have, including the extremes (all zero bits, all one bits).
secret_bytes = st.binary(min_size=tokens.SECRET_BYTES, max_size=tokens.SECRET_BYTES)


@st.composite
def generated_keys(draw) -> tokens.ParsedKey:
    """A key made by tokens.generate() from randomness hypothesis chose (so it can shrink and replay)."""
    public_id = draw(public_ids)
    randomness = draw(secret_bytes)
    with mock.patch.object(tokens.secrets, "token_bytes", return_value=randomness) as token_bytes:
        key = tokens.generate(public_id=public_id)
    token_bytes.assert_called_once_with(tokens.SECRET_BYTES)
    return key


@pytest.fixture(autouse=True)
def default_prefix(settings):
    settings.API_KEY_PREFIX = "cpk"


SECRET_AND_CHECKSUM = tokens.SECRET_LENGTH + tokens.CHECKSUM_LENGTH
# The scanner regex without its word boundaries: the shape of a whole key.
KEY_SHAPE = tokens.scanner_regex("cpk").removeprefix(r"\b").removesuffix(r"\b")


def key_length(key_prefix: str) -> int:
    return len(key_prefix) + 1 + tokens.PUBLIC_ID_LENGTH + 1 + tokens.SECRET_LENGTH + tokens.CHECKSUM_LENGTH


# -- generate and parse ------------------------------------------------------------


@properties
@given(key_prefix=prefixes, key=st.data())
def test_generated_key_parses_back_with_its_public_id(settings, key_prefix, key):
    settings.API_KEY_PREFIX = key_prefix
    generated = key.draw(generated_keys())

    parsed = tokens.parse(generated.raw)

    assert parsed.raw == generated.raw
    assert parsed.public_id == generated.public_id
    assert generated.raw.startswith(f"{key_prefix}_{generated.public_id}_")
    assert len(generated.raw) == key_length(key_prefix)
    assert generated.raw.isascii()


@properties
@given(randomness=secret_bytes)
@example(randomness=bytes(tokens.SECRET_BYTES))
@example(randomness=b"\xff" * tokens.SECRET_BYTES)
def test_secret_part_encodes_all_256_bits(randomness):
    with mock.patch.object(tokens.secrets, "token_bytes", return_value=randomness):
        raw = tokens.generate(public_id="A" * tokens.PUBLIC_ID_LENGTH).raw

    secret = raw.split("_")[2][: tokens.SECRET_LENGTH]
    number = 0
    for char in secret:
        number = number * 62 + tokens.ALPHABET.index(char)
    # Injective: two different secrets never give the same key.
    assert number == int.from_bytes(randomness, "big")


# -- typos are rejected before any database query ---------------------------------------


@properties
@given(
    key=generated_keys(),
    position=st.integers(min_value=0),
    replacement=st.one_of(st.sampled_from(tokens.ALPHABET), st.characters(), st.sampled_from("_-. \x00")),
)
def test_every_single_character_change_is_rejected(key, position, replacement):
    raw = key.raw
    position %= len(raw)
    assume(replacement != raw[position])
    mistyped = raw[:position] + replacement + raw[position + 1 :]

    with pytest.raises(tokens.InvalidKey):
        tokens.parse(mistyped)


@pytest.mark.parametrize("public_id", ["000000000000", "zzzzzzzzzzzz", "Ab3dE6gH9jK0"])
def test_every_single_character_change_is_rejected_exhaustively(public_id):
    """All positions times all 62 characters (and the separator), for a few keys."""
    raw = tokens.generate(public_id=public_id).raw
    accepted = []
    for position, original in enumerate(raw):
        for replacement in tokens.ALPHABET + "_":
            if replacement == original:
                continue
            mistyped = raw[:position] + replacement + raw[position + 1 :]
            try:
                tokens.parse(mistyped)
            except tokens.InvalidKey:
                continue
            accepted.append(mistyped)
    assert accepted == []


@properties
@given(key=generated_keys(), position=st.integers(min_value=0))
def test_swapping_two_neighbouring_characters_is_rejected(key, position):
    raw = key.raw
    position %= len(raw) - 1
    assume(raw[position] != raw[position + 1])
    swapped = raw[:position] + raw[position + 1] + raw[position] + raw[position + 2 :]

    with pytest.raises(tokens.InvalidKey):
        tokens.parse(swapped)


@properties
@given(key=generated_keys(), position=st.integers(min_value=0), extra=st.characters())
def test_a_dropped_or_doubled_character_is_rejected(key, position, extra):
    raw = key.raw
    position %= len(raw)
    dropped = raw[:position] + raw[position + 1 :]
    inserted = raw[:position] + extra + raw[position:]

    with pytest.raises(tokens.InvalidKey):
        tokens.parse(dropped)
    with pytest.raises(tokens.InvalidKey):
        tokens.parse(inserted)


@properties
@given(key=generated_keys(), cut=st.integers(min_value=1))
def test_truncated_key_and_key_with_whitespace_are_rejected(key, cut):
    raw = key.raw
    cut = cut % len(raw) or 1
    with pytest.raises(tokens.InvalidKey):
        tokens.parse(raw[: len(raw) - cut])
    for padded in (f" {raw}", f"{raw}\n", f"{raw} ", f"\t{raw}"):
        with pytest.raises(tokens.InvalidKey):
            tokens.parse(padded)


# -- parse never raises anything but InvalidKey -------------------------------------------


def parses_or_refuses(value) -> None:
    try:
        parsed = tokens.parse(value)
    except tokens.InvalidKey:
        return
    # Whatever is accepted has the shape and checksum of a key.
    assert isinstance(parsed, tokens.ParsedKey)
    assert parsed.raw == value
    assert re.fullmatch(KEY_SHAPE, value, flags=re.ASCII)


@properties
@given(text=st.text())
@example(text="")
@example(text="cpk_")
@example(text="cpk_" + "A" * 200)
@example(text="cpk_" + "\u0660" * 12 + "_" + "\u0661" * 49)  # Arabic-Indic digits are \d in Unicode regexes
@example(text="cpk_" + "\uff21" * 12 + "_" + "\uff22" * 49)  # fullwidth letters
def test_parse_of_arbitrary_text_raises_only_invalid_key(text):
    parses_or_refuses(text)


@properties
@given(text=st.text(st.characters(codec=None, exclude_categories=()), max_size=120))
def test_parse_of_text_with_lone_surrogates_raises_only_invalid_key(text):
    parses_or_refuses(text)


@properties
@given(
    text=st.builds(
        "cpk_{}_{}".format,
        public_ids,
        st.text(alphabet=tokens.ALPHABET, min_size=SECRET_AND_CHECKSUM, max_size=SECRET_AND_CHECKSUM),
    )
)
def test_parse_of_key_shaped_text_checks_the_checksum_and_raises_only_invalid_key(text):
    # Right shape, random checksum: this exercises the checksum comparison,
    # which arbitrary text almost never reaches.
    parses_or_refuses(text)


@hypothesis_settings(properties, max_examples=50)
@given(text=st.text(min_size=tokens.MAX_KEY_LENGTH + 1, max_size=1000))
def test_parse_of_overlong_text_raises_only_invalid_key(text):
    with pytest.raises(tokens.InvalidKey):
        tokens.parse(text)


@properties
@given(
    value=st.one_of(
        st.binary(),
        st.binary().map(bytearray),
        st.integers(),
        st.floats(),
        st.none(),
        st.booleans(),
        st.lists(st.text(), max_size=3),
        st.dictionaries(st.text(), st.text(), max_size=3),
        st.builds(object),
    )
)
def test_parse_of_bytes_and_other_non_text_raises_only_invalid_key(value):
    with pytest.raises(tokens.InvalidKey):
        tokens.parse(value)


@properties
@given(key=generated_keys())
def test_key_as_bytes_is_not_a_key(key):
    # A caller who forgot to decode must be told, not served.
    with pytest.raises(tokens.InvalidKey):
        tokens.parse(key.raw.encode("ascii"))


# -- the published scanner regex ---------------------------------------------------------


@properties
@given(key_prefix=prefixes, data=st.data())
def test_scanner_regex_matches_every_generated_key_for_any_prefix(settings, key_prefix, data):
    settings.API_KEY_PREFIX = key_prefix
    raw = data.draw(generated_keys()).raw
    pattern = re.compile(tokens.scanner_regex())

    assert pattern.fullmatch(raw)
    assert re.compile(tokens.scanner_regex(key_prefix)).fullmatch(raw)
    leaked = f'export API_KEY="{raw}"\ncurl -H "Authorization: Bearer {raw}" https://api.example/\n{{"key": "{raw}"}}'
    assert pattern.findall(leaked) == [raw, raw, raw]


@hypothesis_settings(properties, max_examples=100)
@given(key_prefix=prefixes, other_prefix=prefixes, data=st.data())
def test_scanner_regex_of_one_prefix_does_not_match_keys_of_another(settings, key_prefix, other_prefix, data):
    assume(key_prefix != other_prefix)
    # A key under the credentials' prefix is a credential (test_service_accounts.py), not a key of no kind.
    assume(other_prefix != settings.SERVICE_ACCOUNT_KEY_PREFIX)
    settings.API_KEY_PREFIX = other_prefix
    raw = data.draw(generated_keys()).raw

    assert not re.search(tokens.scanner_regex(key_prefix), raw)
    settings.API_KEY_PREFIX = key_prefix
    with pytest.raises(tokens.InvalidKey):
        tokens.parse(raw)


@properties
@given(data=st.data())
def test_mask_shows_only_the_prefix_and_last_four(data):
    raw = data.draw(generated_keys()).raw
    masked = tokens.mask(tokens.last_four(raw))

    assert masked == f"cpk_…{raw[-4:]}"
    assert not re.search(tokens.scanner_regex(), masked)
