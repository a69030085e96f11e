"""Schemathesis against the live gateway: every check, positive and negative data, no failures.

The gateway runs as a real server on loopback (SQLite, the demo seed so that look-ups find
people, deliveries off, rate limits out of the way). ``schemathesis run`` reads ``/openapi.json``
from it and runs every phase (the document's examples, coverage, fuzzing, stateful links) with
``--checks all`` (server errors, status codes, content types, headers and bodies against the
document, negative data rejected, positive data accepted, missing required headers, unsupported
methods and ``Allow``, ignored authentication, ...) and ``--mode all``, each partner route with a
real access token for its partner.

Where the document cannot say everything a door checks, this run says what else it may answer
to data the schemas allow (``positive_data_acceptance``), and why:

- the message doors: FHIR and CSC messages are checked beyond what JSON Schema can express (NHS
  number check digits, dates in order, codes the adapters know: 400; a message the canonical
  model cannot carry or that is not handled: 422), and the sender must be the partner's own
  organisation under an agreement (403);
- the look-up: an identifier must pass its own checks (400) and a person may be unknown (404);
- the receipt: an exchange id may be unknown (404), and a receipt asked for in the second after
  its exchange may need a checkpoint that is signed at most once a second: 503 with Retry-After,
  as documented;
- the token endpoint: an assertion the fuzzer makes is never signed with a partner's key (401).

``tests/schemathesis_hooks.py`` gives each valid Idempotency-Key a fresh value (a fuzzer reuses
one); it sets nothing aside (the CSC adapter's models are strict). The number of
examples per operation is ``JOINEDUP_SCHEMATHESIS_EXAMPLES`` (default 10); the seed is random
unless ``JOINEDUP_SCHEMATHESIS_SEED`` is set, and is printed, so a failure can be replayed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from gateway.app import create_app
from gateway.conventions import RateLimitSettings
from gateway.settings import DeliverySettings, bundled
from tests.conftest import COUNCIL_KEY, REPO, TRUST_KEY, Database, make_settings

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = int(os.environ.get("JOINEDUP_SCHEMATHESIS_EXAMPLES", "10"))
TIMEOUT = 600


def _config(trust: str, council: str) -> str:
    # A schema-valid message may still be about something the gateway never carried for its
    # sender (an acknowledgement of an unknown referral, a reply to an unknown meeting): 404.
    return f"""
[[operations]]
include-path = "/fhir/$process-message"
headers = {{ Authorization = "Bearer {trust}" }}
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 403, 404, 409, 422, 429]

[[operations]]
include-path = "/csc/messages"
headers = {{ Authorization = "Bearer {council}" }}
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 403, 404, 409, 422, 429]

[[operations]]
include-path = "/api/v1/workers"
headers = {{ Authorization = "Bearer {council}" }}
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404, 429]

[[operations]]
include-path = "/api/v1/children/status"
headers = {{ Authorization = "Bearer {trust}", "X-Accessing-Organisation" = "RX9" }}
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404, 429]

[[operations]]
include-path-regex = "/receipt$"
headers = {{ Authorization = "Bearer {trust}" }}
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404, 429, 503]
checks.not_a_server_error.expected-statuses = ["1xx", "2xx", "3xx", "4xx", 503]

[[operations]]
include-path = "/oauth2/token"
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401]
"""


def _database_dir(tmp_path: Path) -> Path:
    # The run is about the API's contract, not the disk: on a memory file system where there is
    # one, thousands of commits do not wait for fsync.
    shm = Path("/dev/shm")  # noqa: S108 - a private directory is made inside it
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="joinedup-schemathesis-", dir=shm))
    return tmp_path


async def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    """``schemathesis run --checks all --mode all`` against the live gateway: 0 failures."""
    directory = _database_dir(tmp_path)
    settings = make_settings(
        Database(f"sqlite+aiosqlite:///{directory / 'gateway.db'}", None, "sqlite"),
        delivery=DeliverySettings(enabled=False),
        rate_limit=RateLimitSettings(rate=1_000_000, burst=1_000_000),
        seed_file=bundled("demo/seed.yaml"),
        log_level="warning",
    )
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(TRUST_KEY, COUNCIL_KEY), encoding="utf-8")
        seed = os.environ.get("JOINEDUP_SCHEMATHESIS_SEED") or str(secrets.randbelow(2**31))
        env = dict(os.environ, SCHEMATHESIS_HOOKS="tests.schemathesis_hooks", NO_COLOR="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"http://{host}:{port}/openapi.json",
            "--checks",
            "all",
            "--mode",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            seed,
            "--max-failures",
            "20",
            "--request-timeout",
            "30",
            cwd=tmp_path,  # schemathesis keeps a cache of crashes in .schemathesis/
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        await runner.cleanup()
        if directory != tmp_path:
            for path in directory.iterdir():
                path.unlink()
            directory.rmdir()
    report = output.decode(errors="replace")
    assert 0 == process.returncode, f"schemathesis (seed {seed}) failed:\n{report[-20000:]}"
    assert "passed" in report
