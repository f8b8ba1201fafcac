"""Which protocol a catalogue speaks, read from its landing page.

A user moving to STAC has a URL, not a configuration file: ``Catalogue.from_url(url)`` (and
``terracat.search(..., catalogue="https://...")``, ``terracat --url``) ask the URL once and pick
the protocol from the answer. A STAC API says what it is in its landing page's ``conformsTo``
(the STAC API spec requires the ``core`` class there); anything else (an OpenSearch description,
the local catalogue's JSON index, an HTML page, a 404) is taken for OpenSearch, the protocol
terracat has always spoken, so existing OpenSearch URLs keep working.

A landing page behind a sign-in (401/403) says nothing of itself, so the protocol is read from
what is observable without signing in (:func:`protocol_behind_sign_in`): the error body's shape
(a STAC API's ``{"code", "description"}``, an OGC exception report), ``<url>conformance`` when
it is public, the URL's own words (``stac``, ``opensearch``); where none tells, it is an error
asking for ``Protocol`` explicitly, never a guess.

A landing page is asked where :func:`landing_urls` says, the one rule the STAC backend follows
too: the URL as written, then with the other trailing slash (some STAC APIs answer ``/v1`` and
404 on ``/v1/``, others the reverse), then ``<url>/conformance``, which holds the same
``conformsTo``. Only a 404 moves on to the next.

The only failures are the ones a user must act on: a host that cannot be reached, a server
that keeps failing (5xx), a protected landing page that does not tell; all name the host. :meth:`CatalogueConfig.from_url` stays a pure
configuration call that sends nothing.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
import urllib3

from terracat._http import BodyTooLarge, make_session, read_body
from terracat.config import DEFAULT_PROTOCOL, CatalogueConfig
from terracat.exceptions import ConfigurationException

__all__ = [
    "NOT_HERE",
    "STAC_CORE",
    "conformance_url",
    "detect_protocol",
    "landing_urls",
    "protocol_behind_sign_in",
    "protocol_of_landing_page",
]

STAC_CORE = re.compile(r"^https://api\.stacspec\.org/v1\.[^/]+/core/?$")
"""A STAC API ``core`` conformance class, any v1 release (``v1.0.0``, ``v1.0.0-rc.2``, ...)."""

ERROR_BODY_BYTES = 64 * 1024
"""The most of a refusal's body read for what it shows (an error document is a few lines)."""

PROBE_RETRIES = 1
"""Retries of the landing page request: one, so that an unreachable URL fails in a second or
two instead of spending the whole search retry budget (``[HTTP] Retries``) with backoff."""


NOT_HERE = 404
"""The answer that sends a landing page's reader on to the next of :func:`landing_urls`."""


def landing_urls(url: str) -> tuple[str, str, str]:
    """Where a catalogue's landing page, or its conformance classes, may be read, in the order
    asked: ``url`` as written, then with the other trailing slash, then
    :func:`conformance_url` (a document of the same ``conformsTo``).

    >>> landing_urls("https://stac.dataspace.copernicus.eu/v1")  # doctest: +NORMALIZE_WHITESPACE
    ('https://stac.dataspace.copernicus.eu/v1', 'https://stac.dataspace.copernicus.eu/v1/',
     'https://stac.dataspace.copernicus.eu/v1/conformance')
    """
    written = url.strip()
    bare = written.rstrip("/")
    other = bare if written.endswith("/") else bare + "/"
    return written, other, conformance_url(written)


def conformance_url(url: str) -> str:
    """The conformance document of the catalogue at ``url`` (OGC API's ``/conformance``)."""
    return url.strip().rstrip("/") + "/conformance"


def protocol_of_landing_page(body: bytes) -> str:
    """``"stac"`` when ``body`` is a JSON landing page conforming to STAC API core, else
    ``"opensearch"``; never raises (a page that is not JSON is simply not a STAC API)."""
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return DEFAULT_PROTOCOL
    classes = document.get("conformsTo") if isinstance(document, dict) else None
    if isinstance(classes, list) and any(
        isinstance(c, str) and STAC_CORE.match(c.strip()) for c in classes
    ):
        return "stac"
    return DEFAULT_PROTOCOL


SIGN_IN = (401, 403)
"""The answers of a landing page that needs a sign-in (read by :func:`protocol_behind_sign_in`)."""

_WORDS = re.compile(r"[a-z0-9]+")


def _protocol_of_error_body(body: bytes) -> str | None:
    """What a refusal's body shows: a STAC API error, an OpenSearch/OGC one, or nothing."""
    text = body.lstrip()[:4096]
    if text.startswith(b"<") and (b"OpenSearchDescription" in text or b"ExceptionReport" in text):
        return DEFAULT_PROTOCOL
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, dict) and "exceptions" in document:
        return DEFAULT_PROTOCOL
    if isinstance(document, dict) and "conformsTo" in document:
        return protocol_of_landing_page(body)
    if isinstance(document, dict) and {"code", "description"} <= set(document):
        return "stac"
    return None


def _protocol_of_words(url: str) -> str | None:
    """``stac`` or ``opensearch`` when the URL's host or path says so (and not both)."""
    parts = urlsplit(url)
    words = set(_WORDS.findall(f"{parts.hostname or ''} {parts.path}".lower()))
    said = {name for name in ("stac", "opensearch") if name in words}
    return said.pop() if len(said) == 1 else None


def protocol_behind_sign_in(
    url: str, status: int, body: bytes, session: requests.Session, config: CatalogueConfig
) -> str:
    """The protocol of a catalogue whose landing page ``url`` answered ``status`` (401/403).

    Asked in turn: the refusal's ``body``, then ``<url>conformance`` (public on some STAC APIs
    whose landing page is not), then the words of the URL. ``WWW-Authenticate`` is not asked:
    both protocols sign in with the same bearer tokens.

    Raises
    ------
    ConfigurationException
        when none of them tells, naming the URL and the ``Protocol`` setting to give instead
    """
    found = _protocol_of_error_body(body)
    if found is None and _conformance_says_stac(url, session, config):
        found = "stac"
    found = found or _protocol_of_words(url)
    if found is None:
        raise ConfigurationException(
            f"The landing page {url} answered {status} (it needs a sign-in), so it cannot tell "
            "which protocol the catalogue speaks. Give it explicitly: "
            "Catalogue(CatalogueConfig.from_url(url, protocol='stac')) (or 'opensearch'), or "
            "in the .ini [Catalogue] Protocol = stac."
        )
    return found


def _conformance_says_stac(url: str, session: requests.Session, config: CatalogueConfig) -> bool:
    """Whether ``url``'s conformance document (public on some STAC APIs whose landing page is
    not; the last of :func:`landing_urls`) declares STAC API core; any failure: no."""
    try:
        with session.get(
            conformance_url(url), timeout=config.search_timeout, stream=True
        ) as answer:
            if answer.status_code == 200:
                deadline = time.monotonic() + config.search_timeout
                page = read_body(answer, deadline=deadline, limit=config.max_page_bytes)
                return protocol_of_landing_page(page) == "stac"
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, BodyTooLarge):
        pass  # the conformance page is only a hint
    return False


def detect_protocol(url: str, config: CatalogueConfig) -> str:
    """The protocol of the catalogue at ``url``, from one GET of its landing page (more only
    where it answers 404: the other :func:`landing_urls`, in turn).

    Each request is bounded by ``config.search_timeout`` (connect and whole body) and
    ``config.max_page_bytes``, and uses ``config``'s TLS setting.

    Raises
    ------
    ConfigurationException
        when the host cannot be reached, does not answer in time, or answers 5xx
    """
    host = urlsplit(url).netloc or url
    session = make_session(config, pool_size=1)
    for prefix in ("http://", "https://"):
        adapter: Any = session.get_adapter(prefix)
        adapter.max_retries = adapter.max_retries.new(
            total=min(config.retries, PROBE_RETRIES),
            connect=min(config.retries, PROBE_RETRIES),
            read=min(config.retries, PROBE_RETRIES),
            status=min(config.retries, PROBE_RETRIES),
        )
    session.headers["Accept"] = "application/json, application/geo+json;q=0.9, */*;q=0.1"
    try:
        with session:
            for page in landing_urls(url)[:2]:
                found = _landing_protocol(page, session, config)
                if found is not None:
                    return found
            # neither spelling is a page: a conformance document may still say STAC
            return "stac" if _conformance_says_stac(url, session, config) else DEFAULT_PROTOCOL
    except requests.exceptions.Timeout as error:
        raise ConfigurationException(
            f"The catalogue at {host} did not answer within {config.search_timeout:g} s "
            f"([HTTP] SearchTimeout) when asked for its landing page {url}."
        ) from error
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as error:
        raise ConfigurationException(
            f"The catalogue at {host} cannot be reached ({type(error).__name__}) when asked "
            f"for its landing page {url}; check the URL and the network."
        ) from error


def _landing_protocol(url: str, session: requests.Session, config: CatalogueConfig) -> str | None:
    """The protocol the landing page ``url`` shows; ``None`` where it is not (a 404)."""
    host = urlsplit(url).netloc or url
    deadline = time.monotonic() + config.search_timeout
    try:
        with session.get(
            url, stream=True, timeout=config.search_timeout, allow_redirects=True
        ) as response:
            if response.status_code >= 500:
                raise ConfigurationException(
                    f"The catalogue at {host} answered {response.status_code} to the request "
                    f"for its landing page {url}; cannot tell which protocol it speaks."
                )
            if response.status_code in SIGN_IN:
                try:
                    refusal = read_body(response, deadline=deadline, limit=ERROR_BODY_BYTES)
                except BodyTooLarge:
                    refusal = b""  # no error document is that large: it shows nothing
                return protocol_behind_sign_in(url, response.status_code, refusal, session, config)
            if response.status_code == NOT_HERE:
                return None
            if response.status_code >= 400:
                # OpenSearch catalogues need no landing page; STAC APIs always have one.
                return DEFAULT_PROTOCOL
            body = read_body(response, deadline=deadline, limit=config.max_page_bytes)
    except BodyTooLarge:
        return DEFAULT_PROTOCOL  # no STAC landing page is that large
    return protocol_of_landing_page(body)
