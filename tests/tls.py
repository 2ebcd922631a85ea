"""Throw-away TLS material for tests, made with the ``openssl`` command line at test time."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

_CA_EXTENSIONS = (
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # self-signed CA certificate
    cert: Path  # server certificate for 127.0.0.1 and localhost, signed by the CA
    key: Path
    client_cert: Path  # client certificate signed by the CA
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the tests need the openssl command line to make certificates")
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "other-ca"):
        _openssl(
            directory,
            "req",
            "-x509",
            *_new_key(f"{name}.key"),
            "-out",
            f"{name}.pem",
            "-days",
            "2",
            "-subj",
            f"/CN=driftwarden test {name}",
            *_CA_EXTENSIONS,
        )
    _leaf(
        directory,
        "server",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth",
    )
    _leaf(directory, "client", "extendedKeyUsage=clientAuth")
    return TlsFiles(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_ca=directory / "other-ca.pem",
    )


def _new_key(path: str) -> tuple[str, ...]:
    return ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path)


def _leaf(directory: Path, name: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(
        f"basicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid\n{extensions}\n"
    )
    _openssl(
        directory, "req", *_new_key(f"{name}.key"), "-out", f"{name}.csr", "-subj", f"/CN={name}"
    )
    _openssl(
        directory,
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        f"{name}.pem",
        "-days",
        "2",
        "-extfile",
        f"{name}.ext",
    )


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def get(
    url: str,
    context: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url)  # noqa: S310 - loopback test servers
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
