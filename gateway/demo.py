"""``joinedup demo``: the crisis-notice story, end to end, on the embedded SQLite default.

Starts two partner simulators (the trust's EPR and the council's CSC system, each a real HTTP
server on loopback), starts the gateway with the example agreement and a seed file, then plays:

1. the council's CSC system tells the gateway who a child's allocated social worker is;
2. the trust sends a FHIR message: the child's mother was detained under MHA s136;
3. the gateway decides, minimises and delivers a crisis notice to the council — without the
   diagnosis, which the notice lists as withheld, with the reason;
4. the same message also reaches a neighbouring council's child record, with which the trust has
   no agreement: refused, and the refusal is recorded;
5. the council looks up who the mother's care coordinator is;
6. the audit ledger is verified;
7. the IG review pages are open at ``/review/``, with an IG officer account whose random password
   is printed once.

The demo's partner API keys are public; they exist only for this story.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import argon2
import orjson
from aiohttp import web

from gateway.app import create_app
from gateway.audit.verify import verify_ledger
from gateway.logging import configure_logging
from gateway.review.settings import ReviewAccount, ReviewSettings
from gateway.settings import Settings, bundled
from gateway.simulators import PartnerSimulator
from gateway.store.engine import create_engine

TRUST_KEY = "demo-trust-key-not-secret"
COUNCIL_KEY = "demo-council-key-not-secret"
DEMO_DIR = bundled("demo")
MOTHER_NHS = "9000000009"
DEMO_OFFICER = "ig-officer"  # the review pages' demo account; its password is made at each run


def _say(step: str, text: str) -> None:
    print(f"\n== {step}")
    print(textwrap.indent(textwrap.fill(text, 96), "   "))


def _show(label: str, value: Any) -> None:
    rendered = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    print(f"   {label}:")
    print(textwrap.indent(rendered, "     "))


def demo_settings(
    database: Path,
    trust_url: str,
    council_url: str,
    other_url: str,
    *,
    officer_password: str | None = None,
) -> Settings:
    """The embedded defaults, with the simulators' endpoints and the demo seed; with
    ``officer_password``, an IG officer account for the review pages."""
    defaults = Settings()
    review = defaults.review
    if officer_password is not None:
        officer = ReviewAccount(
            name=DEMO_OFFICER,
            password_hash=argon2.PasswordHasher().hash(officer_password),
            roles=("ig-officer",),
        )
        review = ReviewSettings(accounts=(officer,))
    endpoints = {"trust-demo": trust_url, "council-demo": council_url, "council-other": other_url}
    partners = tuple(
        p.model_copy(update={"endpoint": endpoints.get(p.id)}) for p in defaults.partners
    )
    return defaults.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{database}",
            "partners": partners,
            "seed_file": DEMO_DIR / "seed.yaml",
            "review": review,
        }
    )


async def _post(
    session: aiohttp.ClientSession, url: str, key: str, path: Path, ctype: str
) -> tuple[int, Any]:
    async with session.post(
        url,
        data=path.read_bytes(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": ctype},
    ) as response:
        return response.status, await response.json(content_type=None)


async def run_demo(*, port: int = 8080, exit_after: bool = False) -> int:
    """Play the story; then keep serving until Ctrl-C unless ``exit_after``."""
    configure_logging("warning", "console")
    var = Path.cwd() / "var"
    var.mkdir(exist_ok=True)
    database = var / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{database}{suffix}").unlink()

    trust, council, other = (
        PartnerSimulator("trust EPR"),
        PartnerSimulator("council CSC system"),
        PartnerSimulator("neighbouring council"),
    )
    urls = [await sim.start() for sim in (trust, council, other)]
    # A fresh random password each run, shown once below and stored only as its argon2id hash.
    officer_password = secrets.token_urlsafe(12)
    settings = demo_settings(database, *urls, officer_password=officer_password)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    messages = DEMO_DIR / "messages"
    ok = True
    try:
        print(f"Joined-up demo: gateway at {base}; ledger in {database}")
        _say(
            "0. The index is seeded",
            "The seed file told the gateway that the neighbouring council (998) also holds a "
            "record "
            "for the child. The trust has no data-sharing agreement with that council.",
        )
        async with aiohttp.ClientSession() as session:
            status, body = await _post(
                session,
                f"{base}/csc/messages",
                COUNCIL_KEY,
                messages / "child-status-999.json",
                "application/json",
            )
            _say(
                "1. The council's CSC system sends a child-status message",
                "It names the child's allocated social worker and the child's mother. "
                f"Gateway answered {status}.",
            )
            _show("summary", body)

            status, body = await _post(
                session,
                f"{base}/fhir/$process-message",
                TRUST_KEY,
                messages / "crisis-s136.json",
                "application/fhir+json",
            )
            _say(
                "2. The trust's EPR sends a FHIR message: the mother was detained under MHA s136",
                "The message carries the mother, her child, the s136 encounter, her care "
                "coordinator "
                f"and her diagnosis. Gateway answered {status} with a per-recipient summary:",
            )
            _show("summary", body)

            try:
                received = await council.wait_for(1)
            except TimeoutError:
                _say(
                    "3. FAILED", "No crisis notice reached the council's system within 10 seconds."
                )
                return 1
            notice = orjson.loads(received[0].body)
            diagnosis_absent = (
                b"20010003" not in received[0].body and b"ersonality" not in received[0].body
            )
            ok &= diagnosis_absent
            _say(
                "3. The council's CSC system received a crisis notice",
                "Addressed to the child's allocated social worker, in the council's own JSON "
                f"format. The diagnosis is {'NOT present' if diagnosis_absent else 'PRESENT'}; the "
                "notice lists it as withheld, with the reason and whom to ask:",
            )
            _show("withheld", notice.get("withheld"))
            _show("event", notice.get("event"))

            refused = [r for r in body.get("recipients", []) if r.get("outcome") == "refuse"]
            ok &= bool(refused) and not other.received
            _say(
                "4. The neighbouring council received nothing",
                "The child is also known to council 998, but no agreement covers that flow: the "
                "gateway refused, and recorded the refusal in the audit ledger (golden rule 7).",
            )
            _show("refusals", refused)

            async with session.get(
                f"{base}/api/v1/workers",
                params={
                    "identifier": f"https://fhir.nhs.uk/Id/nhs-number|{MOTHER_NHS}",
                    "role": "care-coordinator",
                },
                headers={"Authorization": f"Bearer {COUNCIL_KEY}"},
            ) as response:
                answer = await response.json(content_type=None)
                ok &= response.status == 200
            _say(
                "5. The social worker's system asks: who is the mother's care coordinator?",
                "Answered from the index under the agreement's worker-contact flow "
                f"({response.status}):",
            )
            _show("answer", answer)

        engine = create_engine(settings.database_url, schema=settings.database_schema)
        async with engine.connect() as conn:
            verdict = await verify_ledger(conn)
        await engine.dispose()
        ok &= verdict.intact
        _say(
            "6. The audit ledger is verified",
            f"{verdict.entries} hash-chained entries; intact: {verdict.intact}. Run "
            f"'JOINEDUP_DATABASE_URL=sqlite+aiosqlite:///{database} joinedup audit verify' "
            "to check it yourself.",
        )
        _say(
            "7. The IG review pages",
            f"Search for NHS number {MOTHER_NHS} to see who received what about the mother, "
            "and why; open an exchange for its provenance, the per-person report and its "
            "evidence pack, the override review queue and the ledger's status. Each view of "
            "personal data is itself recorded in the ledger. The password is made for this run "
            "and shown only here:",
        )
        print(f"     {base}/review/")
        print(f"     account:  {DEMO_OFFICER}")
        print(f"     password: {officer_password}")
        print("\nDemo " + ("complete." if ok else "FAILED: see above."))
        if not exit_after:
            print(f"Still serving at {base} (Ctrl-C to stop).")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        for sim in (trust, council, other):
            await sim.stop()
    return 0 if ok else 1
