"""`joinedup review hash-password`: the password twice, never echoed, its argon2id hash printed."""

from __future__ import annotations

import getpass
from collections.abc import Iterator

import argon2
import pytest

from gateway.cli import main
from gateway.review.settings import ReviewAccount


def _typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    prompts: list[str] = []
    replies: Iterator[str] = iter(answers)

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return prompts


def test_prints_an_argon2id_hash_of_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hash verifies the password, is accepted as an account's hash, and the password itself
    appears nowhere in the output."""
    password = "correct horse battery staple"
    prompts = _typed(monkeypatch, password, password)
    assert 0 == main(["review", "hash-password"])
    out, err = capsys.readouterr()
    hashed = out.strip()
    assert hashed.startswith("$argon2id$")
    assert argon2.PasswordHasher().verify(hashed, password)
    ReviewAccount(name="ig.officer", password_hash=hashed, roles=("ig-officer",))
    assert password not in out + err
    assert 2 == len(prompts)


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        ("correct horse battery staple", "correct horse battery stapler", "differ"),
        ("short", "short", "at least 12 characters"),
    ],
)
def test_refuses_a_mismatch_or_a_short_password(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    first: str,
    second: str,
    reason: str,
) -> None:
    """Exit 2 with the reason on standard error; nothing on standard output."""
    _typed(monkeypatch, first, second)
    assert 2 == main(["review", "hash-password"])
    out, err = capsys.readouterr()
    assert "" == out
    assert reason in err
    assert first not in err
