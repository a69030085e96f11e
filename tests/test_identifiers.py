"""Identifier rules: the NHS number check digit, UPNs, LA child ids, tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.identifiers import (
    LA_CHILD_ID_SYSTEM,
    NHS_NUMBER_SYSTEM,
    LaChildId,
    NhsNumber,
    Upn,
    identifier_from_token,
    nhs_number_check_digit,
    validate_nhs_number,
)


@pytest.mark.parametrize("number", ["9000000009", "9000000017", "9000000025", "9000000033"])
def test_published_test_numbers_are_valid(number: str) -> None:
    """The published test NHS numbers pass the modulus-11 check."""
    assert number == validate_nhs_number(number)


def test_spaces_are_removed() -> None:
    """An NHS number written in 3-3-4 groups is normalised."""
    assert "9000000009" == validate_nhs_number("900 000 0009")


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("9000000008", "check digit"),
        ("900000000", "exactly 10 digits"),
        ("90000000091", "exactly 10 digits"),
        ("900000000X", "exactly 10 digits"),
        ("\uff19\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff1009", "exactly 10 digits"),
    ],
)
def test_invalid_numbers_are_refused_with_the_rule(number: str, reason: str) -> None:
    """Wrong length, non-digits and wrong check digits are refused, naming the rule."""
    with pytest.raises(ValueError, match=reason):
        validate_nhs_number(number)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_check_digit_fits_or_none(first_nine: str) -> None:
    """For any nine digits, at most one tenth digit makes a valid number, and it is the computed one."""
    valid = []
    for d in "0123456789":
        try:
            validate_nhs_number(first_nine + d)
            valid.append(int(d))
        except ValueError:
            pass
    expected = nhs_number_check_digit(first_nine)
    assert ([] if expected is None else [expected]) == valid


def test_check_digit_ten_means_no_valid_number() -> None:
    """Nine digits whose remainder gives 10 have no valid check digit."""
    impossible = next(
        f"{n:09d}" for n in range(10**6) if nhs_number_check_digit(f"{n:09d}") is None
    )
    assert nhs_number_check_digit(impossible) is None


def test_upn_forms() -> None:
    """A UPN is a letter and 11 digits followed by a digit or a letter."""
    assert "A12345678901B" == Upn(value="a12345678901B").value
    assert "A123456789012" == Upn(value="A123456789012").value
    with pytest.raises(ValidationError):
        Upn(value="123456789012A")


def test_la_child_ids_are_namespaced_by_la_code() -> None:
    """The same child id at two councils gives two different keys."""
    assert LaChildId(la_code="999", value="C1").key != LaChildId(la_code="998", value="C1").key
    with pytest.raises(ValidationError):
        LaChildId(la_code="99", value="C1")


def test_tokens() -> None:
    """system|value tokens become typed identifiers; unknown systems are refused."""
    assert NhsNumber(value="9000000009") == identifier_from_token(NHS_NUMBER_SYSTEM, "9000000009")
    assert LaChildId(la_code="999", value="CH1") == identifier_from_token(
        LA_CHILD_ID_SYSTEM, "999/CH1"
    )
    with pytest.raises(ValueError, match="unknown identifier system"):
        identifier_from_token("urn:x", "1")
    with pytest.raises(ValueError, match="<LA code>/<child id>"):
        identifier_from_token(LA_CHILD_ID_SYSTEM, "CH1")
