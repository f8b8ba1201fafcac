"""A recording proxy in front of a local catalogue's STAC face, for the STAC backend's tests:
every request (POST bodies too) as the server got it, and answers a test may write itself."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import requests

from tests.hostile import HostileServer, Request, send

__all__ = ["Alter", "Proxy", "Rewrite", "limit_of"]

Rewrite = Callable[[Request], tuple[int, bytes] | None]
Alter = Callable[[Request, bytes], bytes]


class Proxy(HostileServer):
    """The local catalogue behind a loopback server that records every request (bodies too);
    ``rewrite`` may answer a request itself. Links the face writes point back at the proxy."""

    def __init__(
        self, upstream: str, rewrite: Rewrite | None = None, alter: Alter | None = None
    ) -> None:
        super().__init__(self._forward)
        self.upstream = upstream
        self.rewrite = rewrite
        self.alter = alter

    def _forward(self, request: Request, connection: socket.socket) -> None:
        own = self.rewrite(request) if self.rewrite is not None else None
        if own is not None:
            send(connection, own[0], own[1], {"Content-Type": "application/json"})
            return
        answer = requests.request(
            request.method,
            self.upstream + request.target.lstrip("/"),
            data=request.body or None,
            headers={
                "Host": f"{self.host}:{self.port}",
                "Content-Type": request.headers.get("content-type", "application/json"),
            },
            timeout=30,
        )
        content = answer.content
        if self.alter is not None and answer.status_code == 200:
            content = self.alter(request, content)
        self._answered()
        send(
            connection,
            answer.status_code,
            content,
            {"Content-Type": answer.headers.get("Content-Type", "application/json")},
        )

    def _answered(self) -> None:
        """The upstream answer is in hand, about to be relayed (a hook for subclasses)."""

    def searches(self) -> list[Request]:
        """The page requests of searches (a plain search's counting request, ``limit=1``,
        left out: it decides whether to fetch time windows side by side)."""
        return [r for r in self.requests if r.path.endswith("/search") and limit_of(r) != 1]

    def counts(self) -> list[Request]:
        """The counting requests (``limit=1``)."""
        return [r for r in self.requests if r.path.endswith("/search") and limit_of(r) == 1]


def limit_of(request: Request) -> int:
    """The page size a search request asked for (GET query or POST body)."""
    if request.method == "POST":
        return int(json.loads(request.body)["limit"])
    return int(request.param("limit") or 0)
