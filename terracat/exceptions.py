"""Every failure terracat reports to a user, as one tree.

::

    TerracatError
    ├── ParameterParserException      a search/download parameter cannot be used (also a ValueError)
    ├── ConfigurationException        a configuration file or value is missing or malformed
    ├── SearchException               the catalogue refused or botched a search (carries the response)
    ├── TooManyResultsException       the result set is deeper than the catalogue lets a client page
    ├── ProductDownloadException      a product file cannot be downloaded
    │   └── SyncIncomplete            a sync ended with some products failed (carries its report)
    └── AuthenticationException       signing in or renewing a token failed

    TerracatWarning                   the base of every warning terracat emits

The four documented exceptions of the reference client keep their names and meaning; the common
base lets a caller catch everything terracat raises in one ``except TerracatError``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationException",
    "ConfigurationException",
    "ParameterParserException",
    "ProductDownloadException",
    "SearchException",
    "SyncIncomplete",
    "TerracatError",
    "TerracatWarning",
    "TooManyResultsException",
]


class TerracatError(Exception):
    """Base of every error terracat raises on purpose."""


class TerracatWarning(UserWarning):
    """Base of every warning terracat emits."""


class ParameterParserException(TerracatError, ValueError):
    """Raised when a parameter value cannot be parsed."""


class ConfigurationException(TerracatError):
    """Raised when a catalogue configuration file or value cannot be used."""


class TooManyResultsException(TerracatError):
    """Raised when the query returns too many results."""


class ProductDownloadException(TerracatError):
    """Raised when the product cannot be downloaded."""


class SyncIncomplete(ProductDownloadException):
    """A sync ended with some products' files not fetched; the manifest records them failed and
    the next run tries them again. ``report`` is the run's :class:`terracat.SyncReport`."""

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class AuthenticationException(TerracatError):
    """Raised when signing in to the catalogue or renewing its token fails."""


class SearchException(TerracatError):
    """Raised when the search operation cannot be executed.

    Follows the OpenSearch GeoJSON Response Encoding specification:
    https://docs.opengeospatial.org/is/17-047r1/17-047r1.html#39

    Attributes
    ----------
    response : requests.Response
        the error response
    body : dict or None
        the JSON body of the response, ``None`` when it was not JSON
    search_exceptions : list
        the exceptions the catalogue reported (``exceptionCode``, ``locator``, ``exceptionText``)
    """

    def __init__(self, response: Any, *args: object) -> None:
        self.response = response
        self.body: dict[str, Any] | None = None
        self.search_exceptions: list[dict[str, Any]] = []
        messages: list[str] = []
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            self.body = body
            reported = body.get("exceptions")
            if isinstance(reported, list):
                self.search_exceptions = [e for e in reported if isinstance(e, dict)]
            messages.extend(_describe(e) for e in self.search_exceptions)
        if not messages:
            messages.append(_describe_response(response))
        super().__init__(*messages, *args)

    def __str__(self) -> str:
        return "; ".join(str(arg) for arg in self.args)


def _describe(exception: dict[str, Any]) -> str:
    text = str(exception.get("exceptionText", exception.get("exceptionCode", "unknown error")))
    locator = exception.get("locator")
    return f"{locator} - {text}" if locator else text


def _describe_response(response: Any) -> str:
    """One line for an error answer that carries no OGC exception document (an HTML page, say)."""
    status = getattr(response, "status_code", "?")  # None: no answer at all
    reason = getattr(response, "reason", "") or ""
    content_type = ""
    headers = getattr(response, "headers", None)
    if headers is not None:
        content_type = headers.get("Content-Type", "")
    snippet = ""
    text = getattr(response, "text", "")
    if isinstance(text, str) and text:
        snippet = " ".join(text.split())[:200]
    url = getattr(response, "url", "")
    if status is None:  # nothing came back: the reason says why (refused, timed out, cut)
        return f"{reason} for {url}".strip()
    detail = f": {snippet}" if snippet else ""
    kind = f" ({content_type})" if content_type else ""
    return f"catalogue answered HTTP {status} {reason}{kind} for {url}{detail}".strip()
