"""Local TLS material for the dev simulators: a private CA and a localhost server certificate.

    from devtools.tls import ensure_tls_material
    tls = ensure_tls_material(".demo")      # -> TlsMaterial(ca_pem, cert_pem, key_pem)
    uvicorn.run(app, ssl_certfile=tls.cert_pem, ssl_keyfile=tls.key_pem)
    requests.get(url, verify=tls.ca_pem)

Files written into ``directory`` (created if missing):

- ``ca.pem``          the CA certificate clients trust (``verify=ca.pem``)
- ``ca-key.pem``      the CA private key (only used to sign the server certificate)
- ``server.pem``      server certificate for ``localhost``, ``127.0.0.1`` and ``::1``, signed by the CA
- ``server-key.pem``  the server private key

Material already present is reused when it is still valid (parses, not expiring within a
day, server certificate signed by that CA and covering the names above), so several
simulators can share one directory and clients keep trusting the same ``ca.pem``.
Generation is serialised with a lock file, so two processes starting at once agree.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import ipaddress
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsMaterial", "ensure_tls_material", "SERVER_DNS_NAMES", "SERVER_IP_ADDRESSES"]

SERVER_DNS_NAMES = ("localhost",)
SERVER_IP_ADDRESSES = ("127.0.0.1", "::1")

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"

_CA_DAYS = 3650
_CERT_DAYS = 825  # the longest validity common TLS clients accept for a server certificate
_MIN_REMAINING = _dt.timedelta(days=1)


@dataclass(frozen=True)
class TlsMaterial:
    """Paths (as strings, ready for uvicorn / requests / ssl) of the PEM files."""

    ca_pem: str
    cert_pem: str
    key_pem: str


def ensure_tls_material(directory: str | os.PathLike[str]) -> TlsMaterial:
    """Return the CA + server certificate in ``directory``, generating them if absent or invalid."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    material = TlsMaterial(
        ca_pem=str(root / CA_FILE), cert_pem=str(root / CERT_FILE), key_pem=str(root / KEY_FILE)
    )
    with _locked(root / ".tls.lock"):
        if _ca_valid(root) and _server_valid(root):
            return material
        if _ca_valid(root):
            ca_key, ca_cert = _load_ca(root)
        else:
            ca_key, ca_cert = _new_ca()
            _write_private(root / CA_KEY_FILE, _key_pem(ca_key))
            _write_public(root / CA_FILE, ca_cert.public_bytes(serialization.Encoding.PEM))
        key, cert = _new_server_cert(ca_key, ca_cert)
        _write_private(root / KEY_FILE, _key_pem(key))
        _write_public(root / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))
    return material


# --- generation -------------------------------------------------------------------------


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _new_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jira-esm-connector dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, "jira-esm-connector local dev CA"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _new_server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = min(now + _dt.timedelta(days=_CERT_DAYS), ca_cert.not_valid_after_utc)
    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in SERVER_DNS_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(a)) for a in SERVER_IP_ADDRESSES]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


# --- validation -------------------------------------------------------------------------


def _still_valid(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - now > _MIN_REMAINING


def _load_ca(root: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert = x509.load_pem_x509_certificate((root / CA_FILE).read_bytes())
    key = serialization.load_pem_private_key((root / CA_KEY_FILE).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("unexpected CA key type")
    return key, cert


def _ca_valid(root: Path) -> bool:
    try:
        key, cert = _load_ca(root)
    except (OSError, ValueError, TypeError):
        return False
    same_key = key.public_key().public_numbers() == cert.public_key().public_numbers()
    return same_key and _still_valid(cert)


def _server_valid(root: Path) -> bool:
    try:
        ca_cert = x509.load_pem_x509_certificate((root / CA_FILE).read_bytes())
        cert = x509.load_pem_x509_certificate((root / CERT_FILE).read_bytes())
        key = serialization.load_pem_private_key((root / KEY_FILE).read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return False
    names = set(san.get_values_for_type(x509.DNSName))
    ips = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    covers = set(SERVER_DNS_NAMES) <= names and set(SERVER_IP_ADDRESSES) <= ips
    return covers and _still_valid(cert)


# --- files ------------------------------------------------------------------------------


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _write_private(path: Path, data: bytes) -> None:
    _write_atomic(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write_atomic(path, data, 0o644)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
