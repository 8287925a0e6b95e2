"""A stand-in Kubernetes API server for unit tests of the intelligence layer (no cluster needed).

`FakeApi` answers from a handler function in a background thread, over HTTP or HTTPS (a
self-signed certificate made with the openssl CLI, as the image's curl checks it against ca.crt).
`SilentListener` accepts connections and never answers, not even the TLS handshake.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


# A handler returns (status, body); body is JSON-encoded unless it is bytes (sent as is).
Handler = Callable[[Request], tuple[int, object]]


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the openssl CLI (no Python dependency)."""
    cert, key = directory / "ca.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class FakeApi:
    """Serve `handler` on 127.0.0.1; use as a context manager. `requests` records what came in."""

    handler: Handler
    tls: tuple[Path, Path] | None = None
    requests: list[Request] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)  # ends handlers that hang

    def __enter__(self) -> FakeApi:
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command, url.path, parse_qs(url.query), dict(self.headers.items()), self.rfile.read(length)
                )
                api.requests.append(request)
                try:
                    status, body = api.handler(request)
                except Exception as exc:  # an assertion in a handler fails the test at __exit__
                    api.errors.append(exc)
                    status, body = 500, {"kind": "Status", "code": 500}
                if api.release.is_set():  # a hung request released at shutdown: its client is gone
                    return
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeouts are what some tests are about)
                    self.close_connection = True

            do_GET = do_POST = _serve

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @classmethod
    def never_answering(cls, tls: tuple[Path, Path] | None = None) -> FakeApi:
        """An API server that accepts every request and never answers it."""
        api = cls(lambda request: api.hang() or (200, {}), tls=tls)
        return api

    def hang(self) -> None:
        """Block the calling handler until the server is closed (an API server that never answers)."""
        self.release.wait(timeout=60)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        if self.errors and exc_type is None:
            raise self.errors[0]


class SilentListener:
    """Accept TCP connections and never send a byte: a TLS handshake that never completes."""

    def __enter__(self) -> SilentListener:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._accepted: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        self._socket.settimeout(0.2)
        while not self._closing.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            self._accepted.append(conn)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._socket.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        for conn in self._accepted:
            conn.close()
        self._socket.close()
