"""The HTTP transport: one pooled session per catalogue, retrying what is worth retrying.

urllib3's ``Retry`` does the backoff and honours ``Retry-After`` for 429 and 5xx answers and for
failed connections; what it cannot see (a body cut after the headers, a truncated JSON page, a
page that drips past its deadline) is retried by :func:`with_retries` around the whole exchange.

The two layers share **one retry budget per request**: inside :func:`with_retries`, every retry
urllib3 makes is taken from the same :class:`RetryBudget` as the retries of the exchange, so
``Retries = 1`` means at most two attempts of a request, whichever layer retries. (Outside
:func:`with_retries` or :func:`retry_budget`, urllib3 keeps its own count, as before.)

:func:`read_body` reads a streamed answer against a deadline (the whole answer, not each read)
and a cap on its decoded size, so that neither a dripping server nor a compression bomb can hold
a search for ever or fill the memory.

Every wait between two attempts (urllib3's backoff and ``Retry-After``, and
:func:`sleep_before_retry`) is a :func:`pause`: inside :func:`stop_when`, it ends the moment
its batch is stopped (Ctrl-C) and raises the batch's exception, instead of sleeping out a
``Retry-After: 60`` five times while the user waits.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from terracat import _defaults
from terracat.config import CatalogueConfig

__all__ = [
    "RETRYABLE_STATUS",
    "TRANSIENT_ERRORS",
    "BodyTooLarge",
    "DeadlineExceeded",
    "RetryBudget",
    "attempt_began",
    "check_stopped",
    "make_session",
    "pause",
    "read_body",
    "retry_budget",
    "sleep_before_retry",
    "stop_when",
    "with_retries",
]

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """An answer that did not arrive in full before its deadline (a transient failure)."""


class BodyTooLarge(Exception):
    """An answer whose decoded body grew past its cap; not transient: asking again repeats it."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"its body decodes to more than {limit} bytes")
        self.limit = limit


TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,  # DeadlineExceeded among them
    urllib3.exceptions.HTTPError,  # a body read straight from urllib3, cut short
)

T = TypeVar("T")


@dataclass
class RetryBudget:
    """The retries left to one request, whichever layer (urllib3 or terracat) spends them."""

    retries: int
    spent: int = 0
    began: float = field(default_factory=time.monotonic)  # when the current attempt began

    def take(self) -> bool:
        """Spend one retry; ``False`` when none is left (the failure then stands)."""
        if self.spent >= self.retries:
            return False
        self.spent += 1
        return True

    @property
    def attempts(self) -> int:
        """Attempts made so far (the first one and each retry taken)."""
        return self.spent + 1


# The budget of the request this thread (or task) is making; urllib3 runs in the caller's thread.
_current_budget: contextvars.ContextVar[RetryBudget | None] = contextvars.ContextVar(
    "terracat_retry_budget", default=None
)


@contextmanager
def retry_budget(retries: int) -> Iterator[RetryBudget]:
    """One budget of ``retries`` for the request made inside, shared with urllib3's retries.

    Any retry loop around a request takes its retries from the budget this yields
    (``budget.take()``), as :func:`with_retries` does.
    """
    budget = RetryBudget(retries)
    token = _current_budget.set(budget)
    try:
        yield budget
    finally:
        _current_budget.reset(token)


# The stop switch of the batch this thread works for, and what to raise once it is set.
_current_stop: contextvars.ContextVar[tuple[threading.Event, type[BaseException]] | None] = (
    contextvars.ContextVar("terracat_stop", default=None)
)


@contextmanager
def stop_when(event: threading.Event, raising: type[BaseException]) -> Iterator[None]:
    """Inside, every :func:`pause` (a wait between retries) ends as soon as ``event`` is set,
    raising ``raising``; :func:`check_stopped` raises it too.

    Set in the thread that makes the requests: a pool's worker does not inherit it.
    """
    token = _current_stop.set((event, raising))
    try:
        yield
    finally:
        _current_stop.reset(token)


def check_stopped() -> None:
    """Raise the current stop switch's exception if it is set: before a new attempt."""
    stop = _current_stop.get()
    if stop is not None and stop[0].is_set():
        raise stop[1]


def pause(seconds: float) -> None:
    """Wait ``seconds``, or until the current stop switch is set (then raise its exception)."""
    stop = _current_stop.get()
    if stop is None:
        if seconds > 0:
            time.sleep(seconds)
        return
    event, raising = stop
    if event.wait(max(seconds, 0.0)):
        raise raising


class _CappedRetry(Retry):
    """urllib3's retry, with Retry-After capped and retries taken from the request's budget."""

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), _defaults.RETRY_AFTER_MAX)

    def increment(self, *args: Any, **kwargs: Any) -> _CappedRetry:
        following = super().increment(*args, **kwargs)  # MaxRetryError when its own count is out
        budget = _current_budget.get()
        if budget is not None and not budget.take():
            # the request's budget is spent: urllib3 stops here (and a retryable status answer
            # is returned as it is, since raise_on_status is off)
            error = kwargs.get("error") or (args[3] if len(args) > 3 else None)
            url = kwargs.get("url") or (args[1] if len(args) > 1 else None) or ""
            reason = error if isinstance(error, Exception) else None
            raise MaxRetryError(kwargs.get("_pool"), url, reason)
        return following

    def sleep(self, response: Any = None) -> None:
        """urllib3's wait (its ``Retry-After``, else its backoff), as a :func:`pause`."""
        seconds = None
        if self.respect_retry_after_header and response is not None:
            seconds = self.get_retry_after(response)
        pause(seconds if seconds else self.get_backoff_time())
        budget = _current_budget.get()
        if budget is not None:
            budget.began = time.monotonic()  # the wait is between attempts, not part of one


def attempt_began() -> float:
    """When the current attempt of this thread's request began (``time.monotonic()``).

    urllib3's own retries begin new attempts: a page's deadline counts from the last one, so
    that a backoff or a Retry-After longer than the timeout does not eat the page's time.
    """
    budget = _current_budget.get()
    return budget.began if budget is not None else time.monotonic()


def make_session(config: CatalogueConfig, *, pool_size: int) -> requests.Session:
    """A session with connection pooling for ``pool_size`` concurrent requests and retries."""
    retry = _CappedRetry(
        total=config.retries,
        connect=config.retries,
        read=config.retries,
        status=config.retries,
        backoff_factor=_defaults.BACKOFF_FACTOR,
        status_forcelist=RETRYABLE_STATUS,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=max(pool_size, 1))
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"{_defaults.USER_AGENT}/{_version()}"
    session.verify = config.verify_tls
    return session


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("terracat")
    except PackageNotFoundError:
        return "dev"


def sleep_before_retry(attempt: int) -> None:
    """The backoff before retry number ``attempt + 1`` of terracat's own retry loops."""
    pause(min(_defaults.BACKOFF_FACTOR * (2**attempt), _defaults.RETRY_AFTER_MAX))


def with_retries(
    action: Callable[[], T],
    *,
    retries: int,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Run ``action`` again after a transient failure, within one budget of ``retries``.

    Those failures are bodies cut after the headers (``ChunkedEncodingError``), connections
    dropped or timed out, and whatever ``retry_on`` adds (a page whose JSON is truncated, for
    instance). The retries urllib3 makes inside ``action`` come out of the same budget, so a
    failure it has already retried ``retries`` times is not asked again here.
    """
    with retry_budget(retries) as budget:
        while True:
            check_stopped()
            budget.began = time.monotonic()
            try:
                return action()
            except (*TRANSIENT_ERRORS, *retry_on) as error:
                if not budget.take():
                    raise
                logger.info("%s failed (%s); retrying", what, type(error).__name__)
                sleep_before_retry(budget.spent - 1)


def read_body(response: requests.Response, *, deadline: float, limit: int) -> bytes:
    """The decoded body of a streamed ``response``, by ``deadline`` (a ``time.monotonic()``).

    Reads what has arrived as it arrives (``read1``), each wait bounded by the time left, so a
    server that drips its answer raises :class:`DeadlineExceeded` at the deadline rather than
    resetting a per-read timeout with every byte. urllib3 inflates a compressed body at most one
    read's worth at a time, so the decoded size is checked as it grows: :class:`BodyTooLarge`
    past ``limit`` bytes, before they are all held.
    """
    raw = response.raw
    # urllib3 queues what it read in a buffer of its own when it is to decode, even a body
    # sent as it is: a copy of every chunk that an uncompressed body does without
    encoded = response.headers.get("Content-Encoding", "identity").strip().lower()
    decode = encoded not in ("", "identity")
    chunks, size = [], 0  # joined once at the end: one copy of a page, not two
    while True:
        _wait_at_most(raw, deadline)
        try:
            chunk = raw.read1(_defaults.PAGE_READ_SIZE, decode_content=decode)
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            # the socket waited for the time left: the deadline has passed
            raise DeadlineExceeded(
                "the answer did not arrive in full before its deadline"
            ) from None
        if not chunk:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)


def _wait_at_most(raw: Any, deadline: float) -> None:
    """Bound the next socket read by the time left before ``deadline`` (or fail now)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the answer did not arrive in full before its deadline")
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(left)
