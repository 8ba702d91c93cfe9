"""API keys: the token format, creation, listing, revocation and cached authentication."""

from __future__ import annotations

import hashlib

import pytest
from access_fakes import START, CountingKeyStore, FakeClock, FakeTimer

from shoal.access.keys import KeyService, hash_secret, new_token, parse_token
from shoal.access.records import Principal, Scope
from shoal.errors import (
    AuthenticationError,
    ConflictError,
    InvalidNameError,
    NotFoundError,
    ValidationError,
)
from shoal.registry.records import PageRequest
from shoal.storage.memory_registry import InMemoryRegistryStore

TTL = 2.0


@pytest.fixture
def registry() -> InMemoryRegistryStore:
    store = InMemoryRegistryStore()
    store.add_tenant("acme", "", "admin", START)
    store.add_tenant("globex", "", "admin", START)
    return store


@pytest.fixture
def timer() -> FakeTimer:
    return FakeTimer()


@pytest.fixture
def store(registry: InMemoryRegistryStore) -> CountingKeyStore:
    return CountingKeyStore(registry)


def service(
    store: CountingKeyStore, registry: InMemoryRegistryStore, timer: FakeTimer
) -> KeyService:
    return KeyService(store, registry, clock=FakeClock(), timer=timer, ttl_s=TTL)


@pytest.fixture
def keys(store: CountingKeyStore, registry: InMemoryRegistryStore, timer: FakeTimer) -> KeyService:
    return service(store, registry, timer)


def test_a_token_carries_the_key_id_and_32_random_bytes() -> None:
    key_id, secret, token = new_token()
    assert token == f"shoal_{key_id}_{secret}"
    assert len(key_id) == 16
    assert len(secret) == 43  # base64 of 32 bytes
    assert parse_token(token) == (key_id, secret)
    assert new_token()[2] != token


def test_only_the_sha256_of_the_secret_is_stored(keys: KeyService, store: CountingKeyStore) -> None:
    key, token = keys.create(Scope.TENANT, "acme", "ci", actor="alice")
    stored = store.find_key(key.id)
    assert stored is not None
    secret = token.split("_", 2)[2]
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest() == hash_secret(secret)
    assert secret not in repr(stored)
    assert key.prefix == token[: len(key.prefix)]
    assert key.prefix == f"shoal_{key.id}_{secret[:4]}"
    assert (key.created_by, key.created_at, key.revoked_at) == ("alice", START, None)


def test_a_key_authenticates_as_its_scope_and_tenant(keys: KeyService) -> None:
    tenant_key, tenant_token = keys.create(Scope.TENANT, "acme", "ci", actor="alice")
    admin_key, admin_token = keys.create(Scope.ADMIN, None, "ops", actor="alice")
    assert keys.authenticate(tenant_token) == Principal(tenant_key.id, Scope.TENANT, "acme")
    admin = keys.authenticate(admin_token)
    assert admin == Principal(admin_key.id, Scope.ADMIN, None)
    assert admin.is_admin


def test_a_revoked_key_is_refused_here_at_once_and_by_other_workers_within_the_ttl(
    store: CountingKeyStore, registry: InMemoryRegistryStore, timer: FakeTimer
) -> None:
    here, there = service(store, registry, timer), service(store, registry, timer)
    key, token = here.create(Scope.TENANT, "acme", "ci", actor="alice")
    assert there.authenticate(token).key_id == key.id  # now cached over there
    revoked = here.revoke(key.id, actor="bob")
    assert (revoked.revoked_by, revoked.revoked_at) == ("bob", START)
    with pytest.raises(AuthenticationError, match=f"API key {key.id} has been revoked"):
        here.authenticate(token)
    timer.advance(TTL - 0.01)
    assert there.authenticate(token).key_id == key.id  # served from the cache until the TTL
    timer.advance(0.02)
    with pytest.raises(AuthenticationError, match="has been revoked"):
        there.authenticate(token)


def test_a_cached_key_costs_no_store_round_trip(keys: KeyService, store: CountingKeyStore) -> None:
    _, token = keys.create(Scope.TENANT, "acme", "ci", actor="alice")
    for _ in range(100):
        keys.authenticate(token)
    assert store.finds == 1


def test_unknown_keys_are_cached_briefly_too(
    keys: KeyService, store: CountingKeyStore, timer: FakeTimer
) -> None:
    garbage = "shoal_0123456789abcdef_" + "A" * 43
    for _ in range(50):
        with pytest.raises(AuthenticationError, match="0123456789abcdef is not recognised"):
            keys.authenticate(garbage)
    assert store.finds == 1
    timer.advance(TTL + 0.1)
    with pytest.raises(AuthenticationError):
        keys.authenticate(garbage)
    assert store.finds == 2


def test_a_tampered_secret_is_refused_even_while_the_key_is_cached(keys: KeyService) -> None:
    key, token = keys.create(Scope.TENANT, "acme", "ci", actor="alice")
    keys.authenticate(token)
    last = token[-1]
    tampered = token[:-1] + ("B" if last != "B" else "C")
    with pytest.raises(AuthenticationError, match=f"API key {key.id} is not recognised"):
        keys.authenticate(tampered)
    other_key, _ = keys.create(Scope.TENANT, "acme", "other", actor="alice")
    swapped = token.replace(key.id, other_key.id)
    with pytest.raises(AuthenticationError, match="is not recognised"):
        keys.authenticate(swapped)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "no API key given"),
        ("Bearer shoal_0123456789abcdef_" + "A" * 43, "does not start with 'shoal_'"),
        ("sk_live_123", "does not start with 'shoal_'"),
        ("shoal_0123456789abcdef_" + "A" * 43 + "\n", "white space around it"),
        ("shoal_0123456789abcdef_short", "secret is not 43 characters of A-Z a-z 0-9 _ - (got 5)"),
        ("shoal_0123456789ABCDEF_" + "A" * 43, "key id is not 16 lower-case hex digits (got 16"),
        ("shoal_0123456789abcdef_" + "A" * 42 + "!", "expected shoal_<16 hex digits>"),
        ("shoal_" + "A" * 43, "key id is not 16 lower-case hex digits (got 43"),
    ],
)
def test_malformed_tokens_are_refused_with_a_clear_message(
    keys: KeyService, store: CountingKeyStore, token: str, message: str
) -> None:
    with pytest.raises(AuthenticationError, match=r"malformed API key|no API key") as raised:
        keys.authenticate(token)
    assert message in str(raised.value)
    assert "A" * 40 not in str(raised.value)  # the secret part is never echoed
    assert store.finds == 0


def test_tenant_keys_need_an_existing_tenant_and_admin_keys_none(keys: KeyService) -> None:
    with pytest.raises(NotFoundError, match="tenant 'nobody' does not exist"):
        keys.create(Scope.TENANT, "nobody", "ci", actor="alice")
    with pytest.raises(ValidationError, match="a tenant key needs a tenant"):
        keys.create(Scope.TENANT, None, "ci", actor="alice")
    with pytest.raises(ValidationError, match="admin key belongs to no tenant"):
        keys.create(Scope.ADMIN, "acme", "ops", actor="alice")
    with pytest.raises(InvalidNameError, match="key name 'CI Key'"):
        keys.create(Scope.TENANT, "acme", "CI Key", actor="alice")


def test_keys_are_listed_per_tenant_or_all_oldest_first(
    store: CountingKeyStore, registry: InMemoryRegistryStore, timer: FakeTimer
) -> None:
    clock = FakeClock()
    keys = KeyService(store, registry, clock=clock, timer=timer)
    created = []
    for tenant in ["acme", "globex", "acme", None]:
        scope = Scope.ADMIN if tenant is None else Scope.TENANT
        created.append(keys.create(scope, tenant, "k", actor="alice")[0])
        clock.advance(1)
    assert [k.id for k in keys.list_keys("acme").items] == [created[0].id, created[2].id]
    first = keys.list_keys(page=PageRequest(limit=3))
    second = keys.list_keys(page=PageRequest(limit=3, cursor=first.next_cursor))
    assert [k.id for k in first.items + second.items] == [k.id for k in created]
    assert second.next_cursor is None


def test_revoking_twice_or_an_unknown_key_says_so(keys: KeyService) -> None:
    key, _ = keys.create(Scope.TENANT, "acme", "ci", actor="alice")
    keys.revoke(key.id, actor="bob")
    with pytest.raises(ConflictError, match=r"already revoked .* by bob"):
        keys.revoke(key.id, actor="carol")
    with pytest.raises(NotFoundError, match="API key 'nope' does not exist"):
        keys.revoke("nope", actor="bob")
    with pytest.raises(NotFoundError, match="'0123456789abcdef' does not exist"):
        keys.get_key("0123456789abcdef")
    assert keys.get_key(key.id).revoked_by == "bob"
