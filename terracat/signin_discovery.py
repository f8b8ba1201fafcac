"""Where a catalogue signs in, when its configuration does not say: what it announces.

A catalogue that is not a bundled environment's own gets none of that environment's sign-in
(its identity provider's tokens would go to whatever host the URL names). Its first sign-in asks
the catalogue itself: the STAC authentication extension's ``auth:schemes`` (``openIdConnect``
URLs) on its landing page, collections or first items, or an OpenSearch landing page's Keycloak
``token`` link. The discovery document must be its issuer's, and an https catalogue's endpoints
https; a catalogue that announces nothing is a ``ConfigurationException`` naming the keys to set.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from terracat.auth import DEVICE_GRANT, no_identity_provider, url_origin
from terracat.config import CatalogueConfig
from terracat.exceptions import AuthenticationException, ConfigurationException

__all__ = ["find_identity_provider"]

logger = logging.getLogger(__name__)

OIDC_DISCOVERY = "/.well-known/openid-configuration"
KEYCLOAK_PROTOCOL = "/protocol/openid-connect/"
ITEMS_ASKED = 3
"""Collections whose first item is asked for ``auth:schemes`` (the protected ones first)."""
DEFAULT_GRANTS = ("authorization_code", "implicit")
"""What an identity provider supports when its discovery document lists no grant types."""


def find_identity_provider(config: CatalogueConfig, session: requests.Session) -> CatalogueConfig:
    """``config`` with the identity provider its catalogue announces, or ``config`` itself when
    it names one already (or is an environment's own catalogue, which signs in as bundled).

    A STAC catalogue announces it in ``auth:schemes`` (the Authentication extension) on its
    landing page, its collections or its items: an ``openIdConnect`` scheme's discovery URL.
    An OpenSearch catalogue's landing page may carry the same ``auth:schemes``, or a ``token``
    link on a Keycloak realm, whose discovery document sits at the realm's standard path.
    The discovery document must be the issuer's own (OpenID Connect Discovery 1.0, 4.3) and,
    for an https catalogue, every endpoint https.

    Raises
    ------
    ConfigurationException
        when the catalogue announces nothing: the message names the ``[Auth]`` keys to set
    AuthenticationException
        when what it announces cannot be used, naming the URL
    """
    if config.sign_in_given or config.at_home:
        return config
    for url, token in _announced(config, session):
        endpoints = _discovered(url, token, config, session)
        logger.info("%s signs in at %s", config.catalogue_url, endpoints["token_endpoint"])
        return config.with_sign_in(**endpoints, source=f"{url}, as {config.catalogue_url} says")
    raise ConfigurationException(no_identity_provider(config))


def _announced(config: CatalogueConfig, session: requests.Session) -> Iterable[tuple[str, str]]:
    """The discovery URLs the catalogue names, most direct first, each with the token
    endpoint its document must name (empty: any), fetched lazily: the first usable one wins."""
    landing = _json(session, config.catalogue_url, config)
    yield from ((url, "") for url in _schemes(landing))
    if config.protocol != "stac":
        token = (landing.get("links") or {}).get("token") if isinstance(landing, dict) else None
        if isinstance(token, dict):
            token = token.get("href")
        if isinstance(token, str) and KEYCLOAK_PROTOCOL in urlsplit(token).path:
            realm = token[: token.index(KEYCLOAK_PROTOCOL)]
            yield realm + OIDC_DISCOVERY, token
        return
    listed = _link(landing, "data") or urljoin(config.catalogue_url, "collections")
    answer = _json(session, listed, config)
    collections = [c for c in answer.get("collections") or [] if isinstance(c, dict)]
    for collection in collections:
        yield from ((url, "") for url in _schemes(collection))
    # a protected collection (Terrascope's "_auth") has items that say where to sign in
    collections.sort(key=lambda c: "anonymous" in ((c.get("_auth") or {}).get("download") or []))
    for collection in collections[:ITEMS_ASKED]:
        items = _link(collection, "items") or urljoin(
            listed.rstrip("/") + "/", f"{collection.get('id')}/items"
        )
        page = _json(session, items, config, params={"limit": 1})
        for feature in (page.get("features") or [])[:1]:
            if isinstance(feature, dict):
                yield from ((url, "") for url in _schemes(feature.get("properties") or {}))
                yield from ((url, "") for url in _schemes(feature))


def _json(
    session: requests.Session,
    url: str,
    config: CatalogueConfig,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON object the catalogue serves at ``url``, or ``{}`` when it serves none there."""
    try:
        answer = session.get(
            url,
            params=params,
            headers={"Accept": "application/json"},
            timeout=config.search_timeout,
        )
    except requests.exceptions.RequestException as error:
        raise AuthenticationException(
            f"cannot ask {url} where to sign in: {type(error).__name__}"
        ) from None
    if answer.status_code != 200:
        return {}
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _schemes(document: Any) -> Iterable[str]:
    """The OpenID Connect discovery URLs of a STAC object's ``auth:schemes``."""
    schemes = document.get("auth:schemes") if isinstance(document, dict) else None
    if not isinstance(schemes, dict):
        return
    for scheme in schemes.values():
        if isinstance(scheme, dict) and scheme.get("type") == "openIdConnect":
            url = scheme.get("openIdConnectUrl")
            if isinstance(url, str) and url:
                yield url


def _link(document: dict[str, Any], rel: str) -> str | None:
    links = document.get("links") if isinstance(document, dict) else None
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("rel") == rel and isinstance(link.get("href"), str):
            return str(link["href"])
    return None


def _discovered(
    url: str, token: str, config: CatalogueConfig, session: requests.Session
) -> dict[str, Any]:
    """The endpoints and flows of the discovery document at ``url``, each checked."""
    secure = urlsplit(config.catalogue_url).scheme.lower() == "https"

    def refuse(problem: str) -> AuthenticationException:
        return AuthenticationException(
            f"{config.catalogue_url} says to sign in as {url} describes, and {problem}; "
            "name the identity provider in the [Auth] section of an .ini file instead"
        )

    def checked(name: str, value: Any) -> str:
        if value in (None, ""):
            return ""
        origin = url_origin(value) if isinstance(value, str) else None
        if origin is None or (secure and origin[0] != "https"):
            kind = "an https URL" if secure else "an http(s) URL"
            raise refuse(f"its {name} is not {kind}")
        return str(value)

    checked("discovery URL", url)
    document = _json(session, url, config)
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or issuer.rstrip("/") + OIDC_DISCOVERY != url:
        raise refuse("the answer there is not that issuer's discovery document")
    token_endpoint = checked("token_endpoint", document.get("token_endpoint"))
    if not token_endpoint or (token and token_endpoint != token):
        raise refuse("it names no token_endpoint (or another than the catalogue's)")
    grants = document.get("grant_types_supported") or DEFAULT_GRANTS
    authorization = checked("authorization_endpoint", document.get("authorization_endpoint"))
    device = checked("device_authorization_endpoint", document.get("device_authorization_endpoint"))
    listed = "grant_types_supported" in document
    return {
        "token_endpoint": token_endpoint,
        "authorization_endpoint": authorization,
        "device_authorization_endpoint": device if DEVICE_GRANT in grants or not listed else "",
        "interactive": bool(authorization) and "authorization_code" in grants,
        "non_interactive": "password" in grants,
    }
