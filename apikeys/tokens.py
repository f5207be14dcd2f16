"""The format of every secret we issue, and nothing else.

A key looks like ``cpk_<public id>_<secret><checksum>``:

- ``cpk`` is the recognizable prefix (``settings.API_KEY_PREFIX``), so secret
  scanners can find leaked keys with one regex (``scanner_regex()``). A
  service account's credential has the same format under its own prefix
  (``settings.SERVICE_ACCOUNT_KEY_PREFIX``, ``csa``): the prefix is the one
  thing that tells the two kinds apart (``ParsedKey.kind``);
- the public id (12 base62 characters) is the lookup id stored in clear;
- the secret is 32 random bytes (256 bits) in 43 base62 characters;
- the checksum is the CRC32 of everything before it in 6 base62 characters,
  so a mistyped or truncated key is rejected before any database query.

The database stores only ``hash_key()``: HMAC-SHA256 of the whole key under a
server-side pepper. The pepper is versioned so it can be rotated.
"""

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

from django.conf import settings

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE62 = "[0-9A-Za-z]"  # ALPHABET as a regex character class
PREFIX_LENGTHS = (2, 16)  # settings.API_KEY_PREFIX: this many letters or digits
PUBLIC_ID_LENGTH = 12
SECRET_BYTES = 32
SECRET_LENGTH = 43  # 62**43 > 2**256
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
MAX_KEY_LENGTH = 200  # anything longer is rejected before it is even looked at


API_KEY = "api_key"
CREDENTIAL = "credential"  # a service account's credential


class InvalidKey(ValueError):
    """The text is not a well-formed key of ours (wrong shape or checksum)."""


@dataclass(frozen=True)
class ParsedKey:
    raw: str
    public_id: str
    kind: str = API_KEY  # API_KEY or CREDENTIAL, by the prefix


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(ALPHABET[rest])
    if number:
        raise ValueError("number does not fit")
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _encode(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def prefix(kind: str = API_KEY) -> str:
    return settings.SERVICE_ACCOUNT_KEY_PREFIX if kind == CREDENTIAL else settings.API_KEY_PREFIX


def _kinds() -> dict[str, str]:
    """Each configured prefix and the kind it issues (settings refuse two equal prefixes)."""
    return {settings.API_KEY_PREFIX: API_KEY, settings.SERVICE_ACCOUNT_KEY_PREFIX: CREDENTIAL}


def new_public_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(PUBLIC_ID_LENGTH))


def generate(public_id: str | None = None, kind: str = API_KEY) -> ParsedKey:
    """A fresh key (or credential) with 256 bits of secret randomness."""
    public_id = public_id or new_public_id()
    secret = _encode(int.from_bytes(secrets.token_bytes(SECRET_BYTES), "big"), SECRET_LENGTH)
    body = f"{prefix(kind)}_{public_id}_{secret}"
    return ParsedKey(raw=body + _checksum(body), public_id=public_id, kind=kind)


def _pattern(key_prefix: str, escaped: bool = False) -> str:
    key_prefix = key_prefix if escaped else re.escape(key_prefix)
    return rf"{key_prefix}_{BASE62}{{{PUBLIC_ID_LENGTH}}}_{BASE62}{{{SECRET_LENGTH + CHECKSUM_LENGTH}}}"


def scanner_regex(key_prefix: str | None = None) -> str:
    """The regex secret scanners use to find leaked keys and credentials (published in the README).

    One regex for both prefixes, or for `key_prefix` alone.
    """
    prefixes = [key_prefix] if key_prefix else list(_kinds())
    return rf"\b{_pattern('(?:' + '|'.join(map(re.escape, prefixes)) + ')', escaped=True)}\b"


def redaction_regex() -> str:
    """What the log filter removes: anything that may carry a key's secret, under any prefix.

    Any prefix, so that keys of an earlier API_KEY_PREFIX do not leak either.
    No word boundaries and no upper bound, unlike `scanner_regex()`: a key
    glued to other text, or cut before its checksum, still carries the whole
    secret. Needs no settings: the log filter is imported before Django is
    set up.
    """
    shortest, longest = PREFIX_LENGTHS
    return rf"{BASE62}{{{shortest},{longest}}}_{BASE62}{{{PUBLIC_ID_LENGTH}}}_{BASE62}{{{SECRET_LENGTH},}}"


def parse(raw) -> ParsedKey:
    """Check the shape and the checksum; no database involved.

    Raises InvalidKey for anything that is not a well-formed key.
    """
    if not isinstance(raw, str) or len(raw) > MAX_KEY_LENGTH:
        raise InvalidKey("not a key")
    key_prefix, _, _ = raw.partition("_")
    kind = _kinds().get(key_prefix)
    if kind is None or not re.fullmatch(_pattern(key_prefix), raw, flags=re.ASCII):
        raise InvalidKey("not a key")
    body, checksum = raw[:-CHECKSUM_LENGTH], raw[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_checksum(body), checksum):
        raise InvalidKey("bad checksum")
    public_id = raw[len(key_prefix) + 1 : len(key_prefix) + 1 + PUBLIC_ID_LENGTH]
    return ParsedKey(raw=raw, public_id=public_id, kind=kind)


@dataclass(frozen=True)
class Issued:
    """A new key (or credential) and what the database stores of it: never the secret itself."""

    raw: str  # shown once, never stored
    public_id: str
    secret_hash: str
    pepper_version: str
    last4: str


def issue(kind: str = API_KEY) -> Issued:
    """A fresh key of `kind`, hashed under the current pepper."""
    generated = generate(kind=kind)
    pepper_version = current_pepper_version()
    return Issued(
        raw=generated.raw,
        public_id=generated.public_id,
        secret_hash=hash_key(generated.raw, pepper_version),
        pepper_version=pepper_version,
        last4=last_four(generated.raw),
    )


def current_pepper_version() -> str:
    return next(iter(settings.API_KEY_PEPPERS))


def hash_key(raw: str, pepper_version: str) -> str:
    """HMAC-SHA256 of the whole key under the given pepper, hex encoded.

    Raises KeyError if that pepper version is no longer configured.
    """
    pepper = settings.API_KEY_PEPPERS[pepper_version]
    return hmac.new(pepper.encode(), raw.encode("ascii"), hashlib.sha256).hexdigest()


def matches(raw: str, pepper_version: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    try:
        candidate = hash_key(raw, pepper_version)
    except KeyError:
        # A retired pepper: refuse after the same work as any other refusal,
        # so timing does not single out keys hashed under it.
        hmac.compare_digest(hash_key(raw, current_pepper_version()), stored_hash)
        return False
    return hmac.compare_digest(candidate, stored_hash)


def last_four(raw: str) -> str:
    return raw[-4:]


def mask(last4: str, key_prefix: str | None = None, kind: str = API_KEY) -> str:
    """How a key is displayed after creation: prefix…last 4."""
    return f"{key_prefix or prefix(kind)}_…{last4}"
