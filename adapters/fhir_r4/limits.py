"""Limits on what a FHIR body may cost to read: its size and its nesting depth.

A body that breaks a limit is refused with one specific issue before anything in it is read, so a
10 MB body or ten thousand nested arrays cost microseconds, never a crash or a stall.

Depth counts nested JSON objects and arrays, or nested XML elements, from the root. The crisis
fixture is 11 deep in JSON, the deepest UK Core example 14. ``MAX_DEPTH`` leaves room for contained
resources and nested extensions and stays far below the recursion limits of orjson (1024), libxml2
(256) and the ``fhir.resources`` validators.
"""

from __future__ import annotations

from gateway.errors import InvalidMessage, Issue

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")
_ONE_KIND = bytes.maketrans(b"[]", b"{}")


def too_large() -> InvalidMessage:
    """The refusal of a body over ``MAX_BODY_BYTES`` (413)."""
    reason = f"is larger than the {MAX_BODY_BYTES} bytes a FHIR message may be"
    return InvalidMessage([Issue("(body)", reason, "too-costly")], status=413)


def too_deep(element: str = "(body)") -> InvalidMessage:
    """The refusal of nesting deeper than ``MAX_DEPTH``."""
    reason = f"is nested more than {MAX_DEPTH} levels deep"
    return InvalidMessage([Issue(element, reason, "too-costly")])


def json_too_deep(body: bytes) -> bool:
    """Whether the JSON in ``body`` may nest deeper than ``MAX_DEPTH`` (checked before parsing).

    Keeps only the brackets (in C, a few microseconds for a typical message), then strips
    innermost pairs once per level: more than ``MAX_DEPTH`` rounds means too deep. Brackets inside
    strings can make the answer wrong, so a "yes" is confirmed on the parsed value by
    :func:`json_depth`, and a "no" only lets through nesting the focused reader never recurses into
    (full model validation checks the parsed value itself).
    """
    brackets = body.translate(None, _NOT_BRACKETS).translate(_ONE_KIND)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        inner = brackets.replace(b"{}", b"")
        if len(inner) == len(brackets):
            return False  # unbalanced (brackets in strings): the parsed value decides
        brackets = inner
    return bool(brackets)


def json_depth(value: object) -> int:
    """The nesting depth of parsed JSON (objects and arrays), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in node)
    return deepest
