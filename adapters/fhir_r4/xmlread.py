"""FHIR XML to the JSON shape the focused reader walks, parsed safely.

Why a conversion of our own rather than ``fhir.resources``' ``model_validate_xml``: that builds and
validates the full R4B models (the cost the hot path avoids for JSON, several times the focused
parse), and its errors would mix XML faults with R4B validation. Here lxml parses, and the element
tree is turned into exactly the JSON the FHIR JSON rules give, so JSON and XML meet the same
focused checks and give the same canonical facts and the same issue paths. What the conversion
needs to know of each element (repeating or not; boolean, number, string, narrative, complex or a
contained resource) comes from the R4B model definitions, read once per type and cached: an
element is an array in JSON when its definition repeats, however many times it occurs.

The FHIR XML rules applied (https://hl7.org/fhir/R4/xml.html and json.html):

* primitives carry their value in a ``value`` attribute; ``id`` and ``extension`` on a primitive go
  to ``_name`` (arrays of primitives get an aligned ``_name`` array with nulls);
* ``id`` on a complex element, ``url`` on an extension, become properties;
* resources sit inside a container element (``entry.resource``, ``contained``) as a single child
  named by the type, which becomes ``resourceType``;
* ``text.div`` is XHTML and becomes its serialised markup;
* no text content, no other attributes, no other namespaces.

Safety: a document type declaration is refused before parsing (so no DTD, no entity, no XML bomb);
the parser also resolves no entities, loads no DTD, uses no network, keeps libxml2's size limits
(``huge_tree`` off) and reads only UTF-8, the encoding FHIR requires. Nesting is limited to
``MAX_DEPTH``. Faults are reported as issues naming the element path, never a value: lxml's own
messages can quote the document, so only its line number is passed on.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any

from lxml import etree

from adapters.fhir_r4.limits import MAX_DEPTH, too_deep
from adapters.fhir_r4.walk import JsonObject
from gateway.errors import InvalidMessage, Issue

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_FHIR = f"{{{FHIR_NS}}}"
_FHIR_LENGTH = len(_FHIR)
_INTEGER_TYPES = frozenset({"Integer", "PositiveInt", "UnsignedInt", "Integer64"})


@dataclass(frozen=True, slots=True)
class _Element:
    """What the conversion needs to know of one element of a type."""

    repeats: bool
    kind: str  # "complex", "resource", "xhtml", "boolean", "integer", "decimal", "string"
    model: Any = None  # the R4B model of a complex element


def _models() -> tuple[Any, Any]:
    # Imported on first use: loading the R4B models takes a third of a second.
    from fhir.resources.R4B import get_fhir_model_class  # noqa: PLC0415
    from fhir.resources.R4B.resource import Resource  # noqa: PLC0415

    return get_fhir_model_class, Resource


@lru_cache(maxsize=512)  # bounded: the names come from the input
def resource_model(name: str) -> Any:
    """The R4B model class of a resource type, or None if ``name`` is not one."""
    model_class, resource = _models()
    try:
        model = model_class(name)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None
    return model if isinstance(model, type) and issubclass(model, resource) else None


def _describe(annotation: Any) -> _Element:
    repeats = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0]
        elif origin is list:
            repeats, annotation = True, typing.get_args(annotation)[0]
        else:
            break
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        marker = type(meta[0]).__name__ if meta else ""
        if marker == "Xhtml":
            return _Element(repeats, "xhtml")
        if marker in _INTEGER_TYPES:
            return _Element(repeats, "integer")
        if base is Decimal:
            return _Element(repeats, "decimal")
        return _Element(repeats, "string")
    if annotation is bool:
        return _Element(repeats, "boolean")
    name = getattr(annotation, "__name__", "")
    if name == "ResourceType":
        return _Element(repeats, "resource")
    loader = getattr(annotation, "get_model_klass", None)
    if loader is not None:
        return _Element(repeats, "complex", loader())
    return _Element(repeats, "string")


@cache
def _elements(model: Any) -> dict[str, _Element]:
    """Every element of a model by its FHIR name (extension siblings ``_x`` left out)."""
    found: dict[str, _Element] = {}
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if alias.startswith("_") or name == "fhir_comments" or alias == "resourceType":
            continue
        found[alias] = _describe(field.annotation)
    return found


_UNKNOWN_COMPLEX = _Element(False, "complex")
_UNKNOWN_COMPLEX_LIST = _Element(True, "complex")
_UNKNOWN_STRING = _Element(False, "string")
_UNKNOWN_STRING_LIST = _Element(True, "string")
_XHTML = _Element(False, "xhtml")
_DIV = f"{{{XHTML_NS}}}div"
_TEXT = "must not hold text: FHIR XML values are in value attributes"
_ATTRIBUTE = "has an attribute FHIR XML does not define here"

# A location is built only when there is a fault to report: (parent location, name, index).
Location = tuple[Any, str, int | None] | str


def _render(location: Location) -> str:
    parts: list[str] = []
    while not isinstance(location, str):
        location, name, index = location
        parts.append(name if index is None else f"{name}[{index}]")
    parts.append(location)
    return ".".join(reversed(parts))


class _Converter:
    """One document's conversion, collecting every fault found."""

    __slots__ = ("issues",)

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def fault(self, location: Location, reason: str, code: str = "structure") -> None:
        self.issues.append(Issue(_render(location), reason, code))

    def resource(self, element: Any, location: Location, depth: int) -> JsonObject:
        tag = element.tag
        if not isinstance(tag, str) or not tag.startswith(_FHIR):
            self.fault(location, "must be a resource in the FHIR namespace (http://hl7.org/fhir)")
            return {}
        name = tag[_FHIR_LENGTH:]
        # An unknown type is converted without definitions; the reader reports it as unmapped.
        result: JsonObject = {"resourceType": name}
        if element.attrib:
            self.fault(location, "a resource element has no attributes")
        self.children(element, resource_model(name), result, location, depth)
        return result

    def children(
        self, element: Any, model: Any, result: JsonObject, location: Location, depth: int
    ) -> None:
        if depth > MAX_DEPTH:
            raise too_deep(_render(location))
        schema = _elements(model) if model is not None else {}
        for name, found in self.grouped(element, schema, model is None, location).items():
            items = found
            definition = schema.get(name)
            if definition is None and items[0].tag == _DIV:
                definition = _XHTML
            elif definition is None:
                complex_ = _is_complex(items)
                if len(items) > 1:
                    definition = _UNKNOWN_COMPLEX_LIST if complex_ else _UNKNOWN_STRING_LIST
                else:
                    definition = _UNKNOWN_COMPLEX if complex_ else _UNKNOWN_STRING
            elif not definition.repeats and len(items) > 1:
                self.fault((location, name, None), "must not repeat")
                items = items[:1]
            self.convert(name, items, definition, (result, location, depth))

    def grouped(
        self, element: Any, schema: dict[str, _Element], untyped: bool, location: Location
    ) -> dict[str, list[Any]]:
        """The child elements by name, in order of first appearance (text refused)."""
        text = element.text
        if text is not None and not text.isspace():
            self.fault(location, _TEXT)
        groups: dict[str, list[Any]] = {}
        for child in element:
            tag = child.tag
            tail = child.tail
            if tail is not None and not tail.isspace():
                self.fault(location, _TEXT)
            if tag.__class__ is not str:
                continue  # comments and processing instructions carry nothing
            if tag.startswith(_FHIR):
                name = tag[_FHIR_LENGTH:]
            elif tag == _DIV and ("div" in schema or untyped):
                name = "div"  # narrative (of a type without definitions too: it is kept whole)
            else:
                self.fault(location, "holds an element outside the FHIR namespace")
                continue
            group = groups.get(name)
            if group is None:
                groups[name] = [child]
            else:
                group.append(child)
        return groups

    def convert(
        self,
        name: str,
        items: list[Any],
        definition: _Element,
        into: tuple[JsonObject, Location, int],
    ) -> None:
        """One group of same-named elements into the JSON object ``into`` names."""
        result, location, depth = into
        repeats, kind = definition.repeats, definition.kind
        if kind == "complex":
            values = [
                self.complex(
                    item, definition.model, (location, name, i if repeats else None), depth + 1
                )
                for i, item in enumerate(items)
            ]
            result[name] = values if repeats else values[0]
        elif kind == "resource":
            values = [
                self.contained(item, (location, name, i if repeats else None), depth + 1)
                for i, item in enumerate(items)
            ]
            result[name] = values if repeats else values[0]
        elif kind == "xhtml":
            markup = [etree.tostring(item, encoding="unicode", with_tail=False) for item in items]
            result[name] = markup if repeats else markup[0]
        else:
            self.primitives(name, items, definition, into)

    def primitives(
        self,
        name: str,
        items: list[Any],
        definition: _Element,
        into: tuple[JsonObject, Location, int],
    ) -> None:
        """One group of primitive elements, into (the JSON object, its location, its depth)."""
        result, location, depth = into
        repeats, kind = definition.repeats, definition.kind
        values: list[object] = []
        extras: list[JsonObject | None] = []
        for i, item in enumerate(items):
            attributes = item.attrib
            value = attributes.get("value")
            if value is not None and kind != "string":
                value = self.typed(value, kind, (location, name, i if repeats else None))
            values.append(value)
            if len(item) or len(attributes) > (value is not None):
                extras.append(self.extras(item, (location, name, i if repeats else None), depth))
            else:
                extras.append(None)
        if repeats:
            if any(v is not None for v in values):
                result[name] = values
            if any(e is not None for e in extras):
                result[f"_{name}"] = extras
        else:
            if values[0] is not None:
                result[name] = values[0]
            if extras[0] is not None:
                result[f"_{name}"] = extras[0]

    def contained(self, element: Any, location: Location, depth: int) -> JsonObject:
        if element.attrib:
            self.fault(location, "must have no attributes: it holds one resource")
        text = element.text
        if text is not None and not text.isspace():
            self.fault(location, _TEXT)
        inner = [c for c in element if c.tag.__class__ is str]
        if len(inner) != 1:
            self.fault(location, "must hold exactly one resource")
            return {}
        return self.resource(inner[0], location, depth + 1)

    def complex(self, element: Any, model: Any, location: Location, depth: int) -> JsonObject:
        result: JsonObject = {}
        for attribute, value in element.attrib.items():
            if attribute in ("id", "url"):
                result[attribute] = value
            else:
                self.fault(location, _ATTRIBUTE)
        self.children(element, model, result, location, depth)
        return result

    def typed(self, value: str, kind: str, location: Location) -> object:
        if kind == "boolean":
            if value not in ("true", "false"):
                self.fault(location, "must be true or false", "value")
                return None
            return value == "true"
        if kind == "integer":
            digits = value[1:] if value[:1] == "-" else value
            if not (digits.isascii() and digits.isdigit()):
                self.fault(location, "must be an integer", "value")
                return None
            return int(value)
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            self.fault(location, "must be a decimal number", "value")
            return None
        return number

    def extras(self, element: Any, location: Location, depth: int) -> JsonObject | None:
        """``id`` and ``extension`` of a primitive element, for its ``_name`` sibling."""
        extras: JsonObject = {}
        for attribute, value in element.attrib.items():
            if attribute == "id":
                extras["id"] = value
            elif attribute != "value":
                self.fault(location, _ATTRIBUTE)
        if len(element):
            self.children(element, _primitive_model(), extras, location, depth + 1)
        return extras or None


def _is_complex(items: list[Any]) -> bool:
    return any(len(item) or "value" not in item.attrib for item in items)


@cache
def _primitive_model() -> Any:
    """What a primitive element may hold besides its value: ``id`` and ``extension``."""
    from fhir.resources.R4B.element import Element  # noqa: PLC0415

    return Element


def safe_parser() -> Any:
    """A new lxml parser with no entities, DTD or network (one per document: lxml parsers are
    not safe to share between threads)."""
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        remove_blank_text=True,
    )


def parse_xml(body: bytes) -> JsonObject:
    """The FHIR resource in ``body`` as FHIR JSON; InvalidMessage naming every fault."""
    # SECURITY: a DOCTYPE is how entities (billion laughs, external files, network fetches) get
    # in; FHIR XML never needs one, so it is refused before the parser sees anything.
    if b"<!DOCTYPE" in body:
        raise InvalidMessage(
            [Issue("(body)", "must not have a document type declaration (DOCTYPE)", "security")]
        )
    try:
        root = etree.fromstring(body, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        # SECURITY: lxml's message can quote the document; only the line number is passed on.
        line = f" (line {exc.lineno})" if isinstance(exc.lineno, int) and exc.lineno > 0 else ""
        raise InvalidMessage(
            [Issue("(body)", f"is not well-formed XML{line}", "structure")]
        ) from exc
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise InvalidMessage(
            [Issue("(body)", "must not have a document type declaration (DOCTYPE)", "security")]
        )
    converter = _Converter()
    tag = root.tag
    name = tag[_FHIR_LENGTH:] if isinstance(tag, str) and tag.startswith(_FHIR) else "(root)"
    result = converter.resource(root, name, 1)
    if converter.issues:
        raise InvalidMessage(converter.issues)
    return result
