"""Servers written to misbehave: real TCP sockets on loopback whose answers are written by hand.

The local catalogue is a faithful server; these are not. Each connection is handed to a test's
``handler(request, connection)``, which writes whatever bytes it likes (a dripping body, a lying
``Content-Length``, a redirect to another host, a gzip bomb, a cut), so that a client's defences
are tested against the wire and not against a patched function.

>>> def handler(request, connection):
...     send(connection, 200, b"hello", {"Content-Type": "text/plain"})
>>> with HostileServer(handler) as server:  # doctest: +SKIP
...     requests.get(server.url("/x")).text
'hello'
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

__all__ = ["HostileServer", "Request", "send"]

REASONS = {
    200: "OK",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    416: "Range Not Satisfiable",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Request:
    """One request as it arrived: what a test asserts on (which headers reached which host)."""

    method: str
    target: str
    headers: dict[str, str]  # names lower-cased
    body: bytes = b""
    params: dict[str, list[str]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[0] if values else default


def send(
    connection: socket.socket,
    status: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    length: bool = True,
) -> None:
    """Write one whole answer; ``length=False`` leaves out ``Content-Length`` (body ends at close)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}"]
    merged = {"Connection": "close", **(headers or {})}
    if length:
        merged.setdefault("Content-Length", str(len(body)))
    lines += [f"{name}: {value}" for name, value in merged.items()]
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


Handler = Callable[[Request, socket.socket], None]


class HostileServer:
    """A loopback server that hands each connection's first request to ``handler``.

    One request per connection (answers say ``Connection: close``); every request is recorded
    in :attr:`requests`, in arrival order, before the handler runs.
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True, name="hostile")

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def __enter__(self) -> HostileServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._accepting.join(timeout=5)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            try:
                request = _read_request(connection)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                self.handler(request, connection)
            except OSError:
                pass  # the client went away: part of what these servers provoke


def _read_request(connection: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = line.split(" ", 2)
    headers = {}
    for header in header_lines:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    wanted = int(headers.get("content-length", "0") or 0)
    while len(body) < wanted:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, target, headers, body, parse_qs(urlsplit(target).query))
