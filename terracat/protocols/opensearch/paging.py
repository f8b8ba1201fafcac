"""Walking a catalogue's result pages: the first page, then the rest concurrently.

The first page tells the total and, through its ``last`` link, how deep the catalogue lets a
client page. The remaining pages are then known by their ``startIndex`` and fetched by a bounded
pool of workers, kept in catalogue order. A result deeper than the catalogue pages can be split
into time windows by counts (``count=0`` requests), each within the depth, fetched the same way.

Every page is checked before it is believed (a catalogue can misbehave): it must be the page
asked for (its ``startIndex``), its total a count, and it must bring products not yet received
unless it is the last (:class:`_Progress`), so that a search always ends, never silently short.
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
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec
import requests

from terracat import _defaults
from terracat._http import (
    attempt_began,
    read_body,
)
from terracat.exceptions import SearchException, TooManyResultsException
from terracat.protocols.answers import (
    BadBody,
    Misanswered,
    fetched_page,
    keep_error_body,
)
from terracat.protocols.opensearch.page import Page, decode_page
from terracat.protocols.windows import EPOCH, Span, owned, split_by_counts
from terracat.request import parse_datetime

__all__ = ["PageFetcher", "Pages", "Window", "depth_of"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class PageFetcher:
    """Fetches and decodes one page; the only place a search touches the network.

    Each attempt at a page is bounded as a whole by ``timeout`` (connect, headers and body) and
    its decoded body by ``max_page_bytes``; attempts share one budget of ``retries``.
    """

    session: requests.Session
    url: str
    timeout: float
    retries: int
    max_page_bytes: int = _defaults.MAX_PAGE_BYTES

    def __call__(self, params: dict[str, Any]) -> Page:
        shown = f"{self.url}?{urlencode(params)}" if params else self.url
        return fetched_page(
            lambda: self._attempt(params),
            url=self.url,
            shown=shown,
            timeout=self.timeout,
            retries=self.retries,
            kind="an OpenSearch GeoJSON page",
        )

    def _attempt(self, params: dict[str, Any]) -> Page:
        with self.session.get(
            self.url, params=params, timeout=self.timeout, stream=True
        ) as response:
            logger.debug("GET %s -> %s", response.url, response.status_code)
            # connect and headers were bounded by the timeout; the body gets what is left of it
            deadline = attempt_began() + self.timeout
            if response.status_code != 200:
                keep_error_body(response, deadline)
                raise SearchException(response)
            body = read_body(response, deadline=deadline, limit=self.max_page_bytes)
        try:
            page = decode_page(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise BadBody(response, str(error)) from None
        if page.totalResults is None:
            raise BadBody(response, "it has no totalResults")
        return page


@dataclass(frozen=True)
class Window:
    """A slice of a query's time range: its query, its count, and the products it owns."""

    query: dict[str, str]
    total: int
    low: dt.datetime | None  # None: from the beginning of time (the first window)
    high: dt.datetime | None  # None: to the end of time (the last window)

    def owns(self, begin: Any) -> Any:
        """Which products (by acquisition start, a datetime Series) this window owns."""
        return owned(begin, self.low, self.high)


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
        page = self.fetch(query)
        self._total(page, query)
        if page.startIndex is not None and page.startIndex != start_index:
            if page.totalResults == 0 and not page.features:
                return page  # "nothing there", whatever index it names
            raise self._refusal(
                query,
                f"asked for startIndex={start_index}, the catalogue answered the page at "
                f"startIndex={page.startIndex} ({len(page.features)} products, "
                f"totalResults={page.totalResults}): it is not the page asked for",
            )
        return page

    def _total(self, page: Page, query: dict[str, Any]) -> int:
        """The page's ``totalResults``, refused when it cannot be a count."""
        total = page.totalResults or 0
        if total < 0:
            raise self._refusal(query, f"totalResults={total} is not a number of products")
        return total

    def _refusal(self, query: dict[str, Any], what: str) -> SearchException:
        """A SearchException for an answer that arrived but cannot be believed, saying why."""
        return SearchException(Misanswered(getattr(self.fetch, "url", ""), query), what)

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
        if depth is None and wanted > _defaults.MAX_PAGEABLE_RESULTS:
            raise self._refusal(
                {**self.params, "startIndex": 1, "count": self.page_size},
                f"totalResults={total} with no paging depth (no 'last' link): more products "
                f"than any catalogue pages through ({_defaults.MAX_PAGEABLE_RESULTS}); "
                "narrow down the search or pass a limit",
            )
        return wanted

    def count(self) -> int:
        query = {**self.params, "count": 0}
        return self._total(self.fetch(query), query)

    def _progress(self, wanted: int, params: dict[str, str] | None = None) -> _Progress:
        return _Progress(self, params or self.params, wanted)

    def iter_features(self) -> Iterator[Any]:
        """Features page by page, lazily, with the next page fetched while one is consumed."""
        if self.limit == 0:
            return
        first = self._page(1)
        wanted = self._check_depth(first)
        progress = self._progress(wanted)
        progress.check(first, 1)
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
                progress.check(page, start)

    def collect(self, prepare: Callable[[Sequence[Any]], T], *, split: bool = False) -> list[T]:
        """Every wanted page, in catalogue order, each passed through ``prepare`` as it arrives.

        ``prepare`` runs in the calling thread on page k while the workers fetch the pages after
        it, so parsing overlaps the network. Ids repeated across pages are left to the caller;
        a page of *only* known ids, or an empty one before the total, ends the search in a
        :class:`SearchException` (:class:`_Progress`).
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
        progress = self._progress(wanted)
        progress.check(first, 1)
        # a range, not a list: a total in the billions costs nothing until its pages are asked for
        starts = range(1 + self.page_size, wanted + 1, self.page_size)
        prepared = [prepare(first.features)]
        last, received = first, len(first.features)
        # no page kept: its body goes with it
        for start, last in zip(starts, self._map(self._page, starts), strict=True):
            progress.check(last, start)
            received += len(last.features)
            prepared.append(prepare(last.features))
        extra = self._beyond(
            last, 1 + len(starts), received, depth_of(first, self.page_size), progress
        )
        if extra:
            prepared.append(prepare(extra))
        return prepared

    def _beyond(
        self, last: Page, pages: int, received: int, depth: int | None, progress: _Progress
    ) -> list[Any]:
        """Products past the pages the first total announced, while the last page comes full.

        A catalogue being ingested into can report a smaller total on the first page than it
        then serves; a full last page means there may be more, so paging goes on until a short
        or empty page, the limit, or the catalogue's depth (or a page of products already
        received: a catalogue that serves one page whatever the ``startIndex``).
        """
        extra: list[Any] = []
        start = 1 + pages * self.page_size
        while (
            len(last.features) == self.page_size
            and (self.limit is None or received + len(extra) < self.limit)
            and (depth is None or start + self.page_size - 1 <= depth)
        ):
            last = progress.check(self._page(start), start)
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
        # each window is a query of its own, its pages checked against its own count
        progress = [self._progress(min(w.total, depth), w.query) for w in windows]
        jobs = [
            (index, start)
            for index, window in enumerate(windows)
            for start in range(1, min(window.total, depth) + 1, self.page_size)
        ]
        logger.info("split into %d time windows, %d pages", len(windows), len(jobs))
        pages = self._map(lambda job: self._page(job[1], windows[job[0]].query), jobs)
        return [
            prepare(progress[index].check(page, start).features)
            for (index, start), page in zip(jobs, pages, strict=True)
        ]

    def windows(self, most: int) -> list[Window]:
        """Time windows covering the query's interval, each holding at most ``most`` products,
        found by ``count=0`` requests (:func:`~terracat.protocols.windows.split_by_counts`; the
        outer bounds are sent exactly as the user gave them, a bare ``end`` date whole)."""
        start_text, end_text = self.params.get("start"), self.params.get("end")
        low = parse_datetime(start_text, "start") if start_text else EPOCH
        high = (
            parse_datetime(end_text, "end")
            + (dt.timedelta(days=1) if len(end_text) == 10 else dt.timedelta())
            if end_text
            else dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        )

        def count(span: Span) -> int:
            return self._count_window(self._window_query(span.low_text, span.high_text))

        found = split_by_counts(Span(low, high, start_text, end_text), count, most, self._map)
        last = len(found) - 1
        return [
            Window(
                self._window_query(span.low_text, span.high_text),
                total,
                None if i == 0 else span.low,
                None if i == last else span.high,
            )
            for i, (span, total) in enumerate(found)
        ]

    def _count_window(self, query: dict[str, str]) -> int:
        counted = {**query, "count": 0}
        return self._total(self.fetch(counted), counted)

    def _window_query(self, start: str | None, end: str | None) -> dict[str, str]:
        query = {k: v for k, v in self.params.items() if k not in ("start", "end")}
        if start:
            query["start"] = start
        if end:
            query["end"] = end
        return query


class _Progress:
    """The pages of one query as they arrive, checked to bring products not yet received.

    A catalogue that answers the same page for every ``startIndex``, or announces more results
    than it serves, would otherwise be paged for ever, or give a result silently short. Either
    ends in a :class:`SearchException` saying what the catalogue did. Products repeated across
    pages (a catalogue being ingested into shifts them) are fine; a page of *only* products
    already received is not. The last page asked for may come empty: the total shrank by less
    than a page while the search ran.
    """

    def __init__(self, pages: Pages, params: dict[str, str], wanted: int) -> None:
        self.pages = pages
        self.params = params
        self.wanted = wanted
        self.received: set[str] = set()

    def check(self, page: Page, start: int) -> Page:
        ids = {feature.id for feature in page.features}
        if not ids and start + self.pages.page_size <= self.wanted:
            raise self._refusal(
                start,
                f"the page at startIndex={start} is empty, though the catalogue announced "
                f"{self.wanted} results; the result would be partial",
            )
        if ids and ids <= self.received:
            raise self._refusal(
                start,
                f"the page at startIndex={start} holds only products of earlier pages: the "
                "catalogue does not page (it answers the same products whatever the startIndex)",
            )
        self.received |= ids
        return page

    def _refusal(self, start: int, what: str) -> SearchException:
        query = {**self.params, "startIndex": start, "count": self.pages.page_size}
        return self.pages._refusal(query, what)
