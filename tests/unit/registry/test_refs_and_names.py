import re

import pytest

from shoal.errors import InvalidNameError, InvalidRefError
from shoal.registry.names import check_alias, check_name
from shoal.registry.refs import ModelRef


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme/churn", ModelRef("acme", "churn")),
        ("acme/churn:3", ModelRef("acme", "churn", version=3)),
        ("acme/churn@production", ModelRef("acme", "churn", alias="production")),
        ("t-1.eu/log_anomaly.v2@staging", ModelRef("t-1.eu", "log_anomaly.v2", alias="staging")),
    ],
)
def test_refs_parse_into_tenant_model_version_and_alias(text: str, expected: ModelRef) -> None:
    assert ModelRef.parse(text) == expected
    assert str(ModelRef.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("acme", "must look like tenant/model"),
        ("a/b/c", "must look like tenant/model"),
        ("acme/churn:0", "not a positive integer"),
        ("acme/churn:x", "not a positive integer"),
        ("acme/churn@", "empty alias"),
        ("acme/churn@Prod", "alias 'Prod'"),
        ("../passwd", "'..'"),
        ("acme/ch\x00urn", "control character"),
        ("Acme/churn", "lower-case"),
    ],
)
def test_malformed_refs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidRefError, match=re.escape(message)):
        ModelRef.parse(text)


@pytest.mark.parametrize(
    "name",
    ["..", ".", "a/b", "a\\b", "-a", "a-", "a b", "x" * 65, "tab\there", "ü", ""],
)
def test_names_that_could_escape_a_path_or_confuse_a_url_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        check_name(name)


@pytest.mark.parametrize("name", ["a", "acme", "acme-eu.1", "x" * 64, "0day"])
def test_ordinary_names_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("alias", ["1st", "Prod", "a.b", "", "x" * 33])
def test_aliases_start_with_a_letter_and_stay_short(alias: str) -> None:
    with pytest.raises(InvalidNameError):
        check_alias(alias)


def test_a_ref_cannot_have_both_a_version_and_an_alias() -> None:
    with pytest.raises(InvalidRefError, match="not both"):
        ModelRef("acme", "churn", version=1, alias="production")
