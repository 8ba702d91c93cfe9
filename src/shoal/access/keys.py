"""API keys: the token format, hashing, and ``KeyService`` (create, list, revoke, authenticate).

A token is ``shoal_<key id>_<secret>``: the id (16 hex digits) finds the row, the secret (32
random bytes, URL-safe base64) proves possession. Only the SHA-256 of the secret is stored and
the token is shown once, at creation.

``authenticate`` is served from an in-process cache of verified keys: a hit costs one SHA-256
of 43 bytes and a dict lookup (microseconds), never a database round trip. Entries live
``ttl_s`` (2 s by default), so a revocation made by any process is refused everywhere within
that time; unknown and revoked ids are cached too, so garbage tokens cannot hammer the database.
``AccessService`` keeps what a whole token was granted on top of this (``generation`` tells it
when a key changed).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shoal.access.cache import Timer, TtlCache
from shoal.access.records import ApiKey, Principal, Scope, StoredKey
from shoal.access.store import KeyStore, TenantDirectory, key_missing
from shoal.errors import AuthenticationError, NotFoundError, ValidationError
from shoal.registry.names import check_name
from shoal.registry.pages import check_page
from shoal.registry.records import Page, PageRequest

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "shoal_"  # noqa: S105 (the public part of every token, not a secret)
SECRET_BYTES = 32
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_TOKEN = re.compile(r"shoal_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_FORMAT = "shoal_<16 hex digits>_<43 characters of A-Z a-z 0-9 _ ->"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest of a key's secret.

    A fast hash is right here, unlike for passwords: the secret is 256 random bits, so there is
    no dictionary to try and a slow hash (bcrypt, scrypt) would buy nothing but a slow hot path.
    """
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh (key id, secret, token)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return key_id, secret, f"{TOKEN_PREFIX}{key_id}_{secret}"


def parse_token(token: str) -> tuple[str, str]:
    """(key id, secret) of a well-formed token; ``AuthenticationError`` saying what is wrong.

    The message never repeats the token: it may be a real secret pasted in the wrong place.
    """
    if not isinstance(token, str) or not token:
        raise AuthenticationError("no API key given: expected " + _FORMAT)
    match = _TOKEN.fullmatch(token)
    if match is None:
        key_id, _, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
        if not token.startswith(TOKEN_PREFIX):
            reason = f"it does not start with {TOKEN_PREFIX!r}"
        elif token != token.strip():
            reason = "it has white space around it"
        elif not _KEY_ID.fullmatch(key_id):
            reason = f"its key id is not 16 lower-case hex digits (got {len(key_id)} characters)"
        else:
            reason = f"its secret is not 43 characters of A-Z a-z 0-9 _ - (got {len(secret)})"
        raise AuthenticationError(f"malformed API key: {reason}; expected {_FORMAT}")
    return match.group(1), match.group(2)


def key_prefix(key_id: str, secret: str) -> str:
    """What listings show: the token's first characters, enough to match a key to its token.

    Four characters of the secret give away 24 of its 256 bits, which costs nothing.
    """
    return f"{TOKEN_PREFIX}{key_id}_{secret[:4]}"


@dataclass(frozen=True, slots=True)
class _Verified:
    """A cached lookup: the stored hash (None: no such key) and the principal (None: revoked)."""

    secret_hash: bytes | None
    principal: Principal | None


_NO_SUCH_KEY = _Verified(None, None)
_DUMMY_HASH = hash_secret("no such key").encode("ascii")


class KeyService:
    """Creates, lists and revokes API keys, and authenticates tokens from a short-lived cache."""

    def __init__(
        self,
        store: KeyStore,
        tenants: TenantDirectory,
        *,
        clock: Clock = utc_now,
        timer: Timer = time.monotonic,
        ttl_s: float = 2.0,
        negative_ttl_s: float = 2.0,
        max_cached: int = 100_000,
    ) -> None:
        self._store = store
        self._tenants = tenants
        self._clock = clock
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._cache: TtlCache[str, _Verified] = TtlCache(max_cached, timer)
        self._timer = timer
        self.generation = 0
        """Bumped whenever a cached key may have changed: what was derived from one is stale."""

    def create(self, scope: Scope, tenant: str | None, name: str, actor: str) -> tuple[ApiKey, str]:
        """A new key and its token; the token is returned this once and never stored."""
        scope = Scope(scope)
        check_name(name, "key name")
        if scope is Scope.TENANT:
            if tenant is None:
                raise ValidationError("a tenant key needs a tenant")
            if self._tenants.find_tenant(check_name(tenant, "tenant name")) is None:
                raise NotFoundError(f"tenant {tenant!r} does not exist")
        elif tenant is not None:
            raise ValidationError(f"an admin key belongs to no tenant, got tenant {tenant!r}")
        key_id, secret, token = new_token()
        key = ApiKey(
            id=key_id,
            name=name,
            scope=scope,
            tenant=tenant,
            prefix=key_prefix(key_id, secret),
            created_at=self._clock(),
            created_by=actor,
        )
        added = self._store.add_key(StoredKey(key, hash_secret(secret)))
        self._cache.discard(key_id)
        logger.info("API key %s (%s, %s) created by %s", key_id, scope, tenant or "-", actor)
        return added, token

    def get_key(self, key_id: str) -> ApiKey:
        stored = self._store.find_key(key_id) if _KEY_ID.fullmatch(key_id) else None
        if stored is None:
            raise key_missing(key_id)
        return stored.key

    def list_keys(
        self, tenant: str | None = None, page: PageRequest = PageRequest()
    ) -> Page[ApiKey]:
        """One tenant's keys, or every key when ``tenant`` is None, oldest first."""
        if tenant is not None:
            check_name(tenant, "tenant name")
        return self._store.list_keys(tenant, check_page(page))

    def revoke(self, key_id: str, actor: str) -> ApiKey:
        """Revoke a key: refused at once here, and by every other process within ``ttl_s``."""
        if not _KEY_ID.fullmatch(key_id):
            raise key_missing(key_id)
        revoked = self._store.revoke_key(key_id, actor, self._clock())
        self.invalidate(key_id)
        logger.info("API key %s revoked by %s", key_id, actor)
        return revoked

    @property
    def ttl_s(self) -> float:
        """How long a verified key is trusted without asking the store again."""
        return self._ttl_s

    @property
    def timer(self) -> Timer:
        return self._timer

    def authenticate(self, token: str) -> Principal:
        """The principal a token speaks for; ``AuthenticationError`` if it is not a live key."""
        key_id, secret = parse_token(token)
        entry = self._cache.get(key_id)
        if entry is None:
            entry = self._load(key_id)
        presented = hash_secret(secret).encode("ascii")
        expected = _DUMMY_HASH if entry.secret_hash is None else entry.secret_hash
        if not hmac.compare_digest(presented, expected) or entry.secret_hash is None:
            raise AuthenticationError(f"API key {key_id} is not recognised")
        if entry.principal is None:
            raise AuthenticationError(f"API key {key_id} has been revoked")
        return entry.principal

    def invalidate(self, key_id: str) -> None:
        """Forget what is cached about ``key_id`` (it was created, revoked or changed)."""
        self._cache.discard(key_id)
        self.generation += 1

    def forget_cached(self) -> None:
        """Drop every cached verification (tests, or after a mass revocation)."""
        self._cache.clear()
        self.generation += 1

    def _load(self, key_id: str) -> _Verified:
        stored = self._store.find_key(key_id)
        if stored is None:
            self._cache.put(key_id, _NO_SUCH_KEY, self._negative_ttl_s)
            return _NO_SUCH_KEY
        key = stored.key
        principal = Principal(key.id, key.scope, key.tenant) if key.active else None
        entry = _Verified(stored.secret_hash.encode("ascii"), principal)
        self._cache.put(key_id, entry, self._ttl_s if principal else self._negative_ttl_s)
        return entry
