"""``joinedup demo``: the crisis-notice story, end to end, on the embedded SQLite default.

Starts two partner simulators (the trust's EPR and the council's CSC system, each a real HTTP
server on loopback), starts the gateway with the example agreement and a seed file, then plays:

0. each partner's system gets an access token: it signs a client assertion with its own private
   key (whose public half the gateway holds as the partner's JWKS) and trades it at
   ``POST /oauth2/token``; a replayed assertion is refused and recorded;
1. the council's CSC system tells the gateway who a child's allocated social worker is;
2. the trust sends a FHIR message: the child's mother was detained under MHA s136;
3. the gateway decides, minimises and delivers a crisis notice to the council — without the
   diagnosis, which the notice lists as withheld, with the reason;
4. the same message also reaches a neighbouring council's child record; no agreement lets the
   trust send that council a crisis notice: refused, and the refusal is recorded;
5. the council looks up who the mother's care coordinator is;
6. the audit ledger is verified;
7. the IG review pages are open at ``/review/``, with an IG officer account whose random password
   is printed once.

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
from pathlib import Path
from typing import Any

import aiohttp
import argon2
import orjson
from aiohttp import web
from joserfc.jwk import ECKey, RSAKey

from gateway.app import create_app
from gateway.audit.verify import verify_ledger
from gateway.logging import configure_logging
from gateway.oauth.client import client_assertion, token_form
from gateway.review.settings import ReviewAccount, ReviewSettings
from gateway.settings import Settings, bundled
from gateway.simulators import PartnerSimulator
from gateway.store.engine import create_engine

DEMO_DIR = bundled("demo")
TRUST, COUNCIL, OTHER = "trust-demo", "council-demo", "council-other"
MOTHER_NHS = "9000000009"
DEMO_OFFICER = "ig-officer"  # the review pages' demo account; its password is made at each run


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
            "review": review,
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
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.SockSite(runner, listener).start()
    base = f"http://127.0.0.1:{bound}"
    messages = DEMO_DIR / "messages"
    ok = True
    try:
        print(f"Joined-up demo: gateway at {base}; ledger in {database}")
        _say(
            "The index is seeded",
            "The seed file told the gateway that the neighbouring council (998) also holds a "
            "record for the child (that council shares child status with the trust, under "
            "deploy/demo/agreements/). No agreement lets the trust send it crisis notices.",
        )
        async with aiohttp.ClientSession() as session:
            assertion, council_token, status, body = await _token(
                session, base, keys[COUNCIL], COUNCIL, audience
            )
            ok &= status == 200
            _say(
                "0. Each partner's system gets an access token",
                "The council's system signs a short-lived client assertion (RFC 7523) with its "
                f"own private key ({keys_dir / (COUNCIL + '.pem')}); the gateway holds only the "
                "public half, as the council's JWKS. It posts the assertion to POST /oauth2/token "
                f"and gets an access token for {body.get('expires_in')} seconds (answer {status}):",
            )
            _show("the assertion, decoded (signature left out)", _decoded(assertion))
            _show(
                "the token response",
                {**body, "access_token": council_token[:24] + "... (an ES256 JWT)"},
            )
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

            status, body = await _post(
                session,
                f"{base}/csc/messages",
                council_token,
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
                trust_token,
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
                # The council may also be sent think-family flags for the same family (issue 7):
                # the crisis notice is the one whose message type says so.
                while not any(b'"crisis-notice"' in r.body for r in received):
                    received = await council.wait_for(len(received) + 1)
            except TimeoutError:
                _say(
                    "3. FAILED", "No crisis notice reached the council's system within 10 seconds."
                )
                return 1
            crisis = next(r.body for r in received if b'"crisis-notice"' in r.body)
            notice = orjson.loads(crisis)
            diagnosis_absent = b"20010003" not in crisis and b"ersonality" not in crisis
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
                headers={"Authorization": f"Bearer {council_token}"},
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
        _say(
            "8. Call the API yourself",
            "An access token for the council, valid for ten minutes, and the look-up from step "
            "5 with curl. docs/partners.md shows a partner's system getting its own tokens.",
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
        for sim in (trust, council, other):
            await sim.stop()
    return 0 if ok else 1
