"""A neutral STAC API page server for the benchmarks: pre-serialised items, nothing else.

Not the local catalogue: this server does no filtering beyond ``collections`` and ``datetime``
and builds no JSON per request (each item is serialised once, at start), so that what the
benchmark measures is the clients, not the server. It holds ``N`` copies of the real 2026
Terrascope item (``shared/fixtures/real/stac/search_s2_toc_2026.json``, about 21 kB of JSON),
each with its own id, datetime and a footprint moved by a hair (a client that parses each
distinct footprint once must not be flattered by copies that share one).

It answers ``GET /`` (the landing page: core, item-search and collections conformance; no
Filter extension, so a client sends no filter), ``/conformance``, ``/collections``,
``/collections/<id>``, and ``GET``/``POST /search`` with ``collections``, ``datetime`` (a closed
interval, open ends ``..``, or one instant), ``limit`` (at most 1,000) and an opaque ``token``
in the ``next`` links, with ``numberMatched``/``numberReturned``. Each request sleeps
``latency`` seconds, and a search page ``items * per_item`` more: a real catalogue's time grows
with the page. ``GET /_stats`` (``?reset=1``) tells how many searches came and how many were in
flight at most, so that a client's concurrency is measured, not claimed.

Run it in its own process (threaded: concurrent clients are served concurrently)::

    python -m benchmarks._stac_server --items 20000 --latency 0.02 --per-item 0
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import copy
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "real"
    / "stac"
    / "search_s2_toc_2026.json"
)
COLLECTION = "terrascope-s2-toc-v2"
FIRST = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=10)
"""Item ``n`` is acquired at ``FIRST + n * STEP``: 20,000 items span about 139 days."""
SPAN = "2024-01-01T00:00:00Z/2025-12-31T23:59:59Z"
"""A ``datetime`` interval that holds every item (up to about 100,000 of them)."""
MAX_LIMIT = 1_000
DEFAULT_LIMIT = 10
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/conf/geojson",
]


def item_id(number: int) -> str:
    """The id of the benchmark's item ``number`` (the clients' answers are checked against it)."""
    return f"S2A_{number:06d}_31TCN_TOC_V220"


def template() -> dict[str, Any]:
    """The real 2026 Terrascope item."""
    return json.loads(FIXTURE.read_text())["features"][0]


def _moved(coordinates: Any, shift: float) -> Any:
    if isinstance(coordinates[0], int | float):
        return [coordinates[0] + shift, *coordinates[1:]]
    return [_moved(part, shift) for part in coordinates]


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def serialised_item(source: dict[str, Any], number: int) -> bytes:
    """Copy ``number`` of the real item ``source``: its own id, datetime and footprint."""
    item = copy.deepcopy(source)
    moment = FIRST + number * STEP
    item["id"] = item_id(number)
    item["geometry"]["coordinates"] = _moved(item["geometry"]["coordinates"], number * 1e-7)
    props = item["properties"]
    props["title"] = item["id"]
    props["datetime"] = props["start_datetime"] = _stamp(moment)
    props["end_datetime"] = _stamp(moment + dt.timedelta(seconds=5))
    for link in item.get("links", []):
        if link.get("rel") == "self":
            link["href"] = link["href"].rsplit("/", 1)[0] + "/" + item["id"]
    return orjson.dumps(item)


def make_items(count: int) -> tuple[list[bytes], list[float]]:
    """``count`` serialised copies of the real item and their acquisition instants (epoch s)."""
    source = template()
    items = [serialised_item(source, number) for number in range(count)]
    return items, [(FIRST + number * STEP).timestamp() for number in range(count)]


def _instant(text: str, *, high: bool) -> float:
    if text in ("", ".."):
        return float("inf") if high else float("-inf")
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _interval(value: str | None) -> tuple[float, float]:
    """A STAC ``datetime`` as closed bounds (epoch s)."""
    if not value:
        return float("-inf"), float("inf")
    low, slash, high = value.partition("/")
    if not slash:
        return _instant(low, high=False), _instant(low, high=True)
    return _instant(low, high=False), _instant(high, high=True)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"after:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    padded = token + "=" * (-len(token) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().partition(":")[2])


class Store:
    """The items, sorted by acquisition, and the counts ``/_stats`` reports."""

    def __init__(self, count: int, latency: float, per_item: float) -> None:
        self.items, self.instants = make_items(count)
        self.latency, self.per_item = latency, per_item
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = self.searches = 0

    def page(self, query: dict[str, Any], url: str, method: str) -> tuple[list[bytes], int]:
        """One ``/search`` page (its body's parts, items on it) for the query's parameters.

        The parts are the stored items themselves, sent by one gathering write: joining them
        into one body would cost this process a copy of 20 MB a page, and a page fault for
        each of its 4 kB, on the cores the clients are measured on.
        """
        collections = query.get("collections")
        if isinstance(collections, str):
            collections = collections.split(",")
        low, high = _interval(query.get("datetime"))
        first = bisect.bisect_left(self.instants, low)
        end = bisect.bisect_right(self.instants, high)
        if collections and COLLECTION not in collections:
            first = end = 0
        limit = max(1, min(MAX_LIMIT, int(query.get("limit") or DEFAULT_LIMIT)))
        start = first + _offset(query.get("token"))
        stop = min(end, start + limit)
        links: list[dict[str, Any]] = [{"rel": "root", "href": url, "type": "application/json"}]
        if stop < end:
            token = _token(stop - first)
            if method == "POST":
                body = {k: v for k, v in query.items() if k != "token"} | {"token": token}
                links.append(
                    {"rel": "next", "href": url + "search", "method": "POST", "body": body}
                )
            else:
                params = {k: v for k, v in query.items() if k != "token"} | {"token": token}
                text = "&".join(f"{k}={_quoted(v)}" for k, v in params.items())
                links.append({"rel": "next", "href": f"{url}search?{text}", "method": "GET"})
        tail = orjson.dumps(
            {"links": links, "numberMatched": end - first, "numberReturned": stop - start}
        )
        items = self.items[start:stop]
        parts = [b'{"type":"FeatureCollection","features":[']
        for number, item in enumerate(items):
            parts += (b",", item) if number else (item,)
        return [*parts, b"]," + tail[1:]], stop - start


_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def _send_all(connection: socket.socket, parts: list[bytes]) -> None:
    """Write ``parts`` in order with gathering writes (at most ``IOV_MAX`` buffers each)."""
    views = [memoryview(part) for part in parts if part]
    first = 0
    while first < len(views):
        sent = connection.sendmsg(views[first : first + _IOV_MAX])
        while first < len(views) and sent >= len(views[first]):
            sent -= len(views[first])
            first += 1
        if sent:
            views[first] = views[first][sent:]


def _quoted(value: Any) -> str:
    from urllib.parse import quote

    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return quote(str(value), safe="/:,.")


def _collection(url: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": COLLECTION,
        "title": "Sentinel-2 top of canopy (benchmark copies)",
        "description": "Copies of one real Terrascope item",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [[SPAN.split("/")[0], None]]},
        },
        "links": [{"rel": "self", "href": f"{url}collections/{COLLECTION}"}],
    }


def _landing(url: str) -> dict[str, Any]:
    return {
        "type": "Catalog",
        "stac_version": "1.1.0",
        "id": "bench",
        "description": "Benchmark STAC page server",
        "conformsTo": CONFORMANCE,
        "links": [
            {"rel": "self", "href": url, "type": "application/json"},
            {"rel": "root", "href": url, "type": "application/json"},
            {"rel": "conformance", "href": url + "conformance"},
            {"rel": "data", "href": url + "collections", "type": "application/json"},
            {
                "rel": "search",
                "href": url + "search",
                "method": "GET",
                "type": "application/geo+json",
            },
            {
                "rel": "search",
                "href": url + "search",
                "method": "POST",
                "type": "application/geo+json",
            },
        ],
    }


def handler(store: Store, url: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections

        def setup(self) -> None:
            # An answer's body goes out in a write of its own after the headers': with Nagle's
            # algorithm on, its last segment waits for the client's delayed ACK (40 ms) of the
            # headers. Servers in production set TCP_NODELAY; so does this one.
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: Any) -> None:  # quiet: the benchmark prints tables
            pass

        def _send(
            self, status: int, body: bytes | list[bytes], kind: str = "application/json"
        ) -> None:
            parts = [body] if isinstance(body, bytes) else body
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(sum(map(len, parts))))
            self.end_headers()
            _send_all(self.connection, parts)

        def _search(self, query: dict[str, Any], method: str) -> None:
            with store.lock:
                store.searches += 1
                store.in_flight += 1
                store.most_in_flight = max(store.most_in_flight, store.in_flight)
            try:
                body, returned = store.page(query, url, method)
                time.sleep(store.latency + returned * store.per_item)
                self._send(200, body, "application/geo+json")
            finally:
                with store.lock:
                    store.in_flight -= 1

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            path = parts.path.rstrip("/")
            if path == "/_stats":
                with store.lock:
                    stats = {"searches": store.searches, "most_in_flight": store.most_in_flight}
                    if "reset" in query:
                        store.searches = store.most_in_flight = 0
                return self._send(200, orjson.dumps(stats))
            if path == "/search":
                return self._search(query, "GET")
            time.sleep(store.latency)
            if path == "":
                return self._send(200, orjson.dumps(_landing(url)))
            if path == "/conformance":
                return self._send(200, orjson.dumps({"conformsTo": CONFORMANCE}))
            if path == "/collections":
                answer = {"collections": [_collection(url)], "links": []}
                return self._send(200, orjson.dumps(answer))
            if path == f"/collections/{COLLECTION}":
                return self._send(200, orjson.dumps(_collection(url)))
            self._send(404, b'{"code":"NotFound","description":"no such path"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if urlsplit(self.path).path.rstrip("/") != "/search":
                return self._send(404, b'{"code":"NotFound","description":"no such path"}')
            query = orjson.loads(self.rfile.read(length) or b"{}")
            self._search(query, "POST")

    return Handler


def serve(count: int, latency: float, per_item: float) -> None:
    """Serve until stdin closes; the first line printed is the landing page's URL."""
    store = Store(count, latency, per_item)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    server.RequestHandlerClass = handler(store, url)
    server.daemon_threads = True
    server.request_queue_size = 64
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(url, flush=True)
    sys.stdin.read()
    server.shutdown()


@contextlib.contextmanager
def stac_server_process(
    count: int, *, latency: float = 0.0, per_item: float = 0.0
) -> Iterator[str]:
    """The page server of ``count`` items in a child process; yields its URL."""
    arguments = ["--items", str(count), "--latency", str(latency), "--per-item", str(per_item)]
    with subprocess.Popen(
        [sys.executable, "-m", "benchmarks._stac_server", *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    ) as process:
        try:
            url = process.stdout.readline().strip()
            if not url:
                raise RuntimeError("the STAC page server did not start")
            yield url
        finally:
            process.stdin.close()
            process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--per-item", type=float, default=0.0)
    args = parser.parse_args()
    serve(args.items, args.latency, args.per_item)


if __name__ == "__main__":
    main()
