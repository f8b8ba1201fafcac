"""The HTTP transport: one pooled session per catalogue, retrying what is worth retrying.

urllib3's ``Retry`` does the backoff and honours ``Retry-After`` for 429 and 5xx answers and for
failed connections; what it cannot see (a body cut after the headers, a truncated JSON page) is
retried by :func:`get_with_retries` around the whole exchange.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from terracat import _defaults
from terracat.config import CatalogueConfig

__all__ = ["RETRYABLE_STATUS", "make_session", "sleep_before_retry", "with_retries"]

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    urllib3.exceptions.HTTPError,  # a body read straight from urllib3, cut short
)

T = TypeVar("T")


class _CappedRetry(Retry):
    """urllib3's retry, with a server's Retry-After honoured up to a sane maximum."""

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), _defaults.RETRY_AFTER_MAX)


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
    time.sleep(min(_defaults.BACKOFF_FACTOR * (2**attempt), _defaults.RETRY_AFTER_MAX))


def with_retries(
    action: Callable[[], T],
    *,
    retries: int,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Run ``action`` again after a transient failure its transport could not retry itself.

    Those are bodies cut after the headers (``ChunkedEncodingError``), connections dropped while
    reading, and whatever ``retry_on`` adds (a page whose JSON is truncated, for instance).
    """
    for attempt in range(retries + 1):
        try:
            return action()
        except (*TRANSIENT_ERRORS, *retry_on) as error:
            if attempt == retries:
                raise
            logger.info("%s failed (%s); retrying", what, type(error).__name__)
            sleep_before_retry(attempt)
    raise AssertionError("unreachable")
