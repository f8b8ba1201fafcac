"""What a catalogue answered when it did not answer a page: shared by every protocol's paging.

A search that fails must say why in one line naming the host (refused, timed out, dripped past
its deadline, cut), and a ``SearchException`` carries a response: these stand in for one when no
usable response exists, and :func:`keep_error_body` reads an error answer's body, bounded, for
the message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3

from terracat._http import TRANSIENT_ERRORS, BodyTooLarge, DeadlineExceeded, read_body

__all__ = [
    "BadBody",
    "Misanswered",
    "Unanswered",
    "host_of",
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
