"""The ``joinedup`` command.

    joinedup serve [--config FILE] [--host H] [--port P]
    joinedup demo [--exit] [--port P]
    joinedup db upgrade [--config FILE]
    joinedup audit verify [--config FILE] [--no-record]
    joinedup audit verify-receipt FILE [--key VKEY_STRING_OR_FILE]... [--config FILE]
    joinedup audit verify-consistency FILE
    joinedup audit keygen --origin ORIGIN --out DIR
    joinedup audit export --format fhir|csv [--from DATE] [--to DATE] [--person ID] [--out FILE]
    joinedup audit archive --day YYYY-MM-DD --out DIR [--config FILE]
    joinedup audit verify-archive FILE... [--key VKEY]
    joinedup review hash-password         (reads a password twice, without echo)
    joinedup schemas export DIR
    joinedup translate FILE --from FORMAT [--to FORMAT] [--lenient]
    joinedup openapi [FILE]
    joinedup policy simulate FILE --from PARTNER --to PARTNER [--purpose P] [--config FILE]
    joinedup policy dry-run --agreements DIR [--config FILE]
    joinedup agreements check [DIR] [--config FILE]
    joinedup agreements list [DIR] [--json] [--config FILE]
    joinedup import cin-census FILE... [--config FILE] [--no-progress]
    joinedup directory load FILE [--config FILE]
    joinedup workflows escalate [--now ISO] [--config FILE]
    joinedup partners hash-key            (reads a key on standard input)

With no configuration, every command works on the demo's embedded defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError
from gateway.logging import configure_logging
from gateway.settings import Settings, hash_api_key, load_settings
from schemas.labels import Purpose


def _settings(args: argparse.Namespace) -> Settings:
    config: Path | None = getattr(args, "config", None)
    return load_settings(config)


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from gateway.app import create_app
    from gateway.oauth.mtls import server_ssl_context

    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    if args.config is None:
        print(
            "WARNING: no --config given: serving the demo's embedded defaults, whose keys and "
            "partners are public. Never use them for real data.",
            file=sys.stderr,
        )
    web.run_app(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        ssl_context=server_ssl_context(settings.oauth),
        access_log=None,
        print=None,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return asyncio.run(run_demo(port=args.port, exit_after=args.exit))


def _db_upgrade(args: argparse.Namespace) -> int:
    from gateway.store.engine import create_engine
    from gateway.store.migrate import upgrade

    settings = _settings(args)

    async def run() -> None:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print("database is at the newest schema")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from gateway.audit.commands import verify

    return verify(args)


def _verify_proof_file(args: argparse.Namespace, kind: str) -> int:
    from gateway.audit.commands import verify_proof_file

    return verify_proof_file(args, kind)


def _audit_verify_receipt(args: argparse.Namespace) -> int:
    return _verify_proof_file(args, "inclusion")


def _audit_verify_consistency(args: argparse.Namespace) -> int:
    return _verify_proof_file(args, "consistency")


def _schemas_export(args: argparse.Namespace) -> int:
    from schemas.export import export_schemas

    written = export_schemas(Path(args.directory))
    print(f"wrote {len(written)} JSON Schemas to {args.directory}")
    return 0


def _translate(args: argparse.Namespace) -> int:
    import orjson

    from gateway.errors import InvalidInput
    from gateway.translate import translate

    try:
        result = translate(Path(args.file), args.source, args.target, lenient=args.lenient)
    except InvalidInput as exc:
        # SECURITY: issues name elements and rules, never values, so they are safe to print.
        lines = [f"{i.element}: {i.reason}" for i in exc.issues] or [exc.detail]
        for line in lines:
            print(f"{args.file}: {line}", file=sys.stderr)
        return 2
    if args.target is None:
        documents = [m.model_dump(mode="json", exclude_none=True) for m in result.messages]
        payload = documents[0] if len(documents) == 1 else documents
        sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for body, _content_type in result.outputs:
            sys.stdout.write(body.decode() + "\n")
    print(f"loss report: {len(result.losses)} item(s)", file=sys.stderr)
    for line in result.losses:
        print(f"  {line}", file=sys.stderr)
    return 0


def _import_cin_census(args: argparse.Namespace) -> int:
    from gateway.imports import import_cin_census

    settings = _settings(args)
    report = asyncio.run(import_cin_census(args.files, settings, progress=not args.no_progress))
    # SECURITY: problems name file, line, element and reason, never a value from the file.
    for file in report.files:
        for problem in file.problems:
            print(problem)
        print(file.summary())
    return report.exit_code


def _simulate(args: argparse.Namespace) -> int:
    from gateway.errors import InvalidInput
    from gateway.simulate import simulate
    from schemas.labels import Purpose

    settings = _settings(args)
    try:
        result = asyncio.run(
            simulate(
                Path(args.file).read_bytes(),
                sender=args.sender,
                recipient=args.recipient,
                purpose=Purpose(args.purpose) if args.purpose else None,
                settings=settings,
            )
        )
    except InvalidInput as exc:
        lines = [f"{i.element}: {i.reason}" for i in exc.issues] or [exc.detail]
        for line in lines:
            print(f"{args.file}: {line}", file=sys.stderr)
        return 2
    decision = result.decision
    print(f"decision: {decision.outcome.value} ({decision.reason_code})")
    print(f"explanation: {decision.explanation}")
    if result.note:
        print(f"note: {result.note}")
    if result.body is not None:
        print(f"content-type: {result.content_type}")
        print(result.body.decode())
    return 0 if result.permitted else 3


def _dry_run(args: argparse.Namespace) -> int:
    from gateway.simulate import dry_run

    examined, changes = asyncio.run(dry_run(_settings(args), Path(args.agreements)))
    for c in changes:
        line = f"{c.exchange_id} {c.kind} to {c.recipient}: {c.before} -> {c.after}"
        if c.newly_withheld:
            line += f"; no longer shared: {', '.join(c.newly_withheld)}"
        print(line)
    print(f"{examined} recorded decisions examined; {len(changes)} would change")
    return 0


def _openapi(args: argparse.Namespace) -> int:
    import orjson

    from gateway.openapi import build_openapi

    document = orjson.dumps(build_openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    if args.output == "-":
        sys.stdout.write(document.decode() + "\n")
    else:
        Path(args.output).write_bytes(document + b"\n")
    return 0


def _hash_key(_args: argparse.Namespace) -> int:
    key = sys.stdin.readline().strip()
    if len(key) < 32:
        print("refusing: an API key must be at least 32 characters", file=sys.stderr)
        return 2
    print(hash_api_key(key))
    return 0


def _add_policy_commands(commands: Any) -> None:
    """`joinedup policy simulate` and `joinedup policy dry-run`."""
    policy = commands.add_parser("policy", help="policy tools").add_subparsers(
        dest="policy", required=True
    )
    simulate = policy.add_parser(
        "simulate", help="decide and render a share without making it (exit 0 permit, 3 refuse)"
    )
    simulate.add_argument("file")
    simulate.add_argument("--from", dest="sender", required=True, help="sending partner id")
    simulate.add_argument("--to", dest="recipient", required=True, help="receiving partner id")
    simulate.add_argument("--purpose", choices=[p.value for p in Purpose])
    simulate.add_argument("--config", type=Path)
    simulate.set_defaults(run=_simulate)
    dry = policy.add_parser(
        "dry-run", help="re-decide every recorded decision under other agreements"
    )
    dry.add_argument("--agreements", required=True, help="directory of proposed agreements")
    dry.add_argument("--config", type=Path)
    dry.set_defaults(run=_dry_run)


def _agreements_source(args: argparse.Namespace) -> tuple[Path, dict[str, tuple[str, ...]] | None]:
    """DIR, or the configured agreements directory; the partners when settings are in play."""
    if args.directory is not None and args.config is None:
        return Path(args.directory), None
    settings = _settings(args)
    partners = {p.id: tuple(p.organisations) for p in settings.partners}
    return Path(args.directory) if args.directory else settings.agreements_dir, partners


def _agreements_check(args: argparse.Namespace) -> int:
    from gateway.policy.agreements import check_directory

    directory, partners = _agreements_source(args)
    checked = check_directory(directory, partners=partners)
    for problem in checked.problems:
        print(problem)
    flows = sum(len(a.flows) for a in checked.agreements)
    print(
        f"{len(checked.files)} file(s), {len(checked.agreements)} valid agreement(s) with "
        f"{flows} flow(s): {len(checked.errors)} problem(s), {len(checked.warnings)} warning(s)"
    )
    return 0 if checked.valid else 1


def _agreements_list(args: argparse.Namespace) -> int:
    import orjson

    from gateway.policy.agreements import check_directory

    directory, partners = _agreements_source(args)
    checked = check_directory(directory, partners=partners)
    for problem in checked.problems:
        print(problem, file=sys.stderr)
    flows = [(a, f) for a in checked.agreements for f in a.flows]
    if args.json:
        rows = [
            {
                "agreement": a.id,
                "version": a.version,
                "from": f.from_,
                "to": f.to,
                "message_kinds": [k.value for k in f.message_kinds],
                "purposes": [p.value for p in f.purposes],
            }
            for a, f in flows
        ]
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0 if checked.valid else 1
    for a, f in flows:
        kinds = ",".join(k.value for k in f.message_kinds)
        purposes = ",".join(p.value for p in f.purposes)
        print(f"{a.id} v{a.version} {f.from_} -> {f.to} kinds={kinds} purposes={purposes}")
    return 0 if checked.valid else 1


def _add_agreements_commands(commands: Any) -> None:
    """`joinedup agreements check` and `joinedup agreements list`."""
    agreements = commands.add_parser("agreements", help="data-sharing agreements").add_subparsers(
        dest="agreements", required=True
    )
    check = agreements.add_parser(
        "check", help="report every problem with file, line and reason (exit 0 valid, 1 not)"
    )
    listing = agreements.add_parser(
        "list", help="one line per flow: agreement, version, from, to, message kinds, purposes"
    )
    listing.add_argument("--json", action="store_true", help="a JSON array, one object per flow")
    for sub, run in ((check, _agreements_check), (listing, _agreements_list)):
        sub.add_argument(
            "directory", nargs="?", metavar="DIR", help="default: the configured agreements_dir"
        )
        sub.add_argument("--config", type=Path, help="YAML settings file")
        sub.set_defaults(run=run)


def _ledger_options(audit: Any, verify: Any, receipt: Any) -> None:
    """The options of `audit verify` and `audit verify-receipt`, and `audit keygen`."""
    from gateway.audit.commands import add_keygen

    verify.add_argument(
        "--no-record", action="store_true", help="do not record the result in the ledger"
    )
    receipt.add_argument("file", type=Path)
    receipt.add_argument(
        "--key",
        action="append",
        metavar="VKEY_STRING_OR_FILE",
        help="a verifier key (<name>+<id>+<key>) or a file holding one, to check the receipt's "
        "checkpoint signature (repeatable)",
    )
    receipt.add_argument(
        "--config", type=Path, help="also accept the configured signing and verifier keys"
    )
    add_keygen(audit)


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one flat list of commands
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="joinedup", description="Joined-up information-sharing gateway"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="YAML settings file")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=_serve)

    demo = commands.add_parser(
        "demo", help="play the crisis-notice story with two partner simulators"
    )
    demo.add_argument("--exit", action="store_true", help="stop after the story instead of serving")
    demo.add_argument("--port", type=int, default=8080, help="gateway port (0 picks a free one)")
    demo.set_defaults(run=_demo)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db", required=True
    )
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("--config", type=Path)
    up.set_defaults(run=_db_upgrade)

    audit = commands.add_parser("audit", help="audit ledger tools").add_subparsers(
        dest="audit", required=True
    )
    verify = audit.add_parser(
        "verify",
        help="verify the whole ledger: chain, tree, checkpoints (exit 0 intact, 1 not); records "
        "the result as a ledger entry",
    )
    verify.add_argument("--config", type=Path)
    verify.set_defaults(run=_audit_verify)
    receipt = audit.add_parser(
        "verify-receipt",
        help="verify one inclusion proof (leafIdx, treeSize, root, leafHash, proof): exit 0 "
        "valid, 1 invalid; no server needed",
    )
    _ledger_options(audit, verify, receipt)
    receipt.set_defaults(run=_audit_verify_receipt)
    consistency = audit.add_parser(
        "verify-consistency",
        help="verify one consistency proof (size1, size2, root1, root2, proof): exit 0 valid, "
        "1 invalid; no server needed",
    )
    consistency.add_argument("file", type=Path)
    consistency.set_defaults(run=_audit_verify_consistency)
    __import__("gateway.audit.exports_cli").audit.exports_cli.register(audit)

    schemas = commands.add_parser("schemas", help="canonical model schemas").add_subparsers(
        dest="schemas", required=True
    )
    export = schemas.add_parser("export", help="write JSON Schemas to a directory")
    export.add_argument("directory")
    export.set_defaults(run=_schemas_export)

    translate = commands.add_parser(
        "translate", help="translate a partner file to canonical JSON or another format"
    )
    translate.add_argument("file")
    translate.add_argument(
        "--from", dest="source", required=True, choices=["fhir-r4", "csc", "cin-census"]
    )
    translate.add_argument("--to", dest="target", choices=["fhir-r4", "csc"])
    translate.add_argument(
        "--lenient",
        action="store_true",
        help="cin-census: translate what can be, listing problems in the loss report",
    )
    translate.set_defaults(run=_translate)

    imports = commands.add_parser("import", help="batch imports into the index").add_subparsers(
        dest="import_format", required=True
    )
    cin = imports.add_parser(
        "cin-census",
        help="import DfE Children in Need census returns (XML); exit 0 clean, 1 problems "
        "reported (the rest imported), 2 a file unusable or the index not writable",
    )
    cin.add_argument("files", nargs="+", metavar="FILE")
    cin.add_argument("--config", type=Path, help="YAML settings file")
    cin.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    cin.set_defaults(run=_import_cin_census)

    _add_policy_commands(commands)
    _add_agreements_commands(commands)
    __import__("gateway.review.cli").review.cli.register(commands)
    __import__("gateway.workflows.escalation").workflows.escalation.register(commands)  # issue 7
    __import__("gateway.directory.cli").directory.cli.register(commands)  # issue 7 directory

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("output", nargs="?", default="-", help="file (default: standard output)")
    openapi.set_defaults(run=_openapi)

    partners = commands.add_parser("partners", help="partner configuration helpers").add_subparsers(
        dest="partners", required=True
    )
    hash_key = partners.add_parser(
        "hash-key", help="print the SHA-256 to configure for an API key read from stdin"
    )
    hash_key.set_defaults(run=_hash_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``joinedup`` command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigurationError as exc:
        print(f"configuration error: {exc.detail}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
