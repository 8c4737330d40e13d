"""A hostile upstream for the outbound-policy tests: one port on 127.0.0.1 that speaks https (with a certificate
from a test CA made here) and plain http, telling apart each connection by its first byte, and recording every
request with the scheme it arrived on. `redirect_to` makes the https side answer 307 with that Location.
"""

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler
from socketserver import ThreadingTCPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TLS_HANDSHAKE = 0x16


def make_test_ca(folder):
    """A CA and a certificate it signed for localhost and 127.0.0.1; returns (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hf-console test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.scheme = "http"
        first = self.request.recv(1, socket.MSG_PEEK)
        if first and first[0] == TLS_HANDSHAKE:
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
            self.scheme = "https"
        super().setup()

    def log_message(self, *args):
        pass

    def _answer(self):
        upstream = self.server.upstream
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with upstream.lock:
            upstream.requests.append(
                {"scheme": self.scheme, "path": self.path, "authorization": self.headers.get("Authorization")}
            )
        if self.scheme == "https" and upstream.redirect_to and self.path != "/final":
            self.send_response(307)
            self.send_header("Location", upstream.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.endswith("/chat/completions"):
            return self._stream()
        body = b'[{"generated_text": "ok"}]'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self):
        """A chat stream in chunks, each event written (and flushed) on its own, a short pause between them."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, word in enumerate(["Over", " TLS", None]):
            delta = {"content": word} if word else {}
            event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta,
                     "finish_reason": None if word else "stop"}]}  # fmt: skip
            data = b"data: " + json.dumps(event).encode() + b"\n\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            time.sleep(0.2 if index == 0 else 0.01)
        data = b"data: [DONE]\n\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")

    do_GET = do_POST = _answer


class _Server(ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a refused handshake (the client distrusts us) is what some tests expect


class DualUpstream:
    def __init__(self, folder):
        self.ca, cert, key = make_test_ca(folder)
        self.lock = threading.Lock()
        self.requests = []
        self.redirect_to = ""
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.upstream = self
        self.server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.tls.load_cert_chain(cert, key)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def plain_requests(self):
        return [r for r in self.requests if r["scheme"] == "http"]
