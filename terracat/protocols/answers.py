"""What a catalogue answered, checked the same way by every protocol's paging.

A page is fetched within one retry budget and every failure becomes one ``SearchException`` that
says why in one line naming the host (refused, timed out, dripped past its deadline, cut, too
large, not a page of that protocol): :func:`fetched_page`. A ``SearchException`` carries a
response; :class:`Unanswered` and :class:`Misanswered` stand in for one when no usable response
exists, and :func:`keep_error_body` reads an error answer's body, bounded, for the message. JSON
is UTF-8, and msgspec does not check the raw parts it keeps: :func:`is_utf8` checks a whole body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import numpy as np
import pyarrow as pa
import requests
import urllib3

from terracat._http import (
    TRANSIENT_ERRORS,
    BodyTooLarge,
    DeadlineExceeded,
    read_body,
    with_retries,
)
from terracat.exceptions import SearchException

T = TypeVar("T")

__all__ = [
    "BadBody",
    "Misanswered",
    "Unanswered",
    "fetched_page",
    "host_of",
    "is_utf8",
    "keep_error_body",
    "why_unanswered",
]


class BadBody(Exception):
    """A 200 answer whose body is not a catalogue page (truncated, HTML, wrong shape)."""

    def __init__(self, response: requests.Response, reason: str) -> None:
        super().__init__(reason)
        self.response = response


def keep_error_body(response: requests.Response, deadline: float) -> None:
    """Read an error answer's body (bounded, as a page's), for the exception's message."""
    try:
        response._content = read_body(response, deadline=deadline, limit=ERROR_BODY_BYTES)
    except (BodyTooLarge, *TRANSIENT_ERRORS):
        response._content = b""


ERROR_BODY_BYTES = 1024 * 1024  # an OGC exception document is a few hundred bytes


def host_of(url: str) -> str:
    """Host and port of ``url``, without any credentials a URL might carry."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def why_unanswered(error: BaseException, url: str, timeout: float) -> str:
    """One line for a page that never arrived: what happened, naming the host."""
    host = host_of(url)
    cause = root_cause(error)
    if isinstance(error, DeadlineExceeded) or isinstance(cause, DeadlineExceeded):
        return (
            f"timed out: {host} did not send the page within {timeout:g} s ([HTTP] SearchTimeout)"
        )
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        detail = str(cause).rpartition(": ")[2] or type(cause).__name__
        return f"{host} cannot be reached ({detail})"
    if isinstance(cause, urllib3.exceptions.ConnectTimeoutError) or isinstance(
        error, requests.exceptions.ConnectTimeout
    ):
        return f"timed out: {host} cannot be reached within {timeout:g} s ([HTTP] SearchTimeout)"
    if isinstance(cause, (urllib3.exceptions.ReadTimeoutError, TimeoutError)) or isinstance(
        error, requests.exceptions.Timeout
    ):
        return f"timed out: {host} did not answer within {timeout:g} s ([HTTP] SearchTimeout)"
    return f"no answer received in full from {host} ({type(cause).__name__})"


def root_cause(error: BaseException) -> BaseException:
    """The innermost failure behind requests' and urllib3's wrappers (``MaxRetryError.reason``)."""
    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        inner = getattr(error, "reason", None)
        if not isinstance(inner, BaseException) and error.args:
            inner = error.args[0]
        if not isinstance(inner, BaseException):
            return error
        error = inner
    return error


class Unanswered:
    """Stands in for a response when the catalogue gave no usable answer at all."""

    status_code = None
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only stand-in

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        self.text = ""

    def json(self) -> Any:
        raise ValueError("no body")


class Misanswered(Unanswered):
    """Stands in for the response of a page that arrived but is not the one asked for."""

    status_code = 200  # type: ignore[assignment]

    def __init__(self, url: str, params: dict[str, Any]) -> None:
        super().__init__(f"{url}?{urlencode(params)}" if params else url, "OK")


def fetched_page(
    attempt: Callable[[], T], *, url: str, shown: str, timeout: float, retries: int, kind: str
) -> T:
    """One page: ``attempt`` run within one retry budget, every failure a ``SearchException``
    that says why in one line (``kind`` names what a page should have been).

    ``url`` is the page's endpoint (its host is named), ``shown`` the request as a user would
    read it again (with its query).
    """
    try:
        return with_retries(attempt, retries=retries, what=f"page {url}", retry_on=(BadBody,))
    except BadBody as error:
        raise SearchException(error.response, f"the answer is not {kind} ({error})") from None
    except BodyTooLarge as error:
        raise SearchException(
            Misanswered(shown, {}),
            f"the page from {host_of(url)} is too large: {error} ([HTTP] MaxPageBytes; "
            "raise it if the catalogue's pages are truly that large)",
        ) from None
    except (requests.exceptions.RequestException, *TRANSIENT_ERRORS) as error:
        attempts = retries + 1  # a transient failure stands once the budget is spent
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        reason = f"no answer: {why_unanswered(error, url, timeout)} ({tries})"
        raise SearchException(Unanswered(url, reason)) from None


def is_utf8(body: bytes) -> bool:
    """Whether ``body`` is UTF-8 text, checked by Arrow without a copy (JSON is UTF-8, and
    msgspec does not check the raw parts it keeps)."""
    large = len(body) >= 2**31
    size = pa.py_buffer(np.array([0, len(body)], np.int64 if large else np.int32))
    binary, text = (pa.large_binary(), pa.large_string()) if large else (pa.binary(), pa.string())
    try:
        pa.Array.from_buffers(binary, 1, [None, size, pa.py_buffer(body)]).cast(text)
    except pa.ArrowInvalid:
        return False
    return True
