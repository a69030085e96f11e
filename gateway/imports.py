"""Batch imports into the index: the DfE Children in Need census (``joinedup import cin-census``).

Each file is streamed (``adapters.cin_census``) and its children are learnt into the index through
the group committer, exactly as partner messages are: one unit of work per batch of children,
whose write calls ``index.learn`` for each child as the importing council (partner
``cin-census-<LEA>``, organisations ``(LEA,)``), and whose audit events are one
``index.updated`` per batch; one ``import.completed`` per file follows with the file's counts.
Learning skips whatever the index already holds, so importing a file twice changes nothing the
second time.
After each batch is committed, its children are looked at for think family
(``gateway.workflows.think_family.ImportFlags``): a child the return makes open to social care
whose parent has a care coordinator raises its flags, decided and committed as an exchange.

While one batch is being written, the next is read in a parser thread. Reporting is the reader's:
every problem with file, line, element and reason, and what it cost.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy import Connection
from tqdm import tqdm

from adapters.cin_census import ChildResult, CinCensusReader, Effect, Problem, partner_id
from gateway.audit.events import AuditEvent, ImportCompleted, IndexUpdated
from gateway.errors import Unavailable
from gateway.index import Learnt, learn
from gateway.settings import PartnerSettings, Settings
from gateway.store import migrate
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.workflows.think_family import ImportFlags
from schemas.message import CanonicalMessage

log = structlog.get_logger(__name__)

SOURCE_FORMAT = "cin-census"
BATCH_SIZE = 200


@dataclass
class FileReport:
    """What importing one file did."""

    path: str
    organisation: str | None = None  # the council's DfE LA code, once the header was read
    children: int = 0  # Child elements read
    imported: int = 0  # children learnt into the index (with or without problems)
    problems: list[Problem] = field(default_factory=list)
    persons: int = 0  # what the index learnt: new people, identifiers, episodes written
    identifiers: int = 0
    episodes: int = 0
    file_sha256: str | None = None
    unusable: bool = False  # missing, unreadable or not XML at all
    refused: bool = False  # nothing imported from it (unusable, DOCTYPE, not a CIN return...)
    write_failed: bool = False  # the index could not be written: the import stopped

    @property
    def skipped(self) -> int:
        """Children read but not imported."""
        return self.children - self.imported

    @property
    def clean(self) -> bool:
        return not self.problems and not self.refused

    def summary(self) -> str:
        """One line for people."""
        if self.unusable:
            state = "not read"
        elif self.write_failed:
            state = "stopped: the index could not be written"
        elif self.refused:
            state = "refused"
        else:
            state = "imported" if self.clean else "imported with problems"
        return (
            f"{self.path}: {state}: {self.children} children, {self.imported} imported, "
            f"{self.skipped} not imported, {len(self.problems)} problems; the index learnt "
            f"{self.persons} people, {self.identifiers} identifiers, {self.episodes} episodes"
        )


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Every file's report, in the order given."""

    files: tuple[FileReport, ...]

    @property
    def problems(self) -> list[Problem]:
        return [p for f in self.files for p in f.problems]

    @property
    def exit_code(self) -> int:
        """0: every file imported cleanly; 1: problems were reported (the rest imported);
        2: a file was unusable (missing, unreadable, not XML at all) or could not be written."""
        if any(f.unusable or f.write_failed for f in self.files):
            return 2
        return 1 if any(not f.clean for f in self.files) else 0


async def import_cin_census(
    paths: Sequence[str | Path],
    settings: Settings,
    *,
    progress: bool = True,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import CIN census files into the index of the database ``settings`` names."""
    if settings.auto_migrate:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
    # The engine plans each PostgreSQL statement for the data as it is (plan_cache_mode), which
    # matters here: an import grows the index from empty in one session.
    writer = create_sync_engine_for(settings.database_url, schema=settings.database_schema)
    committer = GroupCommitter(writer, max_batch=settings.commit_max_batch)
    # lxml parsers belong to the thread that made them: one parser thread for the whole import.
    parsing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cin-census-parser")
    await committer.start()
    # Think family (issue 7): the children a batch makes open to social care, flagged after it.
    flags = ImportFlags.start(settings, committer)
    try:
        reports = []
        for path in paths:
            show = progress and sys.stderr.isatty()
            reports.append(
                await _import_file(str(path), committer, parsing, show, batch_size, flags=flags)
            )
    finally:
        await flags.close()
        await committer.stop()
        parsing.shutdown(wait=True)
        writer.dispose()
    return ImportReport(tuple(reports))


def _council(la_code: str) -> PartnerSettings:
    return PartnerSettings(
        id=partner_id(la_code),
        name=f"CIN census import for council {la_code}",
        organisations=(la_code,),
        format=SOURCE_FORMAT,
    )


def _size_of(path: str) -> int | None:
    file = Path(path)
    return file.stat().st_size if file.is_file() else None


def _take(children: Iterator[ChildResult], count: int) -> list[ChildResult]:
    taken: list[ChildResult] = []
    for result in children:
        taken.append(result)
        if len(taken) == count:
            break
    return taken


@dataclass
class _Batch:
    """One unit of work: the children it learns and what learning them taught the index."""

    messages: list[CanonicalMessage]
    partner: PartnerSettings
    learnt: Learnt = field(default_factory=Learnt)

    def write(self, conn: Connection) -> None:
        # A failed batch is retried alone by the committer: count from zero on every attempt.
        self.learnt = Learnt()
        for message in self.messages:
            learn(conn, message, self.partner, self.learnt)

    def events(self) -> list[AuditEvent]:
        return [
            IndexUpdated(
                at=datetime.now(UTC),
                partner=self.partner.id,
                persons=self.learnt.persons,
                identifiers=self.learnt.identifiers,
                family_links=self.learnt.family_links,
                worker_roles=self.learnt.worker_roles,
                episodes=self.learnt.episodes,
            )
        ]

    def unit(self) -> UnitOfWork:
        return UnitOfWork(events=self.events, writes=[self.write])


async def _import_file(
    path: str,
    committer: GroupCommitter,
    parsing: ThreadPoolExecutor,
    show_progress: bool,
    batch_size: int,
    *,
    flags: ImportFlags,
) -> FileReport:
    report = FileReport(path)
    loop = asyncio.get_running_loop()
    size = await loop.run_in_executor(parsing, _size_of, path)
    if size is None:
        report.problems.append(Problem(path, 0, "/", "no such file", Effect.NOT_READ))
        report.unusable = report.refused = True
        return report
    reader = CinCensusReader(path, file_name=path)
    children = iter(reader)
    child_problems: list[Problem] = []
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=Path(path).name,
        file=sys.stderr,
        disable=not show_progress,
        leave=True,
    )
    pending: tuple[asyncio.Future[list[int]], _Batch, list[ChildResult]] | None = None
    failed = False
    try:
        while True:
            results = await loop.run_in_executor(parsing, _take, children, batch_size)
            bar.update(reader.bytes_read - bar.n)
            if pending is not None and not await _settle(pending, report, child_problems, flags):
                failed = True
                break
            pending = None
            if not results:
                break
            report.children += len(results)
            for result in results:
                child_problems.extend(result.problems)
            messages = [r.message for r in results if r.message is not None]
            if messages and reader.header is not None:
                batch = _Batch(messages, _council(reader.header.la_code))
                pending = (asyncio.ensure_future(committer.submit(batch.unit())), batch, results)
        if pending is not None and not await _settle(pending, report, child_problems, flags):
            failed = True
    finally:
        # Finish the file (or close it after a failure) in the parser thread that opened it.
        await loop.run_in_executor(parsing, _finish, children)
        bar.update(reader.bytes_read - bar.n)
        bar.close()
    report.organisation = reader.header.la_code if reader.header else None
    report.problems = sorted(
        [*reader.file_problems, *child_problems], key=lambda p: (p.line, p.element)
    )
    report.unusable = reader.unusable
    report.refused = reader.refused
    report.file_sha256 = reader.sha256()
    if failed:
        return report
    await _audit_file(committer, report)
    return report


async def _settle(
    pending: tuple[asyncio.Future[list[int]], _Batch, list[ChildResult]],
    report: FileReport,
    child_problems: list[Problem],
    flags: ImportFlags,
) -> bool:
    """Wait for a batch's commit and count it; on failure report its children, return False."""
    future, batch, results = pending
    try:
        await future
    except Unavailable:
        log.error("cin_census_batch_failed", children=len(results))
        first, last = results[0].index, results[-1].index
        child_problems.append(
            Problem(
                report.path,
                results[0].line,
                f"/Message/Children/Child[{first}]",
                f"the index could not be written: children {first} to {last} and every later "
                "child of this file were not imported",
                Effect.READING_STOPPED,
            )
        )
        report.write_failed = True
        return False
    report.imported += len(batch.messages)
    report.persons += batch.learnt.persons
    report.identifiers += batch.learnt.identifiers
    report.episodes += batch.learnt.episodes
    await flags.after_batch(batch.messages, batch.partner)
    return True


def _finish(children: Iterator[ChildResult]) -> None:
    # Closing the reader's generator (a no-op once it is exhausted) hashes the rest of the file
    # without parsing it and closes the file: after a failure, nothing more is read as XML.
    close = getattr(children, "close", None)
    if close is not None:
        close()


async def _audit_file(committer: GroupCommitter, report: FileReport) -> None:
    event = ImportCompleted(
        at=datetime.now(UTC),
        partner=partner_id(report.organisation) if report.organisation else None,
        source_format=SOURCE_FORMAT,
        file_sha256=report.file_sha256 or "",
        organisation=report.organisation or "unknown",
        records=report.children,
        imported=report.imported,
        problems=len(report.problems),
        persons=report.persons,
        identifiers=report.identifiers,
        episodes=report.episodes,
    )
    await committer.submit(UnitOfWork(events=lambda: [event]))
