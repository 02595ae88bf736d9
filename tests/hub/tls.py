"""TLS material for tests, made with the openssl command line tool.

    paths = make_tls(tmp_path, "builder1.example.com")
    HubProcess(db, topdir, tls=paths)              # HTTPS, client certs from paths.ca
    ClientSession(hub.url, {"serverca": paths.ca}).ssl_login(cert=paths.client_pem)

A CA, a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1) and a
client certificate whose CN is the Koji user (kojihub auth.py sslLogin takes
the user from SSL_CLIENT_S_DN_CN).  Koji's `cert` option is one PEM file with
the certificate and its key: client_pem.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class TLSPaths:
    ca: str              # CA certificate: serverca for clients, client CA for the server
    ca_key: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    client_pem: str      # client certificate + key (koji's `cert`)
    client_cn: str


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", str(path))
    os.chmod(path, 0o600)


def _sign(directory: Path, name: str, subject: str, extensions: str, *, ca: Path,
          ca_key: Path) -> tuple:
    key = directory / (f"{name}.key")
    csr = directory / (f"{name}.csr")
    cert = directory / (f"{name}.crt")
    ext = directory / (f"{name}.ext")
    _key(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    ext.write_text(extensions)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "3", "-sha256", "-extfile", str(ext),
             "-out", str(cert))
    return cert, key


def make_client_cert(directory, cn: str, ca: str, ca_key: str) -> tuple:
    """Another client certificate from the same CA: (cert, key, pem)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    safe = cn.replace("/", "_")
    cert, key = _sign(directory, "client-" + safe, f"/CN={cn}",
                      "basicConstraints=critical,CA:FALSE\n"
                      "keyUsage=critical,digitalSignature\n"
                      "extendedKeyUsage=clientAuth\n"
                      "subjectKeyIdentifier=hash\n"
                      "authorityKeyIdentifier=keyid,issuer\n",
                      ca=Path(ca), ca_key=Path(ca_key))
    pem = directory / (f"client-{safe}.pem")
    pem.write_text(cert.read_text() + key.read_text())
    os.chmod(pem, 0o600)
    return str(cert), str(key), str(pem)


def make_tls(directory, client_cn: str) -> TLSPaths:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = directory / "ca.key"
    ca = directory / "ca.crt"
    _key(ca_key)
    _openssl("req", "-new", "-x509", "-key", str(ca_key), "-subj", "/CN=adjutant test CA",
             "-days", "3", "-sha256",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash",
             "-out", str(ca))
    server_cert, server_key = _sign(
        directory, "server", "/CN=127.0.0.1",
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n",
        ca=ca, ca_key=ca_key)
    client_cert, client_key, client_pem = make_client_cert(directory, client_cn, str(ca),
                                                           str(ca_key))
    return TLSPaths(ca=str(ca), ca_key=str(ca_key), server_cert=str(server_cert),
                    server_key=str(server_key), client_cert=client_cert,
                    client_key=client_key, client_pem=client_pem, client_cn=client_cn)
