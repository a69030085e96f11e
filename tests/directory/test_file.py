"""The directory file: its checks (every problem named by path and rule, never by value) and
``joinedup directory load`` (all or nothing, replacing each named organisation's entries)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.directory.file import check_directory
from tests.conftest import Database
from tests.directory.helpers import (
    DEMO_DIRECTORY,
    cli,
    config_for,
    ledger_entries,
    small,
    stored,
    write_yaml,
)

ORG = "organisations[0]"


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


def _both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for one in changes:
            one(data)

    return change


def _twice(data: dict[str, Any]) -> None:
    data["organisations"].append(dict(data["organisations"][0]))


def _second_worker_same_id(data: dict[str, Any]) -> None:
    workers = data["organisations"][0]["workers"]
    workers.append({**workers[0], "name": {"given": ["Ann"], "family": "Other"}})


def _repeat_role(data: dict[str, Any]) -> None:
    data["organisations"][0]["roles"].append({"role": "front-door", "team": "mash"})


_O = "organisations"
# (case, change to the small valid file, element named, part of the reason, the value that
# must not be repeated in any problem, or None)
BAD: list[tuple[str, Callable[[dict[str, Any]], None], str, str, str | None]] = [
    (
        "unknown role",
        _set((_O, 0, "roles", 0, "role"), "astrologer"),
        f"{ORG}.roles[0].role",
        "Input should be",
        "astrologer",
    ),
    (
        "a per-person role",
        _set((_O, 0, "roles", 1, "role"), "care-coordinator"),
        f"{ORG}.roles[1].role",
        "held for one person",
        None,
    ),
    (
        "duplicate worker id",
        _second_worker_same_id,
        f"{ORG}.workers[1].id",
        "id of an earlier worker",
        None,
    ),
    ("bad LA code", _set((_O, 0, "code"), "99X"), f"{ORG}.code", "three digits", "99X"),
    (
        "bad ODS code",
        _both(_set((_O, 0, "code"), "R!9"), _set((_O, 0, "kind"), "nhs-trust")),
        f"{ORG}.code",
        "ODS code",
        "R!9",
    ),
    ("LA code not quoted", _set((_O, 0, "code"), 999), f"{ORG}.code", "quote it", None),
    (
        "bad phone",
        _set((_O, 0, "teams", 0, "telecom", 0, "value"), "0163 12345"),
        f"{ORG}.teams[0].telecom[0].value",
        "not a UK telephone number",
        "12345",
    ),
    (
        "bad email",
        _set((_O, 0, "workers", 0, "telecom", 0, "value"), "ruth-at-council"),
        f"{ORG}.workers[0].telecom[0].value",
        "not an email address",
        "ruth-at-council",
    ),
    ("missing name", _drop((_O, 0, "name")), f"{ORG}.name", "Field required", None),
    (
        "missing worker name",
        _drop((_O, 0, "workers", 0, "name")),
        f"{ORG}.workers[0].name",
        "Field required",
        None,
    ),
    (
        "role naming an unknown worker",
        _set((_O, 0, "roles", 1, "worker"), "C-404"),
        f"{ORG}.roles[1].worker",
        "names no worker",
        "C-404",
    ),
    (
        "role naming an unknown team",
        _set((_O, 0, "roles", 0, "team"), "nowhere"),
        f"{ORG}.roles[0].team",
        "names no team",
        "nowhere",
    ),
    (
        "extra field",
        _set((_O, 0, "colour"), "blue"),
        f"{ORG}.colour",
        "Extra inputs are not permitted",
        "blue",
    ),
    ("wrong type: teams", _set((_O, 0, "teams"), "mash"), f"{ORG}.teams", "valid", None),
    (
        "wrong type: given names",
        _set((_O, 0, "workers", 0, "name", "given"), "Ruth"),
        f"{ORG}.workers[0].name.given",
        "valid",
        None,
    ),
    (
        "bad SWE registration",
        _set((_O, 0, "workers", 0, "registration"), "XY12"),
        f"{ORG}.workers[0].registration",
        "Social Work England",
        "XY12",
    ),
    (
        "bad professional registration",
        _set((_O, 0, "workers", 0, "professional_registration"), "PIN-7"),
        f"{ORG}.workers[0].professional_registration",
        "NMC PIN",
        "PIN-7",
    ),
    ("organisation listed twice", _twice, "organisations[1].code", "listed twice", None),
    ("assignment repeated", _repeat_role, f"{ORG}.roles[2]", "repeats an earlier", None),
    ("no organisations", _set(("organisations",), []), "organisations", "at least 1", None),
]


@pytest.mark.parametrize(
    ("change", "element", "reason", "secret"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD],
)
def test_a_bad_file_names_the_element_and_rule(
    change: Callable[[dict[str, Any]], None], element: str, reason: str, secret: str | None
) -> None:
    """Each bad file is refused with a problem naming the element path and the rule broken,
    without repeating the value, and with nothing to load."""
    data = small()
    change(data)
    checked = check_directory(yaml.safe_dump(data).encode())
    assert not checked.valid
    assert {} == checked.entries
    matching = [p for p in checked.problems if p.element == element and reason in p.reason]
    assert matching, [(p.element, p.reason) for p in checked.problems]
    if secret is not None:
        assert all(secret not in f"{p.element} {p.reason}" for p in checked.problems)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"# only a comment\n", "is empty"),
        (b"organisations: [\n  {code: 'Jane Smith'\n", "is not YAML at line"),
        (b"- just\n- a list\n", "must be a mapping"),
    ],
)
def test_an_empty_or_unreadable_file_is_refused(raw: bytes, reason: str) -> None:
    """An empty file, YAML that does not parse (position only: PyYAML would quote the text) and
    a document of the wrong shape are each one problem about the file."""
    checked = check_directory(raw)
    assert [("(file)", True)] == [(p.element, reason in p.reason) for p in checked.problems]
    assert all("Jane" not in p.reason for p in checked.problems)


def test_the_demo_directory_is_valid() -> None:
    """The demo file names the trust's and the council's roles, with their registration numbers."""
    checked = check_directory(DEMO_DIRECTORY.read_bytes())
    assert () == checked.problems
    roles = {code: sorted(r.role.value for r, _, _ in e) for code, e in checked.entries.items()}
    assert {"front-door", "out-of-hours", "link-worker", "team-manager"} <= set(roles["999"])
    assert {"safeguarding-lead-adults", "safeguarding-lead-children"} <= set(roles["RX9"])
    workers = [w for _, w, _ in checked.entries["999"] if w is not None]
    assert all(w.registration is not None for w in workers)


def test_a_json_file_is_read_too() -> None:
    """JSON is YAML: the same file as JSON gives the same entries."""
    as_yaml = check_directory(yaml.safe_dump(small()).encode())
    as_json = check_directory(orjson.dumps(small()))
    assert as_yaml.entries == as_json.entries
    assert as_yaml.valid


async def test_load_validates_first_writes_nothing_when_bad_and_reload_replaces(
    database: Database,
    engine: AsyncEngine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`joinedup directory load`: the demo file loads with one directory.loaded entry; every bad
    file exits 2 naming its problems, changing no row and no ledger entry; a reload of one
    organisation replaces its entries and leaves the other's alone."""
    config = str(config_for(database, tmp_path))
    assert 0 == await cli("directory", "load", str(DEMO_DIRECTORY), "--config", config)
    rows = await stored(engine)
    assert 12 == len(rows)
    assert {"RX9", "999"} == {r[0] for r in rows}
    assert {"file"} == {r[3] for r in rows}
    loaded = [e for e in await ledger_entries(engine) if e["event"] == "directory.loaded"]
    assert [(["999", "RX9"], 12, "cli")] == [
        (e["organisations"], e["entries"], e["by"]) for e in loaded
    ]
    capsys.readouterr()

    before_ledger = await ledger_entries(engine)
    for number, (_case, change, element, _reason, secret) in enumerate(BAD):
        data = small()
        change(data)
        bad = write_yaml(tmp_path / f"bad-{number}.yaml", data)
        assert 2 == await cli("directory", "load", str(bad), "--config", config)
        err = capsys.readouterr().err
        assert f": {element}: " in err
        assert "nothing was loaded" in err
        if secret is not None:
            assert secret not in err
        assert rows == await stored(engine)
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    assert 2 == await cli("directory", "load", str(empty), "--config", config)
    assert 2 == await cli("directory", "load", str(tmp_path / "missing.yaml"), "--config", config)
    assert rows == await stored(engine)
    assert before_ledger == await ledger_entries(engine)

    # Reload the council alone, with one role fewer: its entries are replaced, the trust's kept.
    assert 0 == await cli(
        "directory", "load", str(write_yaml(tmp_path / "999.yaml", small())), "--config", config
    )
    after = await stored(engine)
    assert [r for r in rows if r[0] == "RX9"] == [r for r in after if r[0] == "RX9"]
    assert [
        ("999", "front-door", "team:Northtown MASH"),
        ("999", "team-manager", "worker:C-1"),
    ] == [r[:3] for r in after if r[0] == "999"]
    loaded = [e for e in await ledger_entries(engine) if e["event"] == "directory.loaded"]
    assert [["999", "RX9"], ["999"]] == [e["organisations"] for e in loaded]
