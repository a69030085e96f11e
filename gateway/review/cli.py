"""``joinedup review hash-password``: the argon2id hash to configure for a local review account.

The password is read twice from the terminal without echo (``getpass``) and never printed, logged
or stored; only its hash is printed, for ``review.accounts[].password_hash``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

import argon2

MIN_LENGTH = 12


def _hash_password(_args: argparse.Namespace) -> int:
    try:
        password = getpass.getpass("New password: ")
        again = getpass.getpass("Same password again: ")
    except (EOFError, KeyboardInterrupt):
        print("\nno password given", file=sys.stderr)
        return 2
    if password != again:
        print("refusing: the two passwords differ", file=sys.stderr)
        return 2
    if len(password) < MIN_LENGTH:
        print(f"refusing: a password must be at least {MIN_LENGTH} characters", file=sys.stderr)
        return 2
    print(argon2.PasswordHasher().hash(password))
    return 0


def register(commands: Any) -> None:
    """Add ``joinedup review ...`` to the top-level subcommands."""
    review = commands.add_parser("review", help="IG review pages").add_subparsers(
        dest="review", required=True
    )
    hash_password = review.add_parser(
        "hash-password",
        help="read a password twice (not echoed); print its argon2id hash for review.accounts",
    )
    hash_password.set_defaults(run=_hash_password)
