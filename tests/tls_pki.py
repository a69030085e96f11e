"""A throwaway PKI for the mutual TLS tests (made with ``cryptography``), and the gateway served
over TLS on loopback with it.

The CA signs a server certificate for 127.0.0.1 and client certificates for the trust (matched by
subject) and the council (matched by a DNS subject alternative name); a second CA signs a
stranger's certificate that the gateway must not accept.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from gateway.app import create_app
from gateway.appkeys import SERVICES
from gateway.oauth.mtls import server_ssl_context
from gateway.oauth.settings import ClientCertificate
from gateway.settings import DeliverySettings
from gateway.store.tables import ledger
from tests.conftest import TOKEN_KEY_FILE, Database, make_settings, oauth_settings

TRUST_SUBJECT = "CN=trust-demo,O=Test Trust,C=GB"
COUNCIL_SAN = "csc.council999.example"


def _name(text: str) -> x509.Name:
    return x509.Name.from_rfc4514_string(text)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    san: list[x509.GeneralName] | None = None,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer_name, issuer_key = issuer if issuer is not None else (_name(subject), key)
    usage = (
        x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        if server
        else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@dataclass
class Pki:
    """Files: ca.crt, server.{crt,key}, trust/council/stranger.{crt,key}."""

    directory: Path

    @classmethod
    def make(cls, base: Path) -> Pki:
        directory = base / "pki"
        directory.mkdir()
        ca_key, other_ca_key = _key(), _key()
        ca = _certificate("CN=Test Partner CA,O=Joined-up tests", ca_key, None, ca=True)
        other_ca = _certificate("CN=Someone Else's CA", other_ca_key, None, ca=True)
        (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        issuer = (ca.subject, ca_key)
        server_key = _key()
        server = _certificate(
            "CN=127.0.0.1",
            server_key,
            issuer,
            san=[x509.IPAddress(IPv4Address("127.0.0.1"))],
            server=True,
        )
        _write(directory / "server", server, server_key)
        trust_key, council_key, stranger_key = _key(), _key(), _key()
        _write(directory / "trust", _certificate(TRUST_SUBJECT, trust_key, issuer), trust_key)
        council = _certificate(
            "CN=council,O=Test Council,C=GB", council_key, issuer, san=[x509.DNSName(COUNCIL_SAN)]
        )
        _write(directory / "council", council, council_key)
        stranger = _certificate(TRUST_SUBJECT, stranger_key, (other_ca.subject, other_ca_key))
        _write(directory / "stranger", stranger, stranger_key)
        return cls(directory)


@dataclass
class Served:
    """The gateway over TLS: its base URL and how to connect to it."""

    base: str
    pki: Pki
    app: web.Application
    contexts: dict[str | None, ssl.SSLContext] = field(default_factory=dict)

    def client_context(self, name: str | None) -> ssl.SSLContext:
        """Trusts the test CA; presents ``name``'s client certificate, if a name is given."""
        if name not in self.contexts:
            context = ssl.create_default_context(cafile=self.pki.directory / "ca.crt")
            if name is not None:
                context.load_cert_chain(
                    self.pki.directory / f"{name}.crt", self.pki.directory / f"{name}.key"
                )
            self.contexts[name] = context
        return self.contexts[name]

    async def refusals(self) -> list[dict[str, Any]]:
        async with self.app[SERVICES].engine.connect() as conn:
            rows = await conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
            entries = [orjson.loads(r[0]) for r in rows]
        return [e for e in entries if e["event"] == "access.refused"]


async def serve_tls(pki: Pki, tmp_path: Path) -> AsyncIterator[Served]:
    """The gateway with mutual TLS required at the token endpoint, on a loopback port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    base = f"https://127.0.0.1:{port}"
    oauth = oauth_settings(
        token_key_file=TOKEN_KEY_FILE,
        token_url=f"{base}/oauth2/token",
        require_client_certificate=True,
        client_ca_file=pki.directory / "ca.crt",
        tls_certificate_file=pki.directory / "server.crt",
        tls_key_file=pki.directory / "server.key",
        client_certificates={
            "trust-demo": ClientCertificate(subject=TRUST_SUBJECT),
            "council-demo": ClientCertificate(san=COUNCIL_SAN),
        },
    )
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", None, "sqlite")
    settings = make_settings(database, oauth=oauth, delivery=DeliverySettings(enabled=False))
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, listener, ssl_context=server_ssl_context(settings.oauth)).start()
        yield Served(base, pki, app)
    finally:
        await runner.cleanup()
