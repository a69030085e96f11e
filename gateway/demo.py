"""``joinedup demo``: every workflow, end to end, on the embedded SQLite default.

Starts three partner simulators (the trust's EPR, the council's CSC system and a neighbouring
council's, each a real HTTP server on loopback), starts the gateway with the example agreements,
the demo directory and a seed file, then plays, narrating what was sent, what was withheld and
why, and who was told:

0. each partner's system gets an access token (a signed client assertion traded at
   ``POST /oauth2/token``); a replayed assertion is refused and recorded;
1. the directory: who is the council's front door and children's safeguarding lead, and how to
   reach them now (out of hours, the emergency duty team);
2. the council's CSC system says who the child's allocated social worker is;
3. the trust sends a FHIR message: the child's mother was detained under MHA s136. The council
   gets a crisis notice without the diagnosis (listed as withheld, with the reason); both sides
   get a think-family flag (the mother is a parent of a child on a plan; the child's mother has a
   care coordinator); the neighbouring council, with no agreement for it, gets nothing, and the
   refusal is recorded;
4. the trust refers to the council's front door; nobody acknowledges it, so when its deadline in
   working hours passes both safeguarding leads are told; then the council acknowledges it,
   allocates a worker and opens a section 47 enquiry, and the trust's system hears each step;
5. meetings: a strategy discussion and the initial child protection conference reach the care
   coordinator with the conference's 15-working-day target; she accepts; the trust invites the
   social worker to the mother's care review, and the council declines;
6. notifications: a child protection plan starts (the care coordinator is told); a crisis-team
   contact for care planning is not sent, since the council has not subscribed to those;
7. an emergency department clinician looks up the child's status, and the social worker's
   system is told who looked and why;
8. the mother withdraws her consent: a new referral resting on consent is refused, one made
   under DPA 2018 Sch 1 para 18 is shared and flagged for the IG officers' review;
9. the council looks up the mother's care coordinator; the ledger is verified; the IG review
   pages are open with an officer account whose random password is printed once.

The demo partners' key pairs are made at the first run under ``var/demo-keys/`` (private keys mode
0600, JWKS beside them) and exist only for this story.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import shutil
import socket
import textwrap
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import argon2
import orjson
from aiohttp import web
from joserfc.jwk import ECKey, RSAKey

from gateway.app import create_app
from gateway.appkeys import SERVICES
from gateway.audit.verify import verify_ledger
from gateway.logging import configure_logging
from gateway.oauth.client import client_assertion, token_form
from gateway.review.settings import ReviewAccount, ReviewSettings
from gateway.settings import Settings, bundled
from gateway.simulators import PartnerSimulator, Received
from gateway.store.engine import create_engine
from gateway.workcal import WorkingCalendar
from gateway.workflows.escalation import escalate_overdue

DEMO_DIR = bundled("demo")
TRUST, COUNCIL, OTHER = "trust-demo", "council-demo", "council-other"
MOTHER_NHS = "9000000009"
DEMO_OFFICER = "ig-officer"  # the review pages' demo account; its password is made at each run


class DemoClock:
    """The gateway's clock in the story: it starts on a recent working afternoon, so that a
    referral's deadline (counted in working hours) can pass, and is brought to the real time
    once it has (deliveries are due by the real time)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def story_start(calendar: WorkingCalendar, hours: float, now: datetime) -> datetime:
    """The latest 15:00 on a working day from which ``hours`` working hours end before
    ``now``."""
    local = now.astimezone(calendar.zone)
    for back in range(1, 60):
        day = local.date() - timedelta(days=back)
        start = datetime.combine(day, time(15, 0), calendar.zone)
        if calendar.is_working_day(day) and calendar.add_working_hours(start, hours) < now:
            return start.astimezone(UTC)
    raise RuntimeError("no working day in the last 60 days")


def _say(step: str, text: str) -> None:
    print(f"\n== {step}")
    print(textwrap.indent(textwrap.fill(text, 96), "   "))


def _show(label: str, value: Any) -> None:
    rendered = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    print(f"   {label}:")
    print(textwrap.indent(rendered, "     "))


def demo_partner_keys(directory: Path) -> dict[str, RSAKey | ECKey]:
    """Each demo partner's signing key, made once (RSA for the trust, signing RS512 as NHS
    England asks; EC P-256 for the councils): ``<id>.pem`` (private, mode 0600) and
    ``<id>.jwks.json`` (the public JWKS the gateway is configured with)."""
    directory.mkdir(parents=True, exist_ok=True)
    keys: dict[str, RSAKey | ECKey] = {}
    for partner in (TRUST, COUNCIL, OTHER):
        pem = directory / f"{partner}.pem"
        kind = RSAKey if partner == TRUST else ECKey
        if not pem.exists():
            made = (
                RSAKey.generate_key(2048, private=True)
                if partner == TRUST
                else ECKey.generate_key("P-256", private=True)
            )
            fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(made.as_pem(private=True))
        loaded = kind.import_key(pem.read_bytes())
        # kid = the key's RFC 7638 thumbprint, so a new key never reuses an old key's kid.
        key = kind.import_key(loaded.as_dict(private=True), {"kid": loaded.thumbprint()})
        jwks = {"keys": [{**key.as_dict(private=False), "use": "sig"}]}
        (directory / f"{partner}.jwks.json").write_bytes(
            orjson.dumps(jwks, option=orjson.OPT_INDENT_2)
        )
        keys[partner] = key
    return keys


def demo_agreements(directory: Path) -> Path:
    """The example agreement (``deploy/agreements``) and the demo's own
    (``deploy/demo/agreements``: the neighbouring council shares child status with the trust), in
    one folder made afresh."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for source in (bundled("agreements"), DEMO_DIR / "agreements"):
        for path in sorted(source.glob("*.yaml")):
            shutil.copy(path, directory / path.name)
    return directory


def demo_settings(
    database: Path,
    trust_url: str,
    council_url: str,
    other_url: str,
    *,
    officer_password: str | None = None,
    port: int = 8080,
    keys_dir: Path | None = None,
    agreements_dir: Path | None = None,
) -> Settings:
    """The embedded defaults, with the simulators' endpoints and the demo seed; with
    ``officer_password``, an IG officer account for the review pages; with ``keys_dir``, each
    partner's JWKS file from ``demo_partner_keys``."""
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
        p.model_copy(
            update={
                "endpoint": endpoints.get(p.id),
                "jwks_file": keys_dir / f"{p.id}.jwks.json" if keys_dir is not None else None,
            }
        )
        for p in defaults.partners
    )
    return defaults.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{database}",
            "port": port,
            "agreements_dir": agreements_dir or defaults.agreements_dir,
            "partners": partners,
            "seed_file": DEMO_DIR / "seed.yaml",
            "directory_file": DEMO_DIR / "directory.yaml",
            "review": review,
            # The story moves the clock on itself, so the timer that looks for overdue
            # referrals (every 60 s in a deployment) is run by the story instead.
            "workflows": defaults.workflows.model_copy(update={"escalation_interval": 0.0}),
        }
    )


def _decoded(token: str) -> dict[str, Any]:
    """A JWT's header and claims, for the narration (the signature is left out)."""
    header, claims = (
        orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        for part in token.split(".")[:2]
    )
    return {"header": header, "claims": claims}


async def _token(
    session: aiohttp.ClientSession, base: str, key: RSAKey | ECKey, partner: str, audience: str
) -> tuple[str, str, int, dict[str, Any]]:
    """The partner's system signs an assertion and trades it for an access token."""
    assertion = client_assertion(key, partner, audience)
    async with session.post(f"{base}/oauth2/token", data=token_form(assertion)) as response:
        body: dict[str, Any] = await response.json(content_type=None)
        return assertion, str(body.get("access_token", "")), response.status, body


async def _post(
    session: aiohttp.ClientSession, url: str, key: str, path: Path, ctype: str
) -> tuple[int, Any]:
    async with session.post(
        url,
        data=path.read_bytes(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": ctype},
    ) as response:
        return response.status, await response.json(content_type=None)


def _withheld_csc(document: dict[str, Any]) -> list[str]:
    return [f"{w['element']} ({w['reason_code']})" for w in document.get("withheld") or []]


def _withheld_fhir(bundle: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("url", "")).endswith("/withheld"):
                parts = {e.get("url"): e for e in node.get("extension", [])}
                element = parts.get("element", {}).get("valueString", "?")
                reason = parts.get("reasonCode", {}).get("valueCode", "?")
                found.append(f"{element} ({reason})")
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(bundle)
    return found


def describe_delivery(received: Received) -> str:
    """One line for a delivery, as the receiving system saw it: what it is, and what was held
    back (element and reason)."""
    document = orjson.loads(received.body)
    if document.get("resourceType") == "Bundle":
        header: dict[str, Any] = next(
            (
                e["resource"]
                for e in document.get("entry", [])
                if e["resource"].get("resourceType") == "MessageHeader"
            ),
            {},
        )
        what = f"FHIR message '{header.get('eventCoding', {}).get('code', '?')}'"
        withheld = _withheld_fhir(document)
    else:
        kind = document.get("kind") or document.get("message_type") or "?"
        what = f"CSC {document.get('message_type', '?')} ({kind})"
        withheld = _withheld_csc(document)
    return what + (f"; withheld: {', '.join(withheld)}" if withheld else "; nothing withheld")


class _Story:
    """The demo's partner systems, talking to the gateway and listening for what it delivers."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        tokens: dict[str, str],
        simulators: dict[str, PartnerSimulator],
    ) -> None:
        self.session, self.base, self.tokens, self.simulators = session, base, tokens, simulators
        self.seen = dict.fromkeys(simulators, 0)
        self.ok = True

    async def send(self, partner: str, name: str, narration: str, step: str) -> dict[str, Any]:
        """Post a demo message as ``partner``; narrate the gateway's answer, recipient by
        recipient (outcome, reason, the flow it rests on, what it withholds)."""
        fhir = partner == TRUST
        status, body = await _post(
            self.session,
            f"{self.base}/fhir/$process-message" if fhir else f"{self.base}/csc/messages",
            self.tokens[partner],
            DEMO_DIR / "messages" / name,
            "application/fhir+json" if fhir else "application/json",
        )
        self.ok &= status == 202
        _say(step, f"{narration} (messages/{name}). The gateway answered {status}.")
        for r in body.get("recipients", []) if isinstance(body, dict) else []:
            flow = (r.get("agreement") or {}).get("flow")
            line = f"   -> {r['organisation']}: {r['outcome']} ({r['reason_code']})"
            if flow:
                line += f" under flow {flow}"
            print(line)
        if isinstance(body, dict) and body.get("no_recipient"):
            print(f"   -> nobody: {body['no_recipient']}")
        if status != 202:
            _show("answer", body)
        return body if isinstance(body, dict) else {}

    async def told(self, expected: dict[str, int], seconds: float = 10.0) -> list[Received]:
        """Wait for the expected number of new deliveries at each system, and a moment for any
        others; narrate each as its receiver saw it."""
        new: list[Received] = []
        for name, count in expected.items():
            simulator = self.simulators[name]
            try:
                await simulator.wait_for(self.seen[name] + count, seconds)
            except TimeoutError:
                self.ok = False
                print(f"   !! {simulator.name}: expected {count} deliveries, none came in time")
        await asyncio.sleep(0.5)  # the delivery worker polls every 0.2 s
        for name, simulator in self.simulators.items():
            arrived = simulator.received[self.seen[name] :]
            self.seen[name] = len(simulator.received)
            for received in arrived:
                print(f"   {simulator.name} received: {describe_delivery(received)}")
            new.extend(arrived)
        return new

    async def get(self, path: str, partner: str, params: dict[str, str], **headers: str) -> Any:
        async with self.session.get(
            f"{self.base}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.tokens[partner]}", **headers},
        ) as response:
            self.ok &= response.status == 200
            return await response.json(content_type=None)


async def run_demo(*, port: int = 8080, exit_after: bool = False) -> int:
    """Play the story; then keep serving until Ctrl-C unless ``exit_after``."""
    configure_logging("warning", "console")
    var = Path.cwd() / "var"
    var.mkdir(exist_ok=True)
    database = var / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{database}{suffix}").unlink()

    simulators = {
        TRUST: PartnerSimulator("trust EPR"),
        COUNCIL: PartnerSimulator("council CSC system"),
        OTHER: PartnerSimulator("neighbouring council"),
    }
    urls = [await simulators[p].start() for p in (TRUST, COUNCIL, OTHER)]
    # A fresh random password each run, shown once below and stored only as its argon2id hash.
    officer_password = secrets.token_urlsafe(12)
    keys_dir = var / "demo-keys"
    keys = demo_partner_keys(keys_dir)
    # Bind first: the token endpoint's URL (the audience every assertion names) needs the port.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    bound = listener.getsockname()[1]
    settings = demo_settings(
        database,
        *urls,
        officer_password=officer_password,
        port=bound,
        keys_dir=keys_dir,
        agreements_dir=demo_agreements(var / "demo-agreements"),
    )
    audience = settings.oauth.endpoint(settings.host, bound)
    clock = DemoClock()
    calendar = WorkingCalendar(settings.workflows.working_hours)
    start = story_start(calendar, settings.workflows.referral_ack_working_hours, clock())
    clock.offset = start - datetime.now(UTC)
    app = create_app(settings, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, listener).start()
    base = f"http://127.0.0.1:{bound}"
    try:
        print(f"Joined-up demo: gateway at {base}; ledger in {database}")
        print(
            f"The story starts on {start.astimezone(calendar.zone):%A %d %B %Y at %H:%M} "
            "(the gateway's clock is set back, so that a deadline in working hours can pass)."
        )
        _say(
            "The index and the directory are seeded",
            "The seed file told the gateway that the neighbouring council (998) also holds a "
            "record for the child (that council shares child status with the trust, under "
            "deploy/demo/agreements/); no agreement lets the trust send it crisis notices. The "
            "directory file (deploy/demo/directory.yaml) names each organisation's front door, "
            "safeguarding leads, link worker and out-of-hours team.",
        )
        async with aiohttp.ClientSession() as session:
            tokens, ok = await _tokens(session, base, keys, audience, keys_dir)
            story = _Story(session, base, tokens, simulators)
            story.ok &= ok
            await _directory(story)
            await _crisis(story)
            await _referral(story, app, clock)
            await _meetings(story)
            await _notifications(story)
            await _access(story)
            await _consent(story)
            await _care_coordinator(story)
        ok = story.ok
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        async with engine.connect() as conn:
            verdict = await verify_ledger(conn)
        await engine.dispose()
        ok &= verdict.intact
        _say(
            "10. The audit ledger is verified",
            f"{verdict.entries} hash-chained entries, every decision to share or not among "
            f"them; intact: {verdict.intact}. Run "
            f"'JOINEDUP_DATABASE_URL=sqlite+aiosqlite:///{database} joinedup audit verify' "
            "to check it yourself.",
        )
        _say(
            "11. The IG review pages",
            f"Search for NHS number {MOTHER_NHS} to see who received what about the mother, "
            "and why; open an exchange for its provenance, the per-person report and its "
            "evidence pack, the override review queue (the para 18 referral of step 8 is "
            "waiting there) and the ledger's status. Each view of personal data is itself "
            "recorded in the ledger. The password is made for this run and shown only here:",
        )
        print(f"     {base}/review/")
        print(f"     account:  {DEMO_OFFICER}")
        print(f"     password: {officer_password}")
        _say(
            "12. Call the API yourself",
            "An access token for the council, valid for ten minutes, and the look-up from step "
            "9 with curl. docs/partners.md shows a partner's system getting its own tokens.",
        )
        async with aiohttp.ClientSession() as session:
            _, token, _, _ = await _token(session, base, keys[COUNCIL], COUNCIL, audience)
        print(f"     TOKEN={token}")
        print(
            f'     curl -s --get {base}/api/v1/workers -H "Authorization: Bearer $TOKEN" \\\n'
            f"       --data-urlencode 'identifier=https://fhir.nhs.uk/Id/nhs-number|{MOTHER_NHS}' "
            "--data-urlencode 'role=care-coordinator'"
        )
        print("\nDemo " + ("complete." if ok else "FAILED: see above."))
        if not exit_after:
            print(f"Still serving at {base} (Ctrl-C to stop).")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        for sim in simulators.values():
            await sim.stop()
    return 0 if ok else 1


async def _tokens(
    session: aiohttp.ClientSession,
    base: str,
    keys: dict[str, RSAKey | ECKey],
    audience: str,
    keys_dir: Path,
) -> tuple[dict[str, str], bool]:
    assertion, council_token, status, body = await _token(
        session, base, keys[COUNCIL], COUNCIL, audience
    )
    ok = status == 200
    _say(
        "0. Each partner's system gets an access token",
        "The council's system signs a short-lived client assertion (RFC 7523) with its "
        f"own private key ({keys_dir / (COUNCIL + '.pem')}); the gateway holds only the "
        "public half, as the council's JWKS. It posts the assertion to POST /oauth2/token "
        f"and gets an access token for {body.get('expires_in')} seconds (answer {status}):",
    )
    _show("the assertion, decoded (signature left out)", _decoded(assertion))
    _show("the token response", {**body, "access_token": council_token[:24] + "... (an ES256 JWT)"})
    async with session.post(f"{base}/oauth2/token", data=token_form(assertion)) as again:
        replayed = await again.json(content_type=None)
        ok &= again.status == 401
    _say(
        "   The same assertion, sent again, is refused",
        f"Each assertion's jti may be used once ({again.status}); the refusal is "
        "recorded in the ledger as access.refused:",
    )
    _show("answer", replayed)
    _, trust_token, status, _ = await _token(session, base, keys[TRUST], TRUST, audience)
    ok &= status == 200
    print(f"   The trust's system does the same with its RSA key (RS512): {status}.")
    return {TRUST: trust_token, COUNCIL: council_token}, ok


async def _directory(story: _Story) -> None:
    for role in ("front-door", "safeguarding-lead-children"):
        answer = await story.get("/api/v1/directory/organisations/999/roles", TRUST, {"role": role})
        _say(
            f"1. The trust asks the directory: who is council 999's {role}?",
            "Answered under policy (the two organisations share an agreement), with how to "
            "reach them now: out of office hours the answer leads with the out-of-hours "
            f"line, the emergency duty team ({'in' if answer.get('in_hours') else 'out of'} "
            "hours now):",
        )
        _show("answer", answer)


async def _crisis(story: _Story) -> None:
    await story.send(
        COUNCIL,
        "child-status-999.json",
        "The council's CSC system names the child's allocated social worker, the child "
        "protection plan and the child's mother",
        "2. The council's CSC system sends a child-status message",
    )
    await story.told({})
    await story.send(
        TRUST,
        "crisis-s136.json",
        "It carries the mother, her child, the s136 encounter, her care coordinator and her "
        "diagnosis",
        "3. The trust's EPR sends a FHIR message: the mother was detained under MHA s136",
    )
    print(
        "   The neighbouring council (998) holds a record for the child too, but no agreement "
        "lets the trust send it a crisis notice: refused above, and the refusal is in the "
        "ledger. Now the mother is known to have a care coordinator and to be the parent of a "
        "child on a plan: the gateway raises think-family flags, one each way, under "
        "deploy/agreements/demo-think-family.yaml (not shown in the trust's 202: they are "
        "the council's news and the trust's, not the sender's):"
    )
    received = await story.told({COUNCIL: 2, TRUST: 1})
    notice = next((r.body for r in received if b'"crisis-notice"' in r.body), b"")
    diagnosis_absent = bool(notice) and b"20010003" not in notice and b"ersonality" not in notice
    story.ok &= diagnosis_absent and not story.simulators[OTHER].received
    print(
        "   The crisis notice is addressed to the child's allocated social worker, in the "
        f"council's own JSON. The diagnosis is {'NOT present' if diagnosis_absent else 'PRESENT'}"
        "; the notice lists it as withheld, with the reason and whom to ask."
    )


async def _referral(story: _Story, app: web.Application, clock: DemoClock) -> None:
    services = app[SERVICES]
    calendar = WorkingCalendar(services.settings.workflows.working_hours)
    hours = services.settings.workflows.referral_ack_working_hours
    deadline = calendar.add_working_hours(clock(), hours)
    await story.send(
        TRUST,
        "referral.json",
        "A structured referral: concerns, risks, the child and household, the referrer's "
        "contact and that the mother consented. It goes to the council's front door (MASH) "
        "from the directory",
        "4. The trust refers the child to the council's front door",
    )
    await story.told({COUNCIL: 1})
    clock.offset = deadline - datetime.now(UTC) + timedelta(minutes=1)
    escalated = await escalate_overdue(services, clock())
    story.ok &= escalated == 1
    local = deadline.astimezone(calendar.zone)
    _say(
        "   No acknowledgement comes",
        f"The deadline is {hours:g} working hours (office hours, weekends and bank holidays "
        f"excluded): {local:%A %d %B %H:%M}. The story moves the clock past it and runs the "
        f"escalation timer (every minute in a deployment): {escalated} referral escalated. "
        "Both organisations' safeguarding leads are told, from the directory (the referral's "
        "reference and who made it; never its concerns):",
    )
    await story.told({COUNCIL: 1, TRUST: 2})
    clock.offset = timedelta()  # from here on, the real time
    for name, step in (
        ("referral-received.json", "received"),
        ("referral-allocated.json", "allocated to a social worker"),
        ("referral-section-47.json", "outcome: a section 47 enquiry"),
    ):
        await story.send(
            COUNCIL,
            name,
            "The council's front door acknowledges the referral, quoting its reference",
            f"   The council: {step}",
        )
        await story.told({TRUST: 1})


async def _meetings(story: _Story) -> None:
    await story.send(
        COUNCIL,
        "strategy-discussion.json",
        "The council invites the mother's care coordinator to a strategy discussion about the "
        "child",
        "5. Meetings: a strategy discussion",
    )
    await story.told({TRUST: 1})
    body = await story.send(
        COUNCIL,
        "icpc-invitation.json",
        "Then the initial child protection conference. Its target, 15 working days after the "
        "strategy discussion, goes with it: both sides know it, and a conference set after it "
        "is flagged",
        "   The initial child protection conference",
    )
    received = await story.told({TRUST: 1})
    for r in received:
        for extension in _extensions(orjson.loads(r.body), "meeting-target"):
            parts = {p.get("url"): p for p in extension.get("extension", [])}
            target = parts.get("targetDate", {}).get("valueDate")
            late = parts.get("afterTarget", {}).get("valueBoolean")
            print(
                f"   The trust's system reads the conference's target: {target}; the conference "
                f"is {'AFTER' if late else 'within'} it."
            )
    del body
    await story.send(
        TRUST,
        "icpc-reply.json",
        "The care coordinator accepts; the reply goes back to the conference's organiser",
        "   The trust's reply",
    )
    await story.told({COUNCIL: 1})
    await story.send(
        TRUST,
        "care-review.json",
        "The trust invites the child's social worker to the mother's care review (CPA)",
        "   A care review",
    )
    await story.told({COUNCIL: 1})
    await story.send(
        COUNCIL,
        "care-review-reply.json",
        "The social worker declines; the reply goes back to the care coordinator",
        "   The council's reply",
    )
    await story.told({TRUST: 1})


def _extensions(node: Any, name: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        if str(node.get("url", "")).endswith(name):
            found.append({k: v for k, v in node.items() if k != "url"})
        for value in node.values():
            found.extend(_extensions(value, name))
    elif isinstance(node, list):
        for value in node:
            found.extend(_extensions(value, name))
    return found


async def _notifications(story: _Story) -> None:
    await story.send(
        COUNCIL,
        "cp-plan-started.json",
        "A child protection plan starts: the mother's care coordinator is told",
        "6. Notifications: a child protection plan starts",
    )
    await story.told({TRUST: 1})
    await story.send(
        TRUST,
        "crisis-team-contact.json",
        "The mother was seen by the crisis team, and the trust shares it for care planning. "
        "Under demo-notifications.yaml the council has subscribed, for care planning, to "
        "admissions and discharges only: this one is not sent, and the ledger says why",
        "   A crisis-team contact, for care planning",
    )
    await story.told({})


async def _access(story: _Story) -> None:
    answer = await story.get(
        "/api/v1/children/status",
        TRUST,
        {
            "identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000017",
            "purpose": "safeguarding-child",
        },
        **{
            "X-Accessing-User": "ed-clinician-0042",
            "X-Accessing-Role": "unscheduled-care-clinician",
            "X-Accessing-Organisation": "RX9",
        },
    )
    _say(
        "7. An emergency department clinician looks up the child's status",
        "As the national CP-IS service answers unscheduled care: the current plan (kind and "
        "start, not its category), the allocated worker and the out-of-hours line. The "
        "social worker's system is told who looked, from where and why; not what was seen:",
    )
    _show("answer", answer)
    await story.told({COUNCIL: 1})


async def _consent(story: _Story) -> None:
    await story.send(
        TRUST,
        "consent-withdrawal.json",
        "The mother withdraws her consent to the trust sharing with the council for referrals. "
        "The directive itself goes to the council, so that it honours it too",
        "8. Consent is withdrawn mid-workflow",
    )
    await story.told({COUNCIL: 1})
    await story.send(
        TRUST,
        "referral-after-withdrawal.json",
        "A new referral resting on her consent is refused: nothing is sent, the refusal is "
        "recorded",
        "   A new referral, on consent",
    )
    await story.told({})
    await story.send(
        TRUST,
        "referral-para18.json",
        "The referrer judges that asking would put the child at risk, and refers under DPA 2018 "
        "Sch 1 para 18 (safeguarding a child, without consent): shared, and flagged for the IG "
        "officers' review",
        "   The referral without consent",
    )
    await story.told({COUNCIL: 1})


async def _care_coordinator(story: _Story) -> None:
    answer = await story.get(
        "/api/v1/workers",
        COUNCIL,
        {
            "identifier": f"https://fhir.nhs.uk/Id/nhs-number|{MOTHER_NHS}",
            "role": "care-coordinator",
        },
    )
    _say(
        "9. The social worker's system asks: who is the mother's care coordinator?",
        "Answered from the index under the agreement's worker-contact flow, with how to reach "
        "them now:",
    )
    _show("answer", answer)
