"""The review pages over a real ledger: search by each filter, exchange detail, the per-person
report and its evidence pack, override review and the ledger's status, on SQLite and PostgreSQL.

The story (``tests/review_helpers.py``): the council's child status, then from the trust a crisis
shared, a consent refusal, the crisis refused under it, shared over it on Sch 1 para 18, and
shared on an urgent override; both of the last two are flagged for review. No page may show the
names, NHS numbers or other record content those messages carried, and every view of personal
data must be in the ledger.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle

from gateway.appkeys import SERVICES
from gateway.audit.merkle import ProofError
from gateway.audit.proofs import check_inclusion
from gateway.cli import main
from gateway.errors import Unavailable
from gateway.review import queries
from gateway.routes.receipts import CHECKPOINTER
from gateway.store.committer import UnitOfWork
from tests.conftest import Database
from tests.gateway_harness import Harness
from tests.review_helpers import (
    APPROVER,
    CHILD_LA_ID,
    MOTHER_NHS,
    PARA18,
    Browser,
    assert_no_record_content,
    csrf_of,
    events,
    review_harness,
    tell_story,
)

IDENTIFIER_ERROR = (
    "The person identifier is not a valid NHS number or la:&lt;LA code&gt;:&lt;child id&gt;"
)
_EXCHANGE_LINK = re.compile(r'href="/review/exchanges/([0-9a-f-]{36})"')


def _linked(page: str) -> set[str]:
    return set(_EXCHANGE_LINK.findall(page))


def _rows(page: str) -> int:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return body.count("<tr>")


async def _viewed(h: Harness) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (e["viewer"], e["view"], tuple(e["person_ids"])) for e in await events(h, "record.viewed")
    ]


async def test_search_by_each_filter(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Each filter narrows the decisions; by person, the view is recorded; bad input is a 400
    naming the field, never echoing the value."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        story = await tell_story(h)
        b = await Browser(h).signed_in()
        search_form = await b.page("/review/")
        for label in (
            "Person identifier",
            "Partner",
            "Purpose",
            "Lawful basis",
            "Outcome",
            "From",
            "To",
        ):
            assert f">{label}</label>" in search_form
        assert [] == await events(h, "record.viewed")  # the empty form shows nobody

        page = await b.page("/review/search", identifier=MOTHER_NHS)
        assert set(story.decided) == _linked(page)
        assert f'href="/review/persons/{story.mother}">Per-person report</a>' in page
        assert "<caption>Results</caption>" in page
        assert_no_record_content(page)
        # Spaces in an NHS number are allowed; the council's child id finds the child.
        spaced = await b.page("/review/search", identifier="900 000 0009")
        assert set(story.decided) == _linked(spaced)
        assert_no_record_content(spaced)
        child = await b.page("/review/search", identifier=f"la:999:{CHILD_LA_ID}")
        assert f'href="/review/persons/{story.child}"' in child
        assert set(story.decided) == _linked(child)
        assert_no_record_content(child)
        assert [
            ("ig.officer", "search", (story.mother,)),
            ("ig.officer", "search", (story.mother,)),
            ("ig.officer", "search", (story.child,)),
        ] == await _viewed(h)

        unknown = await b.page("/review/search", identifier="9434765919")
        assert "No one in the index has the person identifier you entered" in unknown
        assert "9434765919" not in unknown
        assert 3 == len(await events(h, "record.viewed"))  # nobody found: nothing viewed

        cases: list[tuple[dict[str, str], set[str]]] = [
            ({"partner": "trust-demo"}, set(story.decided)),
            ({"partner": "council-other"}, set()),
            ({"purpose": "safeguarding-child"}, set(story.decided)),
            ({"purpose": "referral"}, set()),
            ({"basis": PARA18}, {story.para18}),
            ({"outcome": "shared"}, {story.shared, story.para18, story.override, story.directive}),
            ({"outcome": "refused"}, {story.refused}),
            ({"outcome": "override"}, {story.para18, story.override}),
            ({"outcome": "any", "identifier": MOTHER_NHS, "basis": PARA18}, {story.para18}),
        ]
        today = datetime.now(UTC).date()
        cases += [
            ({"from": today.isoformat(), "to": today.isoformat()}, set(story.decided)),
            ({"from": (today + timedelta(days=1)).isoformat()}, set()),
            ({"to": (today - timedelta(days=1)).isoformat()}, set()),
        ]
        for params, expected in cases:
            found = await b.page(f"/review/search?{urlencode(params)}")
            assert expected == _linked(found), params
            assert_no_record_content(found)

        bad: list[tuple[dict[str, str], str]] = [
            ({"identifier": "9000000008"}, IDENTIFIER_ERROR),  # check digit wrong
            ({"identifier": "la:999/NOT-VALID-ID"}, IDENTIFIER_ERROR),
            ({"identifier": "la:99:CH1"}, IDENTIFIER_ERROR),
            ({"identifier": "nhs:9000000009"}, IDENTIFIER_ERROR),
            ({"partner": "nobody"}, "Choose a partner from the list"),
            ({"purpose": "curiosity"}, "Choose a purpose from the list"),
            ({"basis": "art6(1)(z)"}, "Choose a lawful basis from the list"),
            ({"outcome": "maybe"}, "Choose an outcome from the list"),
            ({"from": "2025-02-30"}, "The date From must be a real date, written YYYY-MM-DD"),
            ({"from": "2025-03-02", "to": "2025-03-01"}, "The date To must not be before"),
        ]
        for params, message in bad:
            response = await b.get("/review/search", **params)
            text = await response.text()
            assert 400 == response.status, params
            assert message in text, params
            for value in params.values():
                if value not in ("2025-03-02", "2025-03-01"):
                    assert value not in text.replace('value=""', ""), (params, value)
            assert "<caption>Results</caption>" not in text
        # One more search by person (with the basis filter) was a view; no refused search was.
        assert 4 == len(await events(h, "record.viewed"))
        malformed_person = await b.get("/review/search", person="not-an-id")
        assert 400 == malformed_person.status


async def test_search_pages_by_person_id_never_by_identifier(
    aiohttp_client: Any, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a search by person has more results than a page, the link to the next page names
    the index's person id, not the NHS number typed; following it shows the rest."""
    monkeypatch.setattr(queries, "SEARCH_LIMIT", 3)
    async for h in review_harness(aiohttp_client, database, tmp_path):
        story = await tell_story(h)
        b = await Browser(h).signed_in()
        first = await b.page("/review/search", identifier=MOTHER_NHS)
        assert_no_record_content(first)
        assert 3 == _rows(first)
        match = re.search(r'href="/review/search\?([^"]+)">Older decisions</a>', first)
        assert match is not None
        query = unescape(match.group(1))
        assert f"person={story.mother}" in query
        rest = await b.page(f"/review/search?{query}")
        assert 2 == _rows(rest)  # five decisions: the four crises and the directive
        assert "Older decisions" not in rest
        assert set(story.decided) == _linked(first) | _linked(rest)
        views = await _viewed(h)
        assert [("ig.officer", "search", (story.mother,))] * 2 == views


async def test_exchange_detail_shows_provenance_and_no_content(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """An exchange's decisions with their agreement, basis, consent or override, and the elements
    disclosed and withheld; its deliveries; its ledger seqs; and never record content."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        story = await tell_story(h)
        b = await Browser(h).signed_in()
        para18 = next(
            e for e in await events(h, "disclosure.decided") if e["exchange_id"] == story.para18
        )
        page = await b.page(f"/review/exchanges/{story.para18}")
        assert "<h1>Exchange</h1>" in page
        for shown in (
            "demo-trust-council v1",
            "crisis-notice",
            "safeguarding-child",
            PARA18,
            para18["consent_ref"],
            "diagnosis: sensitivity-label",
            "crisis-event.location: not-in-agreement",
            "crisis-event.legal_status",
            f"seq {para18['seq']}",
            "Flagged for review</dt><dd>yes",
        ):
            assert shown in page, shown
        assert_no_record_content(page)

        override = await b.page(f"/review/exchanges/{story.override}")
        assert f"imminent-risk-to-child, approved by {APPROVER}" in override
        assert_no_record_content(override)
        refused = await b.page(f"/review/exchanges/{story.refused}")
        assert "consent-refused" in refused
        assert "No delivery was attempted." in refused
        assert_no_record_content(refused)
        shared = await b.page(f"/review/exchanges/{story.shared}")
        assert re.search(
            r"<td>council-demo</td><td><code>[0-9a-f]{8}</code></td><td>1</td><td>delivered</td><td>202</td>",
            shared,
        )
        assert_no_record_content(shared)

        viewed = await events(h, "record.viewed")
        assert ["exchange"] * 4 == [v["view"] for v in viewed]
        assert {story.mother} <= set(viewed[0]["person_ids"])
        assert para18["seq"] in viewed[0]["seqs"]
        assert all(v["viewer"] == "ig.officer" and v["role"] == "ig-officer" for v in viewed)


async def test_person_report_and_evidence_pack(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Who received what about the mother: every decision, printable; the evidence pack's report,
    FHIR AuditEvent Bundle (valid R4B) and receipts (each verifies); both views recorded."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        story = await tell_story(h)
        b = await Browser(h).signed_in()
        page = await b.page(f"/review/persons/{story.mother}")
        assert "<h1>Who received what</h1>" in page
        assert "<caption>Disclosures</caption>" in page
        assert 5 == _rows(page)  # the four crises and her directive, passed on
        for shown in (PARA18, "consent-refused", "imminent-risk-to-child", APPROVER, "delivered"):
            assert shown in page, shown
        assert f'href="/review/persons/{story.mother}/evidence-pack"' in page
        assert "Download evidence pack" in page
        assert_no_record_content(page)
        child = await b.page(f"/review/persons/{story.child}")
        assert 5 == _rows(child)  # the child is named by the same decisions
        assert_no_record_content(child)

        response = await b.get(f"/review/persons/{story.mother}/evidence-pack")
        assert 200 == response.status
        assert "application/zip" == response.content_type
        assert "no-store" == response.headers["Cache-Control"]
        disposition = response.headers["Content-Disposition"]
        assert re.fullmatch(
            rf'attachment; filename="evidence-pack-{story.mother}-\d{{8}}T\d{{6}}Z\.zip"',
            disposition,
        )
        with zipfile.ZipFile(io.BytesIO(await response.read())) as pack:
            assert {"report.html", "auditevents.json", "receipts.json"} == set(pack.namelist())
            report = pack.read("report.html").decode()
            bundle = orjson.loads(pack.read("auditevents.json"))
            receipts = orjson.loads(pack.read("receipts.json"))
        assert "Who received what" in report
        assert "@media print" in report  # standalone: its stylesheet travels with it
        assert "/review/static/" not in report
        assert 5 == _rows(report)
        assert_no_record_content(report)
        assert_no_record_content(orjson.dumps(bundle).decode())

        Bundle.model_validate(bundle)  # raises unless it is a valid FHIR R4B Bundle
        assert {"AuditEvent"} == {e["resource"]["resourceType"] for e in bundle["entry"]}

        decisions = [
            e
            for e in await h.entries()
            if e["event"] == "disclosure.decided" and story.mother in e["person_ids"]
        ]
        proved = {r["seq"] for r in receipts["entries"]}
        assert {d["seq"] for d in decisions} <= proved
        assert story.mother == receipts["personId"]
        assert receipts["checkpoint"].startswith("joined-up.local/ledger\n")
        check_inclusion(receipts)  # raises unless the proof leads to the checkpoint's root
        for item in receipts["entries"]:
            check_inclusion({**item, "treeSize": receipts["treeSize"], "root": receipts["root"]})
        forged = dict(receipts, leafIdx=receipts["leafIdx"] + 1)
        with pytest.raises(ProofError):
            check_inclusion(forged)
        # The file as downloaded checks with the command, signature included, no server needed.
        key = h.client.app[CHECKPOINTER].signer.verifier.encode()
        receipt_file = tmp_path / "receipts.json"
        receipt_file.write_bytes(orjson.dumps(receipts))
        assert 0 == main(["audit", "verify-receipt", str(receipt_file), "--key", key])
        receipt_file.write_bytes(orjson.dumps(forged))
        assert 1 == main(["audit", "verify-receipt", str(receipt_file), "--key", key])

        assert [
            ("ig.officer", "person-report", (story.mother,)),
            ("ig.officer", "person-report", (story.child,)),
            ("ig.officer", "evidence-pack", (story.mother,)),
        ] == await _viewed(h)
        pack_view = (await events(h, "record.viewed"))[-1]
        assert {d["seq"] for d in decisions} <= set(pack_view["seqs"])

        # A report that cannot be recorded is not shown.
        committer = h.client.app[SERVICES].committer

        async def down(unit: UnitOfWork) -> list[int]:
            raise Unavailable("the audit ledger could not be written; nothing was committed")

        committer.submit = down
        refused = await b.get(f"/review/persons/{story.mother}")
        assert 503 == refused.status
        text = await refused.text()
        assert "Who received what" not in text
        assert "The ledger could not be written" in text


async def test_override_review(aiohttp_client: Any, database: Database, tmp_path: Path) -> None:
    """Both flagged decisions wait for review with their reason and approver; marking one reviewed
    writes override.reviewed and moves it under Reviewed; it cannot be reviewed twice."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        story = await tell_story(h)
        b = await Browser(h).signed_in()
        flagged = [e for e in await events(h, "disclosure.decided") if e["flagged_for_review"]]
        assert {story.para18, story.override} == {e["exchange_id"] for e in flagged}
        para18, override = sorted(flagged, key=lambda e: e["seq"])

        page = await b.page("/review/overrides")
        waiting = page.split("<h2>Reviewed</h2>")[0]
        for seq in (para18["seq"], override["seq"]):
            assert f'<label for="comment-{seq}">Review comment</label>' in waiting
            assert f'action="/review/overrides/{seq}"' in waiting
        assert "urgent override: imminent-risk-to-child" in waiting
        assert APPROVER in waiting
        assert PARA18 in waiting
        assert "shared without consent over a recorded refusal" in waiting
        assert_no_record_content(page)

        empty = await b.post_form(
            f"/review/overrides/{para18['seq']}", {"comment": "  "}, token_from="/review/overrides"
        )
        assert 400 == empty.status
        assert "Write a review comment" in await empty.text()
        named = await b.post_form(
            f"/review/overrides/{para18['seq']}",
            {"comment": "Spoke to the team about 943 476 5919."},
            token_from="/review/overrides",
        )
        text = await named.text()
        assert 400 == named.status
        assert "seems to contain an NHS number" in text
        assert "943 476 5919" not in text
        assert [] == await events(h, "override.reviewed")

        comment = "Para 18 applied correctly: the refusal was weighed & <recorded>."
        done = await b.post_form(
            f"/review/overrides/{para18['seq']}",
            {"comment": comment},
            token_from="/review/overrides",
        )
        assert 303 == done.status
        assert "/review/overrides" == done.headers["Location"]
        reviews = await events(h, "override.reviewed")
        assert [(para18["seq"], "ig.officer", "ig-officer", comment)] == [
            (r["reviewed_seq"], r["reviewer"], r["role"], r["comment"]) for r in reviews
        ]
        page = await b.page("/review/overrides")
        waiting, reviewed = page.split("<h2>Reviewed</h2>")
        assert f"comment-{para18['seq']}" not in waiting
        assert f"comment-{override['seq']}" in waiting
        assert (
            "Para 18 applied correctly: the refusal was weighed &amp; &lt;recorded&gt;." in reviewed
        )
        assert "ig.officer" in reviewed

        again = await b.post_form(
            f"/review/overrides/{para18['seq']}",
            {"comment": "again"},
            token_from="/review/overrides",
        )
        assert 409 == again.status
        not_flagged = await b.post_form(
            "/review/overrides/1", {"comment": "not flagged"}, token_from="/review/overrides"
        )
        assert 404 == not_flagged.status
        nonsense = await b.post_form(
            "/review/overrides/1e3", {"comment": "no"}, token_from="/review/overrides"
        )
        assert 404 == nonsense.status
        assert 1 == len(await events(h, "override.reviewed"))


async def test_ledger_status_and_verify_now(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """The status page shows the size, tree and checkpoint; Verify now records ledger.verified
    with the account that asked, and the page then shows the result."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        await tell_story(h)
        b = await Browser(h).signed_in()
        page = await b.page("/review/ledger")
        assert "<h1>Ledger status</h1>" in page
        assert "never verified" in page
        size = len(await h.entries())
        assert f"<dt>Entries</dt><dd>{size}</dd>" in page
        assert f"<dt>Merkle tree size</dt><dd>{size}</dd>" in page

        response = await b.post_form("/review/ledger/verify", {}, token_from="/review/ledger")
        assert 303 == response.status
        assert "/review/ledger" == response.headers["Location"]
        (verified,) = await events(h, "ledger.verified")
        assert (True, "ig.officer", None) == (
            verified["intact"],
            verified["by"],
            verified["first_bad_seq"],
        )
        assert verified["entries"] == verified["tree_size"] == size
        page = await b.page("/review/ledger")
        assert "intact" in page
        assert f"{size} entries verified" in page
        assert "by ig.officer" in page
        assert csrf_of(page)  # the form to verify again
