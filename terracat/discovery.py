"""Which protocol a catalogue speaks, read from its landing page.

A user moving to STAC has a URL, not a configuration file: ``Catalogue.from_url(url)`` (and
``terracat.search(..., catalogue="https://...")``, ``terracat --url``) ask the URL once and pick
the protocol from the answer. A STAC API says what it is in its landing page's ``conformsTo``
(the STAC API spec requires the ``core`` class there); anything else (an OpenSearch description,
the local catalogue's JSON index, an HTML page, a 404) is taken for OpenSearch, the protocol
terracat has always spoken, so existing OpenSearch URLs keep working.

The only failures are the ones a user must act on: a host that cannot be reached, or a server
that keeps failing (5xx); both name the host. :meth:`CatalogueConfig.from_url` stays a pure
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

__all__ = ["STAC_CORE", "detect_protocol", "protocol_of_landing_page"]

STAC_CORE = re.compile(r"^https://api\.stacspec\.org/v1\.[^/]+/core/?$")
"""A STAC API ``core`` conformance class, any v1 release (``v1.0.0``, ``v1.0.0-rc.2``, ...)."""

PROBE_RETRIES = 1
"""Retries of the landing page request: one, so that an unreachable URL fails in a second or
two instead of spending the whole search retry budget (``[HTTP] Retries``) with backoff."""


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


def detect_protocol(url: str, config: CatalogueConfig) -> str:
    """The protocol of the catalogue at ``url``, from one GET of its landing page.

    The request is bounded by ``config.search_timeout`` (connect and whole body) and
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
    deadline = time.monotonic() + config.search_timeout
    try:
        with session:
            response = session.get(
                url, stream=True, timeout=config.search_timeout, allow_redirects=True
            )
            with response:
                if response.status_code >= 500:
                    raise ConfigurationException(
                        f"The catalogue at {host} answered {response.status_code} to the request "
                        f"for its landing page {url}; cannot tell which protocol it speaks."
                    )
                if response.status_code >= 400:
                    # OpenSearch catalogues need no landing page; STAC APIs always have one.
                    return DEFAULT_PROTOCOL
                body = read_body(response, deadline=deadline, limit=config.max_page_bytes)
    except BodyTooLarge:
        return DEFAULT_PROTOCOL  # no STAC landing page is that large
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
    return protocol_of_landing_page(body)
