"""The directory door's part of the OpenAPI document (``gateway/openapi.py`` adds it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.directory import ORGANISATIONAL_ROLES
from gateway.directory.routes import ROUTE

_COMPONENT = "#/components/schemas/"
_EDT = {"system": "phone", "value": "01632 960800", "out_of_hours": True}

EXAMPLE: dict[str, Any] = {
    "organisation": {
        "code": "999",
        "kind": "local-authority",
        "name": "Demo Council Children's Social Care",
        "telecom": [{"system": "phone", "value": "01632 960700", "out_of_hours": False}],
    },
    "role": "front-door",
    "at": "2026-12-05T22:10:00+00:00",
    "in_hours": False,
    "next_opening": "2026-12-07T09:00:00+00:00",
    "entries": [
        {
            "reach_now": {"via": "out-of-hours", "contacts": [_EDT]},
            "role": "front-door",
            "team": "Northtown Multi-Agency Safeguarding Hub (MASH)",
            "telecom": [
                {"system": "phone", "value": "01632 960750", "out_of_hours": False},
                {"system": "email", "value": "mash@council999.example", "out_of_hours": False},
            ],
            "out_of_hours": [_EDT],
            "source": "file",
            "updated_at": "2026-12-01T08:00:00+00:00",
        }
    ],
    "agreement": {"id": "demo-trust-council", "version": 1},
}

_CONTACT = {
    "type": "object",
    "required": ["system", "value"],
    "properties": {
        "system": {"type": "string", "enum": ["phone", "email", "url", "other"]},
        "value": {"type": "string"},
        "out_of_hours": {"type": "boolean"},
    },
}

SCHEMAS: dict[str, Any] = {
    "ContactPoint": _CONTACT,
    "ReachNow": {
        "type": "object",
        "description": (
            "The contacts to use now: 'office' in working hours; out of hours the role's own "
            "'out-of-hours' contacts, else the organisation's out-of-hours entry "
            "('organisation-out-of-hours', the emergency duty team, named in 'team'), else "
            "'office-closed' (no out-of-hours contact is known)"
        ),
        "required": ["via", "contacts"],
        "properties": {
            "via": {
                "type": "string",
                "enum": ["office", "out-of-hours", "organisation-out-of-hours", "office-closed"],
            },
            "contacts": {"type": "array", "items": {"$ref": f"{_COMPONENT}ContactPoint"}},
            "team": {"type": "string"},
        },
    },
    "DirectoryRoles": {
        "type": "object",
        "required": ["organisation", "role", "at", "in_hours", "entries"],
        "properties": {
            "organisation": {
                "type": "object",
                "required": ["code"],
                "properties": {
                    "code": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "telecom": {"type": "array", "items": {"$ref": f"{_COMPONENT}ContactPoint"}},
                },
            },
            "role": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "in_hours": {"type": "boolean"},
            "next_opening": {"type": "string", "format": "date-time"},
            "entries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["reach_now", "role", "telecom", "out_of_hours", "source"],
                    "properties": {
                        "reach_now": {"$ref": f"{_COMPONENT}ReachNow"},
                        "role": {"type": "string"},
                        "team": {"type": "string"},
                        "name": {"type": "object"},
                        "worker_id": {"type": "string"},
                        "registration": {"type": "string"},
                        "professional_registration": {"type": "string"},
                        "telecom": {
                            "type": "array",
                            "items": {"$ref": f"{_COMPONENT}ContactPoint"},
                        },
                        "out_of_hours": {
                            "type": "array",
                            "items": {"$ref": f"{_COMPONENT}ContactPoint"},
                        },
                        "source": {"type": "string", "enum": ["file", "partner"]},
                        "updated_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "agreement": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "version": {"type": "integer"}},
            },
        },
    },
}


def paths(
    errors: Callable[..., dict[str, Any]],
    conventions: list[dict[str, str]],
    answer_headers: dict[str, Any],
) -> dict[str, Any]:
    """The directory's paths, built with the document's own error and convention helpers."""
    roles = sorted(r.value for r in ORGANISATIONAL_ROLES)
    return {
        ROUTE: {
            "get": {
                "summary": "Who holds a role at an organisation (front door, safeguarding lead, "
                "link worker...), and how to reach them now",
                "description": (
                    "Answered from the directory (files ops load, and partner messages naming "
                    "their own organisations' roles). Only for an organisation that is a party to "
                    "an agreement with yours (or is yours); every look-up is audited. Out of "
                    "hours each entry leads with the out-of-hours contacts and the answer says "
                    "in_hours: false."
                ),
                "operationId": "directoryRoles",
                "parameters": [
                    {
                        "name": "code",
                        "in": "path",
                        "required": True,
                        "description": "the organisation's DfE LA code (three digits) or ODS code",
                        "schema": {"type": "string", "pattern": r"^(?:\d{3}|[A-Z][A-Z0-9]{2,9})$"},
                        "example": "999",
                    },
                    {
                        "name": "role",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "enum": roles},
                        "example": "front-door",
                    },
                    *conventions,
                ],
                "responses": {
                    "200": {
                        "description": "who holds the role, each entry leading with how to reach "
                        "them now",
                        "headers": answer_headers,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"{_COMPONENT}DirectoryRoles"},
                                "example": EXAMPLE,
                            }
                        },
                    }
                }
                | errors(
                    (400, 401, 404, 405, 429, 503),
                    s404="the organisation is unknown, has nobody in that role, or is not a "
                    "party to an agreement with yours: the same answer for each",
                ),
            }
        }
    }
