"""Optional mutual TLS at the token endpoint.

With ``oauth.require_client_certificate`` the gateway terminates TLS itself
(:func:`server_ssl_context`), asks every client for a certificate and verifies any it is given
against ``oauth.client_ca_file`` during the handshake (a certificate from another CA ends the
connection there). The token endpoint then issues a token only if the connection presented a
certificate and it maps to the partner whose assertion was verified
(``oauth.client_certificates``: the subject, a subject alternative name, or both).

A certificate is optional at the handshake, so that load balancers' health checks of ``/_ping``
need none; it is the token endpoint that requires one.
"""

from __future__ import annotations

import ssl

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from gateway.errors import ConfigurationError
from gateway.oauth.settings import ClientCertificate, OAuthSettings


def server_ssl_context(settings: OAuthSettings) -> ssl.SSLContext | None:
    """The TLS context the gateway serves with, or None when TLS is terminated in front of it."""
    if settings.tls_certificate_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_certificate_file, settings.tls_key_file)
        if settings.client_ca_file is not None:
            context.load_verify_locations(cafile=settings.client_ca_file)
            context.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"oauth TLS files: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return context


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The client certificate the connection's TLS handshake verified, if any."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def _alternative_names(certificate: x509.Certificate) -> set[str]:
    try:
        san = certificate.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        ).value
    except x509.ExtensionNotFound:
        return set()
    if not isinstance(san, x509.SubjectAlternativeName):
        return set()
    return set(san.get_values_for_type(x509.DNSName)) | set(
        san.get_values_for_type(x509.UniformResourceIdentifier)
    )


def certificate_matches(certificate: x509.Certificate, expected: ClientCertificate) -> bool:
    """Whether ``certificate`` shows everything ``expected`` asks for."""
    if expected.subject is not None and certificate.subject.rfc4514_string() != expected.subject:
        return False
    return expected.san is None or expected.san in _alternative_names(certificate)
