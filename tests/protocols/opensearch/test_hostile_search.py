"""Searches against catalogues written to misbehave: every one ends, in bounded time and requests.

Each test runs a :class:`~tests.hostile.HostileServer` that speaks just enough OpenSearch
GeoJSON to lead a client on (a page that drips, a gzip bomb, the same page for every
``startIndex``, a total it never serves, a silence) and asserts what arrives on the wire:
how many requests, how long, and the one-line error a user reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import terracat
from terracat import Catalogue, CatalogueConfig, SearchException, TooManyResultsException
from terracat._defaults import MAX_PAGE_BYTES
from terracat._http import retry_budget
from terracat.protocols.windows import Span, _check_halves
from tests.hostile import HostileServer, Request, send

COLLECTION = "urn:eop:VITO:HOSTILE"

Handler = Callable[[Request, socket.socket], None]


# ---- a catalogue's answers, by hand ---------------------------------------------------------


def feature(identifier: str) -> dict[str, Any]:
    return {
        "id": identifier,
        "type": "Feature",
        "geometry": None,
        "properties": {"title": identifier, "date": "2021-01-01T00:00:00Z"},
    }


def page(
    total: int,
    start: int,
    ids: list[str],
    *,
    last: int | None = None,
) -> bytes:
    """One OpenSearch GeoJSON page (``last``: the startIndex of its ``last`` link, if any)."""
    links: dict[str, Any] = {}
    if last is not None:
        href = f"http://catalogue.invalid/products?collection={COLLECTION}&startIndex={last}"
        links["last"] = [{"href": href, "type": "application/geo+json", "title": "last"}]
    body = {
        "type": "FeatureCollection",
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(ids),
        "properties": {"links": links},
        "features": [feature(identifier) for identifier in ids],
    }
    return json.dumps(body).encode()


def answer(connection: socket.socket, body: bytes) -> None:
    send(connection, 200, body, {"Content-Type": "application/geo+json"})


def start_of(request: Request) -> int:
    return int(request.param("startIndex", "1") or 1)


def count_of(request: Request) -> int:
    return int(request.param("count", "10") or 10)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], HostileServer]]:
    """Start a HostileServer for a handler; every one is stopped after the test."""
    servers: list[HostileServer] = []

    def start(handler: Handler) -> HostileServer:
        server = HostileServer(handler).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def config_for(server: HostileServer, *, timeout: float = 2.0, retries: int = 1) -> CatalogueConfig:
    config = CatalogueConfig.from_url(server.url("/"))
    config.search_timeout, config.retries, config.search_workers = timeout, retries, 2
    return config


def page_requests(server: HostileServer) -> list[Request]:
    return [r for r in server.requests if r.path.endswith("/products")]


# ---- 1. a page that drips -------------------------------------------------------------------


def drip(request: Request, connection: socket.socket) -> None:
    """Headers at once, then a body of 100 kB at 20 bytes a second (for 8 s at most)."""
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/geo+json\r\nContent-Length: 100000\r\n\r\n"
    connection.sendall(head.encode())
    for _ in range(80):
        connection.sendall(b"  ")
        time.sleep(0.1)


def test_a_dripping_page_is_bounded_as_a_whole_by_the_search_timeout(serve):
    server = serve(drip)
    began = time.monotonic()
    with pytest.raises(SearchException) as raised:
        Catalogue(config_for(server, timeout=1.0, retries=1)).search(COLLECTION)
    elapsed = time.monotonic() - began
    message = str(raised.value)
    assert f"{server.host}:{server.port} did not send the page within 1 s" in message
    assert "SearchTimeout" in message and "2 attempts" in message
    assert len(page_requests(server)) == 2  # a late page is transient: retried once
    assert elapsed < 4.5  # two attempts of 1 s and a backoff, not 2 x 8 s of dripping


# ---- 2. a compression bomb ------------------------------------------------------------------

BOMB_SIZE = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """256 MiB of spaces, gzipped to about 250 kB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1024 * 1024)
    parts = [compressor.compress(block) for _ in range(BOMB_SIZE // len(block))]
    return b"".join(parts) + compressor.flush()


def test_a_gzip_bomb_fails_with_bounded_memory_and_is_not_retried(serve, bomb):
    assert len(bomb) < 1024 * 1024  # what crosses the wire is small

    def handler(request: Request, connection: socket.socket) -> None:
        headers = {"Content-Type": "application/geo+json", "Content-Encoding": "gzip"}
        send(connection, 200, bomb, headers)

    server = serve(handler)
    config = config_for(server, timeout=20.0, retries=2)
    config.max_page_bytes = 8 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(SearchException, match=r"too large.*MaxPageBytes") as raised:
            Catalogue(config).search(COLLECTION)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(config.max_page_bytes) in str(raised.value)
    assert f"{server.host}:{server.port}" in str(raised.value)
    assert peak < 64 * 1024 * 1024, peak  # not the 256 MiB it inflates to
    assert len(page_requests(server)) == 1  # asking again would inflate the same bomb


def test_max_page_bytes_is_read_from_the_http_section(tmp_path):
    assert CatalogueConfig.from_url("http://127.0.0.1:1/").max_page_bytes == MAX_PAGE_BYTES
    path = tmp_path / "catalogue.ini"
    path.write_text("[Catalogue]\nURL = http://127.0.0.1:1/\n[HTTP]\nMaxPageBytes = 1000\n")
    assert CatalogueConfig.from_file(path).max_page_bytes == 1000
    path.write_text("[Catalogue]\nURL = http://127.0.0.1:1/\n[HTTP]\nMaxPageBytes = lots\n")
    with pytest.raises(terracat.ConfigurationException, match="MaxPageBytes"):
        CatalogueConfig.from_file(path)


# ---- 3. catalogues that do not page ---------------------------------------------------------


def same_page(total: int) -> Handler:
    """The same full page whatever the startIndex, though it echoes the startIndex asked for."""

    def handler(request: Request, connection: socket.socket) -> None:
        ids = [f"p{i}" for i in range(count_of(request))]
        answer(connection, page(total, start_of(request), ids))

    return handler


@pytest.mark.parametrize("total", [1000, 10])  # the pages announced; the pages past the total
def test_a_catalogue_answering_the_same_page_for_every_start_index_is_refused(serve, total):
    server = serve(same_page(total))
    with pytest.raises(SearchException, match="holds only products of earlier pages"):
        Catalogue(config_for(server)).search(COLLECTION, count=10)
    assert len(page_requests(server)) <= 6  # the first page, and those in flight


def test_lazy_views_of_a_catalogue_answering_the_same_page_end(serve):
    server = serve(same_page(1000))
    products = Catalogue(config_for(server)).get_products(COLLECTION, count=10)
    with pytest.raises(SearchException, match="holds only products of earlier pages"):
        for _ in products:
            pass
    assert len(page_requests(server)) <= 3


def test_a_total_never_served_is_an_error_not_a_partial_result(serve):
    def handler(request: Request, connection: socket.socket) -> None:
        start = start_of(request)
        ids = [f"p{i}" for i in range(10)] if start == 1 else []
        answer(connection, page(10**7, start, ids))

    server = serve(handler)
    with pytest.raises(SearchException, match=r"startIndex=11 is empty.*announced 10000000"):
        Catalogue(config_for(server)).search(COLLECTION, count=10)
    assert len(page_requests(server)) <= 6


def test_the_last_page_may_come_empty_when_the_total_shrank_a_little(serve):
    def handler(request: Request, connection: socket.socket) -> None:
        start = start_of(request)
        ids = [f"p{i}" for i in range(start, min(start + 10, 21))]  # 20 served of 23 announced
        answer(connection, page(23, start, ids))

    server = serve(handler)
    frame = Catalogue(config_for(server)).search(COLLECTION, count=10)
    assert list(frame["id"]) == [f"p{i}" for i in range(1, 21)]


def test_a_split_the_counts_never_divide_stops_in_a_few_requests(serve):
    def handler(request: Request, connection: socket.socket) -> None:
        if request.param("count") == "0":  # the same count for every time window
            answer(connection, page(50_000, 1, []))
        else:
            answer(connection, page(50_000, 1, [f"p{i}" for i in range(10)], last=91))

    server = serve(handler)
    with pytest.raises(TooManyResultsException, match="does not divide"):
        Catalogue(config_for(server)).search(
            COLLECTION, start="2020-01-01", end="2021-01-01", count=10, split=True
        )
    assert len(page_requests(server)) <= 4  # the first page, the whole count, its two halves


# ---- 4. one retry budget --------------------------------------------------------------------


def silent(request: Request, connection: socket.socket) -> None:
    """Accept, read the request, and never answer (until the client hangs up)."""
    with contextlib.suppress(OSError):  # the client's timeout, or the server's own 10 s
        connection.recv(1)


def test_a_silent_catalogue_is_asked_once_per_retry_and_no_more(serve):
    server = serve(silent)
    began = time.monotonic()
    with pytest.raises(SearchException) as raised:
        Catalogue(config_for(server, timeout=0.5, retries=1)).search(COLLECTION)
    elapsed = time.monotonic() - began
    assert len(page_requests(server)) == 2  # not urllib3's 2 times terracat's 2
    assert f"{server.host}:{server.port} did not answer within 0.5 s" in str(raised.value)
    assert elapsed < 3


def test_retries_zero_means_a_single_attempt(serve):
    server = serve(silent)
    with pytest.raises(SearchException, match="1 attempt"):
        Catalogue(config_for(server, timeout=0.5, retries=0)).count(COLLECTION)
    assert len(page_requests(server)) == 1


def test_a_retry_after_longer_than_the_timeout_leaves_the_next_attempt_its_whole_time(serve):
    def handler(request: Request, connection: socket.socket) -> None:
        if len(server.requests) == 1:
            send(connection, 503, b"busy", {"Retry-After": "2"})
        else:
            answer(connection, page(1, 1, ["p1"]))

    server = serve(handler)
    frame = Catalogue(config_for(server, timeout=1.0, retries=1)).search(COLLECTION)
    assert list(frame["id"]) == ["p1"] and len(page_requests(server)) == 2


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_catalogue_nobody_listens_for_fails_in_seconds_in_one_line(closed_port):
    config = CatalogueConfig.from_url(f"http://127.0.0.1:{closed_port}/")
    config.retries = 2
    began = time.monotonic()
    with pytest.raises(SearchException) as raised:
        Catalogue(config).search(COLLECTION)
    message = str(raised.value)
    assert time.monotonic() - began < 5
    assert f"127.0.0.1:{closed_port} cannot be reached" in message
    assert "refused" in message and "3 attempts" in message
    assert "\n" not in message and "Max retries" not in message


# ---- 5. a page that is not the one asked for ------------------------------------------------


def test_a_first_page_for_another_start_index_is_not_taken_for_a_paging_depth(serve):
    def handler(request: Request, connection: socket.socket) -> None:
        answer(connection, page(404, 405, [], last=304))  # what the real catalogue can answer

    server = serve(handler)
    with pytest.raises(SearchException, match=r"startIndex=1.*startIndex=405.*not the page"):
        Catalogue(config_for(server)).search(COLLECTION, count=100)


def test_a_misplaced_page_that_says_nothing_is_there_is_an_empty_frame(serve):
    server = serve(lambda request, connection: answer(connection, page(0, 405, [])))
    assert len(Catalogue(config_for(server)).search(COLLECTION)) == 0


def test_a_later_page_for_another_start_index_is_refused(serve):
    def handler(request: Request, connection: socket.socket) -> None:
        start = start_of(request)
        answer(
            connection, page(30, 1 if start == 21 else start, [f"p{start}-{i}" for i in range(10)])
        )

    server = serve(handler)
    with pytest.raises(SearchException, match=r"asked for startIndex=21"):
        Catalogue(config_for(server)).search(COLLECTION, count=10)


# ---- 6. totals that cannot be ---------------------------------------------------------------


def test_a_total_no_catalogue_could_page_is_refused_before_any_page_is_planned(serve):
    server = serve(lambda request, connection: answer(connection, page(2**62, 1, ["p1"])))
    with pytest.raises(SearchException, match=rf"totalResults={2**62} with no paging depth"):
        Catalogue(config_for(server)).search(COLLECTION)
    assert len(page_requests(server)) == 1


def test_a_huge_total_with_a_paging_depth_is_too_many_results(serve):
    server = serve(
        lambda request, connection: answer(connection, page(2**62, 1, ["p1"], last=9901))
    )
    with pytest.raises(TooManyResultsException, match="10000 at most"):
        Catalogue(config_for(server)).search(COLLECTION, count=100)


def test_a_huge_total_with_a_limit_gives_the_products_wanted(serve):
    def handler(request: Request, connection: socket.socket) -> None:
        start = start_of(request)
        answer(connection, page(2**62, start, [f"p{start + i}" for i in range(count_of(request))]))

    server = serve(handler)
    frame = Catalogue(config_for(server)).search(COLLECTION, count=10, limit=25)
    assert list(frame["id"]) == [f"p{i}" for i in range(1, 26)]


def test_a_negative_total_is_refused_by_count_and_search(serve):
    server = serve(lambda request, connection: answer(connection, page(-5, 1, [])))
    catalogue = Catalogue(config_for(server))
    with pytest.raises(SearchException, match="totalResults=-5 is not a number of products"):
        catalogue.count(COLLECTION)
    with pytest.raises(SearchException, match="totalResults=-5"):
        catalogue.search(COLLECTION)


# ---- the pure parts -------------------------------------------------------------------------


@given(retries=st.integers(0, 20), asked=st.integers(0, 50))
def test_a_retry_budget_never_grants_more_than_its_retries(retries, asked):
    with retry_budget(retries) as budget:
        granted = sum(budget.take() for _ in range(asked))
    assert granted == min(retries, asked) and budget.attempts == granted + 1


@given(most=st.integers(1, 10_000), left=st.integers(0, 10**6), right=st.integers(0, 10**6))
def test_a_split_is_refused_exactly_when_its_halves_share_more_than_a_depth(most, left, right):
    whole = max(left, right)  # the halves together hold the whole, sharing left + right - whole
    span = Span(
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2021, 1, 1, tzinfo=dt.UTC), None, None
    )
    if left + right - whole > most:
        with pytest.raises(TooManyResultsException, match="does not divide"):
            _check_halves(span, [left, right], whole, most)
    else:
        _check_halves(span, [left, right], whole, most)
