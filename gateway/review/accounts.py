"""Local accounts (argon2id) and the sign-in throttle.

Verification does the same work whether or not the account exists: an unknown name is checked
against a dummy hash made with the same parameters as the configured ones, so the time taken does
not tell an attacker which names are accounts. Verifications run in a thread, at most two at a
time, so a burst of sign-ins cannot stall the event loop or exhaust memory (argon2id is
memory-hard by design).

The throttle counts failures per account name typed (existing or not) in a sliding window; once
``limit`` failures fall within it, every sign-in to that name is refused (429) without checking the
password until the oldest failure leaves the window. It lives in the process: behind several
gateway processes, each counts its own, so the limit is per process.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict, deque

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.review.settings import ReviewAccount

MAX_NAME = 64
MAX_PASSWORD = 1024
_CONCURRENT_VERIFICATIONS = 2


class LocalAccounts:
    """The configured local accounts, checked in constant work."""

    def __init__(self, accounts: tuple[ReviewAccount, ...]) -> None:
        self._by_name = {a.name: a for a in accounts}
        self._first_hash = accounts[0].password_hash if accounts else None
        self._dummy: str | None = None  # made on first use: hashing costs what verifying does
        self._hasher = argon2.PasswordHasher()
        self._slots = asyncio.Semaphore(_CONCURRENT_VERIFICATIONS)

    def exists(self, name: str) -> bool:
        return name in self._by_name

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            hasher = (
                argon2.PasswordHasher.from_parameters(argon2.extract_parameters(self._first_hash))
                if self._first_hash is not None
                else self._hasher
            )
            self._dummy = hasher.hash(secrets.token_urlsafe(24))
        return self._dummy

    def _check(self, name: str, password: str) -> ReviewAccount | None:
        account = self._by_name.get(name)
        target = account.password_hash if account is not None else self._dummy_hash()
        try:
            self._hasher.verify(target, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return None
        return account

    async def verify(self, name: str, password: str) -> ReviewAccount | None:
        """The account if ``password`` is its password; None otherwise (same work either way)."""
        async with self._slots:
            return await asyncio.to_thread(self._check, name[:MAX_NAME], password)


class LoginThrottle:
    """Failed sign-ins per account name within a sliding window."""

    def __init__(self, limit: int, window_seconds: float, *, max_names: int = 10_000) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_names = max_names
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, name: str, now: float) -> deque[float]:
        failures = self._failures.get(name)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[name]
        return failures

    def locked(self, name: str, now: float | None = None) -> bool:
        """Whether sign-ins to ``name`` are refused for now."""
        moment = time.monotonic() if now is None else now
        return len(self._recent(name[:MAX_NAME], moment)) >= self._limit

    def failed(self, name: str, now: float | None = None) -> None:
        """Count one failed sign-in to ``name``."""
        moment = time.monotonic() if now is None else now
        key = name[:MAX_NAME]
        failures = self._recent(key, moment)
        if not failures:
            self._failures[key] = failures
        failures.append(moment)
        self._failures.move_to_end(key)
        # A flood of made-up names cannot grow this without bound: the stalest names go first.
        while len(self._failures) > self._max_names:
            self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        """A successful sign-in clears the name's failures."""
        self._failures.pop(name[:MAX_NAME], None)
