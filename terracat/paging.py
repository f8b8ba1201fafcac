"""Walking a catalogue's result pages: the first page, then the rest concurrently.

The first page tells the total and, through its ``last`` link, how deep the catalogue lets a
client page. The remaining pages are then known by their ``startIndex`` and fetched by a bounded
pool of workers, kept in catalogue order. A result deeper than the catalogue pages can be split
into time windows by counts (``count=0`` requests), each within the depth, fetched the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import msgspec
import requests

from terracat._http import TRANSIENT_ERRORS, with_retries
from terracat.exceptions import SearchException, TooManyResultsException
from terracat.frame import Page, decode_page
from terracat.query import format_datetime, parse_datetime

__all__ = ["PageFetcher", "Pages", "Window", "depth_of"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SMALLEST_WINDOW = dt.timedelta(seconds=2)


class _BadBody(Exception):
    """A 200 answer whose body is not a catalogue page (truncated, HTML, wrong shape)."""

    def __init__(self, response: requests.Response, reason: str) -> None:
        super().__init__(reason)
        self.response = response


@dataclass
class PageFetcher:
    """Fetches and decodes one page; the only place a search touches the network."""

    session: requests.Session
    url: str
    timeout: float
    retries: int

    def __call__(self, params: dict[str, Any]) -> Page:
        def attempt() -> Page:
            with self.session.get(
                self.url, params=params, timeout=self.timeout, stream=True
            ) as response:
                logger.debug("GET %s -> %s", response.url, response.status_code)
                if response.status_code != 200:
                    response.content  # noqa: B018 - read, for the exception's message
                    raise SearchException(response)
                # one read of the whole body: reading it in requests' 10 kB chunks makes this
                # thread queue for the GIL once per chunk while another thread parses a page
                body = response.raw.read(decode_content=True)
            try:
                page = decode_page(body)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                raise _BadBody(response, str(error)) from None
            if page.totalResults is None:
                raise _BadBody(response, "it has no totalResults")
            return page

        try:
            return with_retries(
                attempt, retries=self.retries, what=f"page {self.url}", retry_on=(_BadBody,)
            )
        except _BadBody as error:
            raise SearchException(
                error.response, f"the answer is not an OpenSearch GeoJSON page ({error})"
            ) from None
        except (requests.exceptions.RequestException, *TRANSIENT_ERRORS) as error:
            raise SearchException(_Unanswered(self.url, error)) from None


class _Unanswered:
    """Stands in for a response when the catalogue could not be reached at all."""

    status_code = None
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only stand-in

    def __init__(self, url: str, error: Exception) -> None:
        self.url = url
        self.reason = f"no answer received in full ({type(error).__name__}: {error})"
        self.text = ""

    def json(self) -> Any:
        raise ValueError("no body")


@dataclass(frozen=True)
class Window:
    """A slice of a query's time range: its query, its count, and the products it owns."""

    query: dict[str, str]
    total: int
    low: dt.datetime | None  # None: from the beginning of time (the first window)
    high: dt.datetime | None  # None: to the end of time (the last window)

    def owns(self, begin: Any) -> Any:
        """Which products (by acquisition start, a datetime Series) this window owns.

        Windows overlap at their bounds; ownership by start instant, half-open, gives every
        product to exactly one window.
        """
        owned = begin.notna() if self.low is not None else begin.notna() | begin.isna()
        if self.low is not None:
            owned &= begin >= self.low
        if self.high is not None:
            owned &= begin < self.high
        return owned


def depth_of(page: Page, page_size: int) -> int | None:
    """The deepest result the catalogue lets a client page to, read from the ``last`` link."""
    last = page.properties.links.last
    if len(last) != 1 or "href" not in last[0]:
        return None
    values = parse_qs(urlsplit(last[0]["href"]).query).get("startIndex")
    if not values:
        return None
    try:
        return int(values[0]) + page_size - 1
    except ValueError:
        return None


class Pages:
    """One search's pages.

    Parameters
    ----------
    fetch :
        fetches one page for a parameter dict
    params :
        the encoded query, without paging parameters
    page_size :
        products per page (``count``)
    limit :
        the most products wanted; ``None`` for all
    workers :
        pages fetched at once
    """

    def __init__(
        self,
        fetch: Callable[[dict[str, Any]], Page],
        params: dict[str, str],
        *,
        page_size: int,
        limit: int | None,
        workers: int,
    ) -> None:
        self.fetch = fetch
        self.params = params
        self.page_size = page_size if limit is None else max(1, min(page_size, limit))
        self.limit = limit
        self.workers = max(1, workers)

    def _page(self, start_index: int, params: dict[str, str] | None = None) -> Page:
        query = {**(params or self.params), "startIndex": start_index, "count": self.page_size}
        return self.fetch(query)

    def _check_depth(self, first: Page) -> int:
        total = first.totalResults or 0
        wanted = total if self.limit is None else min(self.limit, total)
        depth = depth_of(first, self.page_size)
        if depth is not None and wanted > depth:
            raise TooManyResultsException(
                f"Too many results: {total} found, and the catalogue pages through {depth} at most. "
                "Please narrow down your search (time, area, cloud cover...), or use "
                "terracat.search(..., split=True) to fetch it in time windows."
            )
        return wanted

    def count(self) -> int:
        return self.fetch({**self.params, "count": 0}).totalResults or 0

    def iter_features(self) -> Iterator[Any]:
        """Features page by page, lazily, with the next page fetched while one is consumed."""
        if self.limit == 0:
            return
        first = self._page(1)
        wanted = self._check_depth(first)
        yielded = 0
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            page, start = first, 1
            while True:
                following = None
                if page.features and start + self.page_size <= wanted:
                    following = prefetch.submit(self._page, start + self.page_size)
                for feature in page.features:
                    yield feature
                    yielded += 1
                    if self.limit is not None and yielded >= self.limit:
                        return
                if following is None:
                    return
                page, start = following.result(), start + self.page_size

    def collect(self, prepare: Callable[[Sequence[Any]], T], *, split: bool = False) -> list[T]:
        """Every wanted page, in catalogue order, each passed through ``prepare`` as it arrives.

        ``prepare`` runs in the calling thread on page k while the workers fetch the pages after
        it, so parsing overlaps the network. Ids repeated across pages are left to the caller.
        """
        if self.limit == 0:
            return []
        first = self._page(1)
        try:
            wanted = self._check_depth(first)
        except TooManyResultsException:
            if not split:
                raise
            return self._collect_windows(first, prepare)
        starts = list(range(1 + self.page_size, wanted + 1, self.page_size))
        prepared = [prepare(first.features)]
        last, received = first, len(first.features)
        for last in self._map(self._page, starts):  # no page kept: its body goes with it
            received += len(last.features)
            prepared.append(prepare(last.features))
        extra = self._beyond(last, 1 + len(starts), received, depth_of(first, self.page_size))
        if extra:
            prepared.append(prepare(extra))
        return prepared

    def _beyond(self, last: Page, pages: int, received: int, depth: int | None) -> list[Any]:
        """Products past the pages the first total announced, while the last page comes full.

        A catalogue being ingested into can report a smaller total on the first page than it
        then serves; a full last page means there may be more, so paging goes on until a short
        or empty page, the limit, or the catalogue's depth.
        """
        extra: list[Any] = []
        start = 1 + pages * self.page_size
        while (
            len(last.features) == self.page_size
            and (self.limit is None or received + len(extra) < self.limit)
            and (depth is None or start + self.page_size - 1 <= depth)
        ):
            last = self._page(start)
            extra += last.features
            start += self.page_size
        return extra

    def _map(self, work: Callable[[Any], T], items: Sequence[Any]) -> Iterator[T]:
        """``work`` over ``items`` on the worker pool, results yielded in order as they come.

        At most twice ``workers`` results wait to be taken: pages fetched faster than they
        are parsed do not pile up in memory.
        """
        if not items:
            return
        if self.workers == 1 or len(items) == 1:
            yield from map(work, items)
            return
        ahead = 2 * self.workers
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            pending = deque(pool.submit(work, item) for item in items[:ahead])
            following = iter(items[ahead:])
            try:
                while pending:
                    result = pending.popleft().result()
                    for item in islice(following, 1):
                        pending.append(pool.submit(work, item))
                    yield result
            finally:
                for future in pending:
                    future.cancel()

    # ---- deep results in time windows ----------------------------------------------------------

    def _collect_windows(self, first: Page, prepare: Callable[[Sequence[Any]], T]) -> list[T]:
        depth = depth_of(first, self.page_size) or self.page_size
        windows = self.windows(depth)
        jobs = [
            (window.query, start)
            for window in windows
            for start in range(1, min(window.total, depth) + 1, self.page_size)
        ]
        logger.info("split into %d time windows, %d pages", len(windows), len(jobs))
        return [
            prepare(page.features)
            for page in self._map(lambda job: self._page(job[1], job[0]), jobs)
        ]

    def windows(self, most: int) -> list[Window]:
        """Time windows covering the query's interval, each holding at most ``most`` products.

        Found by halving the interval where a ``count=0`` request says it holds too many. The
        outer bounds are sent exactly as the user gave them; inner bounds are instants. With the
        catalogue's overlap semantics, a product lies in at least one window (those on a boundary
        in two); it *belongs* to the one its acquisition begins in (:meth:`Window.owns`).
        """
        start_text, end_text = self.params.get("start"), self.params.get("end")
        low = parse_datetime(start_text, "start") if start_text else EPOCH
        high = (
            parse_datetime(end_text, "end")
            + (dt.timedelta(days=1) if len(end_text) == 10 else dt.timedelta())
            if end_text
            else dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        )
        level = [(low, high, start_text, end_text)]
        done: list[tuple[dt.datetime, dt.datetime, dict[str, str], int]] = []
        while level:
            queries = [self._window_query(s_text, e_text) for _, _, s_text, e_text in level]
            counts = list(
                self._map(lambda q: self.fetch({**q, "count": 0}).totalResults or 0, queries)
            )
            following = []
            for (lo, hi, s_text, e_text), query, total in zip(level, queries, counts, strict=True):
                if total <= most:
                    if total:
                        done.append((lo, hi, query, total))
                elif hi - lo <= SMALLEST_WINDOW:
                    raise TooManyResultsException(
                        f"More than {most} products between {s_text} and {e_text}: "
                        "the catalogue cannot page through them even one second at a time"
                    )
                else:
                    middle = lo + (hi - lo) / 2
                    middle = middle.replace(microsecond=0)
                    middle_text = format_datetime(middle)
                    following += [
                        (lo, middle, s_text, middle_text),
                        (middle, hi, middle_text, e_text),
                    ]
            level = following
        done.sort(key=lambda item: item[0])
        last = len(done) - 1
        return [
            Window(query, total, None if i == 0 else lo, None if i == last else hi)
            for i, (lo, hi, query, total) in enumerate(done)
        ]

    def _window_query(self, start: str | None, end: str | None) -> dict[str, str]:
        query = {k: v for k, v in self.params.items() if k not in ("start", "end")}
        if start:
            query["start"] = start
        if end:
            query["end"] = end
        return query
