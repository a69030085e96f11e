"""Stream a CIN census return: the header, then one result per child, in flat memory.

    reader = CinCensusReader(path)
    for result in reader:          # ChildResult: a canonical message or the child's problems
        ...
    reader.header, reader.file_problems, reader.sha256()

Two passes over the start of the file, one over the rest:

1. A prolog check reads until the root element starts (at most 1 MiB) and refuses a DOCTYPE of
   any kind, or a root other than ``Message``, before anything else is parsed.
2. ``lxml.etree.iterparse`` on ``end`` events for ``Header``, ``Child`` and ``Children`` only: each
   ``Child`` is mapped, then cleared and dropped with everything before it, so memory holds one
   child at a time whatever the file's size.

Defused, and why (SECURITY): a CIN census return is plain XML without a DOCTYPE, so a DOCTYPE can
only be a mistake or an attack. Entities declared in one can expand without bound (the "billion
laughs" bomb) or, as external entities, read local files or reach the network (XXE); an external
DTD would be fetched. The parser never resolves entities (``resolve_entities=False``), never
loads a DTD (``load_dtd=False``), never touches the network (``no_network=True``) and keeps
libxml2's limits on depth (256) and text size (10 MB) (``huge_tree=False``), and on top of that
any DOCTYPE refuses the whole file with a specific problem: nothing declared in one is ever
acted on, and nothing from such a file is imported.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import IO, Any

from lxml import etree

from adapters.cin_census.child import (
    CensusHeader,
    ChildResult,
    FileState,
    Walker,
    read_child,
)
from adapters.cin_census.problems import Effect, Problem

SAFE_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
PROLOG_LIMIT = 1 << 20  # the root element must start within the first MiB
_CHUNK = 1 << 16
_PROLOG_PIECE = 1 << 12
_LEA = re.compile(r"^\d{3}$")
_YEAR = re.compile(r"^\d{4}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_POSITION = re.compile(r",? line \d+, column \d+\s*$")

_HEADER = frozenset({"CollectionDetails", "Source"})
_COLLECTION = frozenset({"Collection", "Year", "ReferenceDate"})
_SOURCE = frozenset({"SourceLevel", "LEA", "SoftwareCode", "Release", "SerialNo", "DateTime"})
_MESSAGE = frozenset({"Header", "Children"})

Source = str | os.PathLike[str] | IO[bytes]


def syntax_reason(exc: etree.XMLSyntaxError) -> str:
    """libxml2's description of a syntax error, without position or quoted bytes of the file."""
    text = _POSITION.sub("", str(exc.msg or "not well-formed"))
    # Some messages go on to quote the offending bytes or names ("...: Bytes: 0xE9 ..."): keep
    # the description before them.
    return text.split(":", 1)[0].split("!", 1)[0].strip() or "not well-formed"


class _Hashing:
    """A binary stream that hashes and counts what the parser reads from it."""

    def __init__(self, stream: IO[bytes], reader: CinCensusReader) -> None:
        self._stream = stream
        self._reader = reader

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._reader._seen(chunk)
        return chunk


class CinCensusReader:
    """One CIN census file, read as a stream of :class:`ChildResult`.

    ``source`` is a path or a seekable binary stream. ``file_name`` names the file in problems
    (default: the path as given). After iterating: ``header`` (None if the file was refused
    before it), ``file_problems`` (header and file-level problems, in file order), ``children``
    (``Child`` elements read), ``unusable`` (missing, unreadable or not XML at all), ``refused``
    (nothing imported: ``unusable``, a DOCTYPE, not a CIN return, an unusable header) and
    :meth:`sha256` of the whole file.
    """

    def __init__(
        self, source: Source, *, file_name: str | None = None, received_at: datetime | None = None
    ) -> None:
        self._source = source
        self.file_name = file_name or (
            os.fspath(source) if isinstance(source, str | os.PathLike) else "<stream>"
        )
        self.received_at = received_at or datetime.now(UTC)
        self.header: CensusHeader | None = None
        self.file_problems: list[Problem] = []
        self.children = 0
        self.bytes_read = 0
        self.size: int | None = None
        self.unusable = False
        self.refused = False
        self._sha = hashlib.sha256()
        self._hashed_from_start = False
        self._last_child: etree._Element | None = None
        self._children_text_checked = False

    # --- public --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[ChildResult]:
        if isinstance(self._source, str | os.PathLike):
            try:
                stream: IO[bytes] = open(self._source, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                self._file_problem(0, "/", f"cannot be read ({exc.strerror})", Effect.NOT_READ)
                self.unusable = self.refused = True
                return
            try:
                yield from self._read(stream)
            finally:
                stream.close()
        else:
            yield from self._read(self._source)

    def sha256(self) -> str:
        """SHA-256 of the whole file (complete once iteration has finished)."""
        return self._sha.hexdigest()

    @property
    def problems(self) -> int:
        """How many file-level problems so far."""
        return len(self.file_problems)

    # --- the passes ----------------------------------------------------------------------------

    def _read(self, stream: IO[bytes]) -> Iterator[ChildResult]:
        self.size = _size_of(stream)
        try:
            if self._prolog_ok(stream):
                stream.seek(0)
                self._hashed_from_start = True
                yield from self._parse(_Hashing(stream, self))
        finally:
            self._drain(stream)

    def _seen(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        self.bytes_read += len(chunk)

    def _drain(self, stream: IO[bytes]) -> None:
        # Hash what the parser did not read (the rest after a stop, or all of a refused file).
        try:
            if not self._hashed_from_start:
                stream.seek(0)
            while chunk := stream.read(_CHUNK):
                self._seen(chunk)
        except (OSError, ValueError):  # pragma: no cover - a closed or unseekable stream
            return

    def _prolog_ok(self, stream: IO[bytes]) -> bool:
        """Everything before the root element: XML at all, no DOCTYPE, root ``Message``.

        Fed in small pieces so that the root's start is seen before whatever follows it; a
        syntax error further on (in the same piece) is left for the main pass to report where
        it is, unless the root was never reached.
        """
        parser = etree.XMLPullParser(events=("start",), **SAFE_PARSER_OPTIONS)
        head = bytearray()
        error: etree.XMLSyntaxError | None = None
        while len(head) < PROLOG_LIMIT:
            chunk = stream.read(_PROLOG_PIECE)
            try:
                if chunk:
                    head += chunk
                    parser.feed(chunk)
                elif head:
                    parser.close()
            except etree.XMLSyntaxError as exc:
                error = exc
            for _event, root in parser.read_events():
                return self._root_ok(root, bytes(head))
            if error is not None or not chunk:
                break
        if not head:
            self._not_read(1, "the file is empty")
        elif error is not None:
            self._not_read(error.lineno, f"not XML ({syntax_reason(error)})")
        else:
            self._not_read(1, "no root element in the first MiB: not a CIN census return")
        return False

    def _root_ok(self, root: etree._Element, head: bytes) -> bool:
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            at = head.find(b"<!DOCTYPE")
            line = head[:at].count(b"\n") + 1 if at >= 0 else 1
            self._refuse(line, "<!DOCTYPE>", _doctype_reason(docinfo))
            return False
        if root.tag != "Message":
            self._refuse(
                root.sourceline,
                f"/{_tag(root)}",
                "the root element is not Message: not a CIN census return",
            )
            return False
        return True

    def _parse(self, stream: _Hashing) -> Iterator[ChildResult]:
        events = etree.iterparse(
            stream, events=("end",), tag=("Header", "Child", "Children"), **SAFE_PARSER_OPTIONS
        )
        state: FileState | None = None
        try:
            for _event, el in events:
                tag = el.tag
                if tag == "Child":
                    if state is None:
                        self._refuse(
                            el.sourceline,
                            "/Message/Header",
                            "missing before the first Child: the council's LEA code is needed "
                            "to import any child",
                        )
                        return
                    result = self._child(el, state)
                    if result is not None:
                        yield result
                elif tag == "Header":
                    parent = el.getparent()
                    if parent is None or parent.getparent() is not None:
                        self._file_problem(
                            el.sourceline,
                            "/Message",
                            "a Header outside Message: ignored",
                            Effect.REPORTED,
                        )
                        continue
                    if state is not None:
                        self._file_problem(
                            el.sourceline,
                            "/Message/Header",
                            "a second Header: ignored",
                            Effect.REPORTED,
                        )
                        continue
                    state = self._header(el)
                    if state is None:
                        return
                elif _is_top_children(el):
                    self._end_of_children(el)
        except etree.XMLSyntaxError as exc:
            self._file_problem(
                exc.lineno,
                "/",
                f"the XML is not well-formed here ({syntax_reason(exc)}): children after this "
                "point were not read",
                Effect.READING_STOPPED,
            )
            return
        self._end_of_message(events.root, state)

    # --- children ------------------------------------------------------------------------------

    def _child(self, el: etree._Element, state: FileState) -> ChildResult | None:
        parent = el.getparent()
        if parent is None or not _is_top_children(parent):
            self._file_problem(
                el.sourceline,
                "/Message",
                "a Child outside /Message/Children: not imported",
                Effect.CHILD_SKIPPED,
            )
            return None
        self._between_children(parent, el)
        self.children += 1
        try:
            result = read_child(el, self.children, state)
        except Exception as exc:  # noqa: BLE001 - one child's fault must never stop an import
            # Not expected (the mapping checks every value first, and fuzzing found nothing), but
            # a batch import of files from outside must report, not crash: the child is left out
            # and named, with the error's type only (its message could quote a value).
            path = f"/Message/Children/Child[{self.children}]"
            problem = Problem(
                self.file_name,
                el.sourceline or 0,
                path,
                f"could not be mapped ({type(exc).__name__}): please report this to the gateway's "
                "maintainers",
                Effect.CHILD_SKIPPED,
            )
            result = ChildResult(self.children, el.sourceline or 0, None, (problem,))
        # Flat memory: empty this child (its tail is checked with the next one) and drop every
        # element before it, which has been checked already.
        el.clear(keep_tail=True)
        while el.getprevious() is not None:
            del parent[0]
        self._last_child = el
        return result

    def _between_children(self, children: etree._Element, el: etree._Element | None) -> None:
        """Report what lies between the previous ``Child`` and ``el`` (None: the end)."""
        if not self._children_text_checked:
            self._children_text_checked = True
            if children.text and not children.text.isspace():
                self._file_problem(
                    children.sourceline,
                    "/Message/Children",
                    "text inside an element that holds elements only: ignored",
                    Effect.REPORTED,
                )
        for sibling in children:
            if sibling is el:
                break
            if sibling is not self._last_child:
                self._file_problem(
                    sibling.sourceline,
                    f"/Message/Children/{_tag(sibling)}",
                    "not an element of the CIN census at this place: ignored",
                    Effect.REPORTED,
                )
            if sibling.tail and not sibling.tail.isspace():
                where = (
                    f"/Message/Children/Child[{self.children}]"
                    if sibling is self._last_child
                    else f"/Message/Children/{_tag(sibling)}"
                )
                self._file_problem(
                    sibling.sourceline,
                    where,
                    "text after this element, where the schema allows elements only: ignored",
                    Effect.REPORTED,
                )

    def _end_of_children(self, children: etree._Element) -> None:
        self._between_children(children, None)
        if self.children == 0:
            self._file_problem(
                children.sourceline,
                "/Message/Children",
                "has no Child: the schema requires at least one",
                Effect.REPORTED,
            )

    def _end_of_message(self, root: etree._Element | None, state: FileState | None) -> None:
        if root is None:  # pragma: no cover - the prolog check saw the root
            return
        if root.text and not root.text.isspace():
            self._file_problem(
                root.sourceline,
                "/Message",
                "text inside an element that holds elements only: ignored",
                Effect.REPORTED,
            )
        seen: set[str] = set()
        for el in root:
            tag = _tag(el)
            if tag not in _MESSAGE:
                self._file_problem(
                    el.sourceline,
                    f"/Message/{tag}",
                    "not an element of the CIN census at this place: ignored",
                    Effect.REPORTED,
                )
            elif tag in seen and tag == "Children":
                self._file_problem(
                    el.sourceline, "/Message/Children", "a second Children", Effect.REPORTED
                )
            seen.add(tag)
            if el.tail and not el.tail.isspace():
                self._file_problem(
                    el.sourceline,
                    f"/Message/{tag}",
                    "text after this element, where the schema allows elements only: ignored",
                    Effect.REPORTED,
                )
        if state is None:
            self._refuse(
                root.sourceline,
                "/Message/Header",
                "missing: the council's LEA code is needed to import any child",
            )
        elif "Children" not in seen:
            self._file_problem(
                root.sourceline, "/Message/Children", "missing (required)", Effect.REPORTED
            )

    # --- the header ----------------------------------------------------------------------------

    def _header(self, el: etree._Element) -> FileState | None:
        walker = Walker(self.file_name)
        path = "/Message/Header"
        parts = walker.group(el, path, _HEADER)
        collection, year, reference_date = None, None, None
        details = walker.single(
            parts, "CollectionDetails", el, path, Effect.REPORTED, required=True
        )
        if details is not None:
            collection, year, reference_date = _collection(walker, *details)
        la_code = None
        source = walker.single(parts, "Source", el, path, Effect.FILE_REFUSED, required=True)
        if source is not None:
            la_code = _source(walker, *source)
        self.file_problems.extend(walker.problems)
        if la_code is None or any(p.effect is Effect.FILE_REFUSED for p in walker.problems):
            self.refused = True
            return None
        self.header = CensusHeader(la_code, collection, year, reference_date, el.sourceline or 0)
        return FileState(self.file_name, self.header, self.received_at)

    # --- reporting -----------------------------------------------------------------------------

    def _file_problem(self, line: int | None, element: str, reason: str, effect: Effect) -> None:
        self.file_problems.append(Problem(self.file_name, line or 0, element, reason, effect))

    def _refuse(self, line: int | None, element: str, reason: str) -> None:
        self._file_problem(line, element, reason, Effect.FILE_REFUSED)
        self.refused = True

    def _not_read(self, line: int | None, reason: str) -> None:
        self._file_problem(line, "/", reason, Effect.NOT_READ)
        self.unusable = self.refused = True


def _collection(
    walker: Walker, el: etree._Element, path: str
) -> tuple[str | None, int | None, date | None]:
    parts = walker.group(el, path, _COLLECTION)
    reported = Effect.REPORTED
    collection = None
    found = walker.single(parts, "Collection", el, path, reported, required=True)
    if found is not None:
        collection = walker.value(found[0], found[1], reported)
        if collection is not None and collection != "CIN":
            walker.problem(
                found[0].sourceline,
                found[1],
                "not CIN: this is not a Children in Need census return",
                Effect.FILE_REFUSED,
            )
    year = None
    found = walker.single(parts, "Year", el, path, reported, required=True)
    if found is not None:
        text = walker.value(found[0], found[1], reported)
        if text is not None and _YEAR.match(text):
            year = int(text)
        elif text is not None:
            walker.problem(found[0].sourceline, found[1], "not a year (YYYY)", reported)
    reference_date = walker.date_of(
        walker.single(parts, "ReferenceDate", el, path, reported, required=True), reported
    )
    if reference_date is not None and year is not None and reference_date != date(year, 3, 31):
        walker.problem(
            _line_of(parts, "ReferenceDate"),
            f"{path}/ReferenceDate",
            "not 31 March of the collection Year (DfE rule 100)",
            reported,
        )
    return collection, year, reference_date


def _source(walker: Walker, el: etree._Element, path: str) -> str | None:
    parts = walker.group(el, path, _SOURCE)
    level = walker.single(parts, "SourceLevel", el, path, Effect.REPORTED, required=False)
    if level is not None:
        text = walker.value(level[0], level[1], Effect.REPORTED)
        if text is not None and text != "L":
            walker.problem(
                level[0].sourceline, level[1], "not L (local authority)", Effect.REPORTED
            )
    found = walker.single(parts, "LEA", el, path, Effect.FILE_REFUSED, required=True)
    if found is None:
        return None
    text = walker.value(found[0], found[1], Effect.FILE_REFUSED)
    if text is None:
        return None
    if not _LEA.match(text):
        walker.problem(
            found[0].sourceline,
            found[1],
            "not a DfE LA code (three digits): every child id is namespaced by it",
            Effect.FILE_REFUSED,
        )
        return None
    return text


def _line_of(parts: dict[str, list[tuple[etree._Element, str]]], tag: str) -> int:
    return parts[tag][0][0].sourceline or 0


def _tag(el: etree._Element) -> str:
    tag = el.tag
    return tag if isinstance(tag, str) else "?"


def _is_top_children(el: etree._Element) -> bool:
    parent = el.getparent()
    return el.tag == "Children" and parent is not None and parent.getparent() is None


def _doctype_reason(docinfo: etree.DocInfo) -> str:
    dtd = docinfo.internalDTD
    entities = list(dtd.iterentities()) if dtd is not None else []
    if any(entity.system_url for entity in entities):
        return (
            "the DOCTYPE declares an external entity, which could read local files or reach the "
            "network (XXE): refused"
        )
    if entities:
        return (
            "the DOCTYPE declares entities, which can expand without bound (an XML bomb): refused"
        )
    if docinfo.system_url or docinfo.public_id:
        return "the DOCTYPE names an external DTD, which a parser would fetch: refused"
    return (
        "a CIN census return has no DOCTYPE, and one can declare entities or fetch files: refused"
    )


def _size_of(stream: IO[bytes]) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        pass
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
    except (OSError, ValueError):
        return None
    return end
