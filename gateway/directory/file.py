"""The directory file ops load: organisations, their teams, workers and role assignments.

A YAML (or JSON) document::

    organisations:
      - code: "999"                      # DfE LA code (three digits, quoted) or ODS code
        kind: local-authority            # nhs-trust | local-authority | police | school | other
        name: Demo Council Children's Social Care
        telecom: [{system: phone, value: "01632 960000"}]        # switchboard
        teams:
          - {id: mash, name: Northtown MASH, telecom: [...], out_of_hours: [...]}
        workers:
          - id: C-TM-01                  # the employer's own worker id
            name: {given: [Ruth], family: Adeyemi}
            registration: SW104233       # Social Work England
            professional_registration: 12A3456E   # NMC PIN, HCPC or GMC number
            team: mash
            telecom: [...]
        roles:
          - {role: front-door, team: mash, telecom: [...], out_of_hours: [...]}
          - {role: team-manager, worker: C-TM-01}

The whole file is checked before anything is written (:func:`check_directory`): every problem is
reported with its element path (``organisations[0].workers[1].id``) and the rule broken, never the
value, so the report is safe to print and to log. A valid file replaces every entry of each
organisation it names, in one transaction with its ``directory.loaded`` ledger entry
(:func:`load_directory`); organisations it does not name are left alone.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, select

from gateway.audit.events import AuditEvent, DirectoryLoaded
from gateway.directory import ORGANISATIONAL_ROLES, details_json, entry_key, replace_entries
from gateway.errors import Issue
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.tables import directory_entries
from schemas.facts import (
    ContactPoint,
    Fact,
    HumanName,
    Organisation,
    OrganisationKind,
    RoleKind,
    Worker,
    WorkerRole,
)
from schemas.identifiers import SweRegistration

_ODS = re.compile(r"^[A-Z0-9]{3,10}$")
_LA = re.compile(r"^\d{3}$")
# A UK number: 0 then 9 or 10 digits, or +44 then 9 or 10 digits (spaces allowed, ignored).
_PHONE = re.compile(r"^(?:0\d{9,10}|\+44\d{9,10}|999|111|116\d{3})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# NMC PIN (12A3456E), HCPC number (PA12345, SW123456), GMC number (7 digits).
_PROFESSIONAL = re.compile(r"^(?:\d{2}[A-Z]\d{4}[A-Z]|[A-Z]{2}\d{5,6}|\d{7})$")
_LOCAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")

Text = Annotated[str, Field(min_length=1, max_length=200)]
LocalId = Annotated[str, Field(pattern=_LOCAL_ID.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Contact(_Strict):
    """A telephone number or an email address."""

    system: Literal["phone", "email"]
    value: Annotated[str, Field(min_length=1, max_length=256)]


class Name(_Strict):
    """A worker's name as the directory shows it."""

    given: Annotated[list[Text], Field(min_length=1)]
    family: Text


class Team(_Strict):
    """A team or duty line: the MASH, the emergency duty team, a community mental health team."""

    id: LocalId
    name: Text
    telecom: list[Contact] = []
    out_of_hours: list[Contact] = []


class DirectoryWorker(_Strict):
    """A named worker with their registration numbers."""

    id: LocalId  # the employer's own worker id
    name: Name
    registration: str | None = None  # Social Work England (SW123456)
    professional_registration: str | None = None  # NMC PIN, HCPC or GMC number
    team: LocalId | None = None
    telecom: list[Contact] = []


class RoleAssignment(_Strict):
    """Who holds an organisational role: a worker, a team, or a line of the organisation's own."""

    role: Annotated[RoleKind, Field(strict=False)]
    worker: LocalId | None = None
    team: LocalId | None = None
    telecom: list[Contact] = []  # office contacts (else the team's)
    out_of_hours: list[Contact] = []  # out-of-hours contacts (else the team's)


class DirectoryOrganisation(_Strict):
    """One organisation: its code, kind, name and switchboard, its teams, workers and roles."""

    code: str
    kind: Annotated[OrganisationKind, Field(strict=False)]
    name: Text
    telecom: list[Contact] = []
    teams: list[Team] = []
    workers: list[DirectoryWorker] = []
    roles: list[RoleAssignment] = []


class DirectoryFile(_Strict):
    """The whole file."""

    organisations: Annotated[list[DirectoryOrganisation], Field(min_length=1)]


# An entry ready to store: the role, its worker (if any) and the organisation.
Entry = tuple[WorkerRole, Worker | None, Organisation | None]


@dataclass(frozen=True)
class CheckedDirectory:
    """What checking a file found: its problems, or the entries to write per organisation."""

    file_sha256: str
    problems: tuple[Issue, ...] = ()
    entries: dict[str, list[Entry]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _at(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _reason(error: Any, data: Any) -> str:
    # SECURITY: pydantic's own messages name rules and types; the input is never included.
    if error["type"] == "string_type" and isinstance(_at(data, tuple(error["loc"])), int | float):
        return "must be a string (quote it: YAML reads 999 as a number)"
    return str(error["msg"])


def check_directory(raw: bytes) -> CheckedDirectory:
    """Check a whole directory file; the problems name element paths and rules, never values."""
    digest = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        return CheckedDirectory(digest, (Issue("(file)", "is empty", "required"),))
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        # SECURITY: PyYAML's message quotes the offending text; only the position is reported.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return CheckedDirectory(digest, (Issue("(file)", f"is not YAML{where}", "structure"),))
    if data is None:
        return CheckedDirectory(digest, (Issue("(file)", "is empty", "required"),))
    if not isinstance(data, dict):
        return CheckedDirectory(
            digest, (Issue("(file)", "must be a mapping with 'organisations'", "structure"),)
        )
    try:
        # Through JSON, so strict mode takes enum values and arrays as the file writes them,
        # while still refusing a number where a string belongs (an unquoted LA code).
        parsed = DirectoryFile.model_validate_json(
            orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str)
        )
    except ValidationError as exc:
        shape = tuple(
            Issue(_path(tuple(e["loc"])), _reason(e, data), "structure")
            for e in exc.errors(include_input=False, include_url=False)
        )
        return CheckedDirectory(digest, shape)
    problems: list[Issue] = []
    entries: dict[str, list[Entry]] = {}
    codes = Counter(o.code for o in parsed.organisations)
    for number, org in enumerate(parsed.organisations):
        path = f"organisations[{number}]"
        if codes[org.code] > 1:
            problems.append(Issue(f"{path}.code", "names an organisation listed twice", "value"))
        checked = _check_organisation(org, path, problems)
        if checked is not None:
            entries[org.code] = checked
    return CheckedDirectory(digest, tuple(problems), {} if problems else entries)


def _code_problem(org: DirectoryOrganisation) -> str | None:
    if org.kind is OrganisationKind.LOCAL_AUTHORITY:
        return None if _LA.match(org.code) else "a council's DfE LA code is three digits"
    if org.kind is OrganisationKind.NHS_TRUST:
        ok = bool(_ODS.match(org.code)) and not _LA.match(org.code)
        return (
            None if ok else "an NHS organisation's ODS code is 3 to 10 capital letters and digits"
        )
    either = _ODS.match(org.code) or _LA.match(org.code)
    return None if either else "must be an ODS code or a DfE LA code"


def _contacts(contacts: list[Contact], path: str, problems: list[Issue]) -> None:
    for number, contact in enumerate(contacts):
        where = f"{path}[{number}].value"
        if contact.system == "phone":
            digits = contact.value.replace(" ", "")
            if not _PHONE.match(digits):
                problems.append(
                    Issue(where, "is not a UK telephone number (0 or +44, then 9 or 10 digits)")
                )
        elif not _EMAIL.match(contact.value):
            problems.append(Issue(where, "is not an email address"))


def _check_organisation(
    org: DirectoryOrganisation, path: str, problems: list[Issue]
) -> list[Entry] | None:
    before = len(problems)
    reason = _code_problem(org)
    if reason is not None:
        problems.append(Issue(f"{path}.code", reason, "value"))
    _contacts(org.telecom, f"{path}.telecom", problems)
    teams: dict[str, Team] = {}
    for number, team in enumerate(org.teams):
        where = f"{path}.teams[{number}]"
        if team.id in teams:
            problems.append(Issue(f"{where}.id", "is the id of an earlier team", "value"))
        teams[team.id] = team
        _contacts(team.telecom, f"{where}.telecom", problems)
        _contacts(team.out_of_hours, f"{where}.out_of_hours", problems)
    workers: dict[str, DirectoryWorker] = {}
    for number, worker in enumerate(org.workers):
        where = f"{path}.workers[{number}]"
        if worker.id in workers:
            problems.append(Issue(f"{where}.id", "is the id of an earlier worker", "value"))
        workers[worker.id] = worker
        if worker.registration is not None and not re.match(r"^SW\d{1,8}$", worker.registration):
            problems.append(
                Issue(f"{where}.registration", "a Social Work England number is SW then digits")
            )
        if worker.professional_registration is not None and not _PROFESSIONAL.match(
            worker.professional_registration
        ):
            problems.append(
                Issue(
                    f"{where}.professional_registration",
                    "must be an NMC PIN (12A3456E), an HCPC number (PA12345) or a GMC number "
                    "(seven digits)",
                )
            )
        if worker.team is not None and worker.team not in teams:
            problems.append(Issue(f"{where}.team", "names no team of this organisation", "value"))
        _contacts(worker.telecom, f"{where}.telecom", problems)
    organisation = (
        Organisation(
            id="organisation",
            kind=org.kind,
            ods_code=org.code if org.kind is not OrganisationKind.LOCAL_AUTHORITY else None,
            la_code=org.code if org.kind is OrganisationKind.LOCAL_AUTHORITY else None,
            name=org.name,
            telecom=tuple(_point(c) for c in org.telecom),
        )
        if len(problems) == before
        else None
    )
    entries: list[Entry] = []
    keys: set[tuple[str, str]] = set()
    for number, assignment in enumerate(org.roles):
        where = f"{path}.roles[{number}]"
        entry = _entry(
            assignment,
            where,
            teams=teams,
            workers=workers,
            organisation=organisation,
            problems=problems,
        )
        if entry is None:
            continue
        key = (entry[0].role.value, entry_key(entry[0], entry[1]))
        if key in keys:
            problems.append(Issue(where, "repeats an earlier assignment of this role", "value"))
        keys.add(key)
        entries.append(entry)
    return entries if len(problems) == before else None


def _entry(
    assignment: RoleAssignment,
    where: str,
    *,
    teams: dict[str, Team],
    workers: dict[str, DirectoryWorker],
    organisation: Organisation | None,
    problems: list[Issue],
) -> Entry | None:
    before = len(problems)
    if assignment.role not in ORGANISATIONAL_ROLES:
        problems.append(
            Issue(
                f"{where}.role",
                "is held for one person (kept in the index from partner messages); the directory "
                "holds: " + ", ".join(sorted(r.value for r in ORGANISATIONAL_ROLES)),
                "code-invalid",
            )
        )
    team = teams.get(assignment.team) if assignment.team else None
    worker = workers.get(assignment.worker) if assignment.worker else None
    if assignment.team is not None and team is None:
        problems.append(Issue(f"{where}.team", "names no team of this organisation", "value"))
    if assignment.worker is not None and worker is None:
        problems.append(Issue(f"{where}.worker", "names no worker of this organisation", "value"))
    if assignment.worker is None and assignment.team is None and not assignment.telecom:
        problems.append(Issue(where, "names no worker or team and gives no contact", "required"))
    _contacts(assignment.telecom, f"{where}.telecom", problems)
    _contacts(assignment.out_of_hours, f"{where}.out_of_hours", problems)
    if len(problems) != before or organisation is None:
        return None
    if team is None and worker is not None and worker.team is not None:
        team = teams[worker.team]
    telecom = assignment.telecom or (team.telecom if team else [])
    out_of_hours = assignment.out_of_hours or (team.out_of_hours if team else [])
    stored_worker = (
        Worker(
            id="worker",
            name=HumanName(given=tuple(worker.name.given), family=worker.name.family),
            local_id=worker.id,
            registration=SweRegistration(value=worker.registration)
            if worker.registration
            else None,
            professional_registration=worker.professional_registration,
            telecom=tuple(_point(c) for c in worker.telecom),
        )
        if worker is not None
        else None
    )
    role = WorkerRole(
        id="role",
        role=assignment.role,
        worker="worker" if stored_worker else None,
        organisation="organisation",
        team=team.name if team else None,
        telecom=tuple(_point(c) for c in telecom),
        out_of_hours=tuple(_point(c, out_of_hours=True) for c in out_of_hours),
    )
    return role, stored_worker, organisation


def _point(contact: Contact, *, out_of_hours: bool = False) -> ContactPoint:
    return ContactPoint(system=contact.system, value=contact.value, out_of_hours=out_of_hours)


# --- loading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadReport:
    """What a load wrote: the organisations replaced and the entries written (0 if unchanged)."""

    organisations: tuple[str, ...]
    entries: int
    changed: bool
    ledger_seqs: tuple[int, ...] = ()


def _stored(conn: Connection, organisations: list[str]) -> set[tuple[str, str, str, str, str]]:
    rows = conn.execute(
        select(
            directory_entries.c.organisation,
            directory_entries.c.role,
            directory_entries.c.entry_key,
            directory_entries.c.source,
            directory_entries.c.details,
        ).where(directory_entries.c.organisation.in_(organisations))
    )
    return {(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows}


def _wanted(entries: dict[str, list[Entry]], source: str) -> set[tuple[str, str, str, str, str]]:
    out = set()
    for code, items in entries.items():
        for role, worker, org in items:
            facts: tuple[Fact, ...] = tuple(f for f in (role, worker, org) if f is not None)
            out.add((code, role.role.value, entry_key(role, worker), source, details_json(facts)))
    return out


async def load_directory(
    checked: CheckedDirectory,
    committer: GroupCommitter,
    *,
    at: datetime,
    by: str,
    only_if_changed: bool = False,
) -> LoadReport:
    """Replace each organisation's entries with a checked file's, in one unit of work with its
    ``directory.loaded`` entry. ``only_if_changed`` (start-up) writes nothing, and records
    nothing, when the stored entries are already the file's."""
    if not checked.valid:
        raise ValueError("only a valid directory file can be loaded")
    organisations = sorted(checked.entries)
    written = {"entries": 0, "changed": 0}

    def write(conn: Connection) -> None:
        written.update(entries=0, changed=0)
        if only_if_changed and _stored(conn, organisations) == _wanted(checked.entries, "file"):
            return
        written["changed"] = 1
        for code in organisations:
            written["entries"] += replace_entries(
                conn, code, checked.entries[code], source="file", at=at
            )

    def events() -> list[AuditEvent]:
        if not written["changed"]:
            return []
        return [
            DirectoryLoaded(
                at=at,
                file_sha256=checked.file_sha256,
                organisations=tuple(organisations),
                entries=written["entries"],
                by=by,
            )
        ]

    seqs = await committer.submit(UnitOfWork(events=events, writes=[write]))
    return LoadReport(
        tuple(organisations), written["entries"], bool(written["changed"]), tuple(seqs)
    )


def read_directory_file(path: Path) -> CheckedDirectory:
    """Read and check a file (FileNotFoundError / OSError propagate to the caller)."""
    return check_directory(path.read_bytes())
