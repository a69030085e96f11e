"""Canonical JSON (RFC 8785): the fast path (orjson, sorted keys) is byte for byte the reference
implementation wherever it is taken, and the reference is used everywhere else."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from gateway.audit.chain import _plain, canonical_json
from gateway.audit.verify import is_canonical

_SAFE = 2**53 - 1
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-_SAFE, max_value=_SAFE)
    | st.text()  # every code point but lone surrogates, control characters included
)
_keys = st.text(alphabet=st.characters(max_codepoint=127))
_plain_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=30,
)
_any_json = st.recursive(
    _scalars | st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(_plain_json)
def test_the_fast_path_is_the_reference(document: Any) -> None:
    assert _plain(document)
    assert bytes(rfc8785.dumps(document)) == canonical_json(document)


@given(_any_json)
def test_every_document_is_canonicalised_as_the_reference_does(document: Any) -> None:
    """Floats, big integers and non-ASCII keys (ordered by UTF-16 code unit) go the slow way."""
    try:
        expected = bytes(rfc8785.dumps(document))
    except rfc8785.CanonicalizationError:
        return
    assert expected == canonical_json(document)
    assert is_canonical(expected.decode(), document)


def test_non_canonical_encodings_are_refused() -> None:
    document: dict[str, Any] = {"b": 1.0, "a": "\u00e9", "\U0001f600": 1, "\uff61": 2}
    canonical = bytes(rfc8785.dumps(document)).decode()
    assert is_canonical(canonical, document)
    assert not is_canonical('{"a":"é","b":1.0,"\U0001f600":1,"\uff61":2}', document)
    assert not is_canonical(canonical.replace(":", ": "), document)
