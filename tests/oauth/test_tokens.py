"""Access tokens the gateway issues: accepted while valid, refused when expired, forged, re-signed
with another key, or altered."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from gateway.oauth.tokens import TokenRejected, issue, load_or_create_key, verify

NOW = 1_800_000_000.0


@pytest.fixture
def key(tmp_path: Path) -> ECKey:
    return load_or_create_key(tmp_path / "token-key.pem")


def keyset(*keys: ECKey) -> KeySet:
    return KeySet.import_key_set({"keys": [k.as_dict(private=False) for k in keys]})


def test_the_key_is_created_once_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "var" / "token-key.pem"
    first = load_or_create_key(path)
    assert 0o600 == stat.S_IMODE(os.stat(path).st_mode)
    assert first.thumbprint() == load_or_create_key(path).thumbprint() == first.kid


def test_a_token_names_its_client_until_it_expires(key: ECKey) -> None:
    token = issue(key, "trust-demo", now=NOW, lifetime=600)
    assert 600 == token.expires_in
    assert "trust-demo" == verify(token.value, keyset(key), now=NOW + 599)
    with pytest.raises(TokenRejected) as caught:
        verify(token.value, keyset(key), now=NOW + 600)
    assert "expired" == caught.value.code


def test_a_rotated_key_set_accepts_old_and_new_tokens(key: ECKey, tmp_path: Path) -> None:
    new = load_or_create_key(tmp_path / "next.pem")
    old_token = issue(key, "trust-demo", now=NOW, lifetime=600).value
    new_token = issue(new, "council-demo", now=NOW, lifetime=600).value
    both = keyset(key, new)
    assert ["trust-demo", "council-demo"] == [
        verify(old_token, both, now=NOW),
        verify(new_token, both, now=NOW),
    ]


def _resign(token: str) -> str:
    _head, body, _ = token.split(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))

    stranger = ECKey.generate_key("P-256", private=True)
    return jwt.encode({"alg": "ES256", "kid": "x"}, payload, stranger, algorithms=["ES256"])


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("signed by a stranger's key", "bad-signature"),
        ("claims altered, signature kept", "bad-signature"),
        ("an API key, not a token", "malformed"),
        ("empty", "malformed"),
        ("another issuer", "wrong-issuer"),
        ("no subject", "malformed"),
    ],
)
def test_forged_or_altered_tokens_are_refused(key: ECKey, case: str, code: str) -> None:
    good = issue(key, "trust-demo", now=NOW, lifetime=600).value
    head, _body, sig = good.split(".")
    altered_body = base64.urlsafe_b64encode(
        orjson.dumps({"sub": "council-demo", "exp": int(NOW) + 600})
    ).rstrip(b"=")
    tokens = {
        "signed by a stranger's key": _resign(good),
        "claims altered, signature kept": f"{head}.{altered_body.decode()}.{sig}",
        "an API key, not a token": "a" * 43,
        "empty": "",
    }
    if case == "another issuer":
        tokens[case] = jwt.encode(
            {"alg": "ES256", "kid": key.kid},
            {"iss": "someone-else", "aud": "joined-up-api", "sub": "x", "exp": int(NOW) + 60},
            key,
            algorithms=["ES256"],
        )
    if case == "no subject":
        tokens[case] = jwt.encode(
            {"alg": "ES256", "kid": key.kid},
            {"iss": "joined-up-gateway", "aud": "joined-up-api", "exp": int(NOW) + 60},
            key,
            algorithms=["ES256"],
        )
    with pytest.raises(TokenRejected) as caught:
        verify(tokens[case], keyset(key), now=NOW)
    assert code == caught.value.code


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "kid": "k", "crit": 1},
        {"alg": "ES256", "kid": "k", "crit": [1]},
        {"alg": ["ES256"], "kid": "k"},
        {"alg": "ES256", "kid": 7},
        {"alg": "none"},
        [],
    ],
)
def test_an_odd_header_is_refused_not_an_error(key: ECKey, header: object) -> None:
    """Headers the gateway never writes are refused before the JOSE library sees them (a
    fuzzing run found library TypeErrors on such headers)."""
    good = issue(key, "trust-demo", now=NOW, lifetime=600).value
    _head, body, sig = good.split(".")
    odd = base64.urlsafe_b64encode(orjson.dumps(header)).rstrip(b"=").decode()
    with pytest.raises(TokenRejected):
        verify(f"{odd}.{body}.{sig}", keyset(key), now=NOW)
