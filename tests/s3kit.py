"""A real S3-compatible HTTPS server on 127.0.0.1 (moto in server mode) for the streaming tests.

HTTPS, not HTTP: litdata uploads and downloads chunks through obstore, which refuses plain
http endpoints (it never sets obstore's allow_http), so the server gets a certificate from a
CA made here; boto3 trusts it through AWS_CA_BUNDLE and obstore through SSL_CERT_FILE.
Run as a script it serves until killed: ``python s3kit.py DIR`` (prints the port).
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import sys
from pathlib import Path


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signing_key, ca: bool, san=None):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=2))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vidzoo test CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    cert = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, key.public_key(),
                 ca_key, False, [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def serve(folder: Path) -> None:
    import ssl

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    _, cert, key = make_certificates(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True,
                         request_handler=MotoRequestHandler, ssl_context=context)
    print(server.server_address[1], flush=True)
    server.serve_forever()


class S3Server:
    """The server in a subprocess; ``env`` holds the AWS variables a client process needs."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, __file__, str(folder)], stdout=subprocess.PIPE,
                                     stderr=open(folder / "server.log", "wb"), text=True)
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.proc.kill()
            raise RuntimeError(f"the S3 server did not start: {(folder / 'server.log').read_text()[-2000:]}")
        ca = str(folder / "ca.pem")
        self.endpoint = f"https://127.0.0.1:{port}"
        self.env = {"AWS_ACCESS_KEY_ID": "vidzoo-test", "AWS_SECRET_ACCESS_KEY": "vidzoo-test-secret",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint,
                    "AWS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, verify=self.env["AWS_CA_BUNDLE"],
                            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
