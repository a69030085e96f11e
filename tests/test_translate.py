"""`joinedup translate`: canonical JSON out, another format out, and the loss report."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from adapters.base import Adapter, Rendered
from adapters.fake import FakeAdapter
from adapters.fhir_r4 import FhirR4Adapter
from gateway.cli import main
from gateway.errors import ConfigurationError, InvalidInput
from gateway.translate import translate
from schemas.disclosure import Disclosure
from schemas.message import CanonicalMessage
from tests.conftest import FIXTURES

CRISIS = FIXTURES / "fhir" / "crisis-s136.json"


def test_fhir_to_canonical(capsys: pytest.CaptureFixture[str]) -> None:
    """A FHIR message prints as canonical JSON; the loss report goes to stderr."""
    assert 0 == main(["translate", str(CRISIS), "--from", "fhir-r4"])
    out, err = capsys.readouterr()
    canonical = orjson.loads(out)
    assert "crisis-event" == canonical["kind"]
    assert {"person", "crisis-event", "diagnosis"} <= {f["fact"] for f in canonical["facts"]}
    assert err.startswith("loss report: ")


def test_fhir_to_csc_lists_what_the_notice_cannot_carry(capsys: pytest.CaptureFixture[str]) -> None:
    """Into CSC JSON, every fact the crisis notice has no field for is in the loss report."""
    assert 0 == main(["translate", str(CRISIS), "--from", "fhir-r4", "--to", "csc"])
    out, err = capsys.readouterr()
    notice = orjson.loads(out)
    assert "crisis-notice" == notice["message_type"]
    assert "loss diagnosis:" in err
    assert "loss crisis-event.reason:" in err


def test_bad_input_exits_2_naming_the_element(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Malformed input exits 2 with the file, element and reason; nothing on stdout."""
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"resourceType": "Bundle", "type": "message", "entry": [')
    assert 2 == main(["translate", str(bad), "--from", "fhir-r4"])
    out, err = capsys.readouterr()
    assert "" == out
    assert f"{bad}: (body):" in err


class _CannotRender(FakeAdapter):
    def render(self, disclosure: Disclosure) -> Rendered:
        raise ConfigurationError("no field for this kind")


def test_a_format_that_cannot_carry_the_kind_is_refused_with_its_reason() -> None:
    """A target adapter that cannot render the message's kind: InvalidInput naming the reason."""
    adapters: dict[str, Adapter] = {"fhir-r4": FhirR4Adapter(), "fake": _CannotRender()}
    with pytest.raises(InvalidInput) as caught:
        translate(CRISIS, "fhir-r4", "fake", adapters=adapters)
    assert [
        ("(message)", "fake cannot carry this crisis-event message: no field for this kind")
    ] == [(i.element, i.reason) for i in caught.value.issues]


def test_canonical_output_parses_back(capsys: pytest.CaptureFixture[str]) -> None:
    """The printed canonical JSON is a valid canonical message (nothing needed was left out)."""
    assert 0 == main(["translate", str(CRISIS), "--from", "fhir-r4"])
    out, _ = capsys.readouterr()
    assert "crisis-event" == CanonicalMessage.model_validate_json(out).kind


CIN = FIXTURES / "cin"


def test_cin_census_translates_each_child(capsys: pytest.CaptureFixture[str]) -> None:
    """A clean census return prints one canonical message per child."""
    assert 0 == main(["translate", str(CIN / "clean-2021.xml"), "--from", "cin-census"])
    out, _ = capsys.readouterr()
    documents = orjson.loads(out)
    messages = documents if isinstance(documents, list) else [documents]
    assert messages
    assert {"cin-census-child"} == {m["kind"] for m in messages}


def test_faulty_census_is_refused_unless_lenient(capsys: pytest.CaptureFixture[str]) -> None:
    """Strict: exit 2 listing every problem by line. Lenient: the rest, problems in the loss report."""
    faulty = str(CIN / "faulty.xml")
    assert 2 == main(["translate", faulty, "--from", "cin-census"])
    out, err = capsys.readouterr()
    assert "" == out
    assert "(line " in err
    assert 0 == main(["translate", faulty, "--from", "cin-census", "--lenient"])
    out, err = capsys.readouterr()
    assert out.strip()
    assert f"problem {faulty}:" in err
