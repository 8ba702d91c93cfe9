"""The checks both registry stores share: timestamps, cursors, alias actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shoal.errors import ValidationError
from shoal.registry.pages import encode_cursor
from shoal.registry.records import AuditAction, PageRequest
from shoal.storage.registry_rules import as_utc, check_alias_action, page_key, page_of


def test_as_utc_converts_aware_times_and_rejects_naive_ones() -> None:
    plus_two = datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(plus_two) == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert as_utc(plus_two).tzinfo is UTC
    with pytest.raises(ValidationError, match="2025-01-01T12:00:00 must be timezone-aware"):
        as_utc(datetime(2025, 1, 1, 12))


@pytest.mark.parametrize(
    ("cursor", "kinds"),
    [(encode_cursor("acme"), (int,)), (encode_cursor(3), (str, str)), (encode_cursor(1), (str,))],
)
def test_a_cursor_from_another_listing_is_rejected(
    cursor: str, kinds: tuple[type[str] | type[int], ...]
) -> None:
    with pytest.raises(ValidationError, match="does not belong"):
        page_key(PageRequest(cursor=cursor), *kinds)


def test_page_key_decodes_the_listing_key() -> None:
    assert page_key(PageRequest(cursor=encode_cursor("acme", "fraud")), str, str) == (
        "acme",
        "fraud",
    )
    assert page_key(PageRequest(), int) is None


def test_page_of_gives_a_cursor_only_when_more_items_exist() -> None:
    assert page_of([1, 2], 2, lambda n: (n,)).next_cursor is None
    page = page_of([1, 2, 3], 2, lambda n: (n,))
    assert page.items == (1, 2)
    assert page_key(PageRequest(cursor=page.next_cursor), int) == (2,)


@pytest.mark.parametrize("action", [AuditAction.ALIAS_SET, AuditAction.ALIAS_ROLLED_BACK])
def test_alias_moves_accept_set_and_rolled_back(action: AuditAction) -> None:
    assert check_alias_action(action) is action


def test_alias_moves_reject_other_actions() -> None:
    with pytest.raises(ValidationError, match=r"not 'model\.deleted'"):
        check_alias_action(AuditAction.MODEL_DELETED)
