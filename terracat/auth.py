"""Signing in to a catalogue: OIDC flows, token renewal and an opt-in token cache.

The flows run through authlib's OAuth 2 client (password grant, authorization code with PKCE,
refresh); the device grant (RFC 8628) is two plain requests authlib does not wrap. A signed-in
catalogue sends its requests through :class:`BearerAuth`, which renews the access token before
it expires and once more after a 401, under a lock so that concurrent downloads never spend the
same single-use refresh token twice. Tokens never appear in a message, a log line or a repr.

A token is sent only where it belongs (:class:`TokenScope`): the catalogue's own origin and the
download origins its configuration names (``[Auth] TokenHosts``). A product href on any other
host (a tiler, a public bucket), a redirect elsewhere, or a 401 from elsewhere gets no token and
causes no renewal. Searches, downloads and renewal all ask the one :meth:`TokenScope.covers`.

Whatever an identity provider answers, a sign-in either yields a usable token or raises
:class:`~terracat.exceptions.AuthenticationException` naming the endpoint
(:func:`checked_token`): an HTML page, an empty body, a JSON list, a token without
``access_token`` or with a non-numeric ``expires_in`` are refused at once, not later as a
``KeyError`` in the middle of a download.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from terracat.config import CatalogueConfig
from terracat.exceptions import (
    AuthenticationException,
    ConfigurationException,
    ProductDownloadException,
)

__all__ = [
    "BearerAuth",
    "StaticBearer",
    "TokenCache",
    "TokenScope",
    "cache_key",
    "checked_token",
    "no_identity_provider",
    "sign_in",
]

logger = logging.getLogger(__name__)

LEEWAY = 30
"""Seconds before its expiry at which an access token is renewed."""

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of an http(s) URL, the default port filled in; else ``None``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, a malformed IPv6 host
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


class TokenScope:
    """The origins a catalogue's access token belongs to; every other URL gets no token.

    An origin is scheme, host and port: the token goes neither to another host nor, over plain
    http, to the catalogue's own host when the catalogue is https.

    Parameters
    ----------
    urls :
        the catalogue's URL and the download services' URLs (only their origins count)
    """

    def __init__(self, urls: Iterable[str]) -> None:
        self.origins = frozenset(o for o in map(url_origin, urls) if o is not None)

    @classmethod
    def of(cls, config: CatalogueConfig) -> TokenScope:
        """The scope a configuration gives: its catalogue and its ``[Auth] TokenHosts``."""
        return cls([config.catalogue_url, *config.token_hosts])

    def covers(self, url: str) -> bool:
        """Whether ``url`` may carry the access token."""
        return url_origin(url) in self.origins

    def __repr__(self) -> str:
        shown = sorted(f"{s}://{h}:{p}" for s, h, p in self.origins)  # type: ignore[misc]
        return f"TokenScope({shown})"


class TokenCache:
    """Tokens on disk, readable by their owner only, keyed by identity provider and client.

    Only refresh and access tokens with their expiry are kept; never a password.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenCache({str(self.path)!r})"

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            logger.warning("ignoring the unreadable token cache %s", self.path)
            return {}

    def load(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._read().get(key)

    def save(self, key: str, token: dict[str, Any] | None) -> None:
        with self._lock:
            tokens = self._read()
            if token is None:
                tokens.pop(key, None)
            else:
                tokens[key] = {
                    k: token[k]
                    for k in ("access_token", "refresh_token", "expires_at", "token_type")
                    if k in token
                }
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                json.dump(tokens, out)
            os.replace(partial, self.path)


def _describe(error: Exception, endpoint: str) -> str:
    if isinstance(error, OAuthError):
        detail = f"{error.error}: {error.description}" if error.description else str(error.error)
        return f"the identity provider at {endpoint} refused: {detail}"
    if isinstance(error, requests.exceptions.RequestException):
        return f"the identity provider at {endpoint} could not be reached ({type(error).__name__})"
    return f"signing in at {endpoint} failed ({type(error).__name__})"


class _ScopedBearer(requests.auth.AuthBase):
    """Signs the requests its scope covers with an access token, and no other request."""

    def __init__(self, scope: TokenScope) -> None:
        self.scope = scope

    def current_token(self) -> str:
        raise NotImplementedError

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.url is None or not self.scope.covers(request.url):
            request.headers.pop("Authorization", None)
            return request
        request.headers["Authorization"] = f"Bearer {self.current_token()}"
        return request


class BearerAuth(_ScopedBearer):
    """Signs requests with the current access token, renewing it when needed.

    Parameters
    ----------
    client :
        the authlib client holding the token and the token endpoint
    scope :
        where the token may be sent (:meth:`TokenScope.of` the catalogue's configuration)
    on_update :
        called with each new token (the cache)
    """

    def __init__(
        self,
        client: OAuth2Session,
        scope: TokenScope,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(scope)
        self._client = client
        self._on_update = on_update
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "BearerAuth(<token hidden>)"

    @property
    def access_token(self) -> str:
        with self._lock:
            token = self._client.token
            if token.is_expired(leeway=LEEWAY):
                self._renew_locked()
            return str(self._client.token["access_token"])

    def current_token(self) -> str:
        return self.access_token

    def _renew_locked(self) -> None:
        endpoint = self._client.metadata["token_endpoint"]
        refresh = self._client.token.get("refresh_token")
        if not refresh:
            raise AuthenticationException(
                "the access token expired and there is no refresh token: sign in again"
            )
        previous = self._client.token
        try:
            token = checked_token(
                lambda: self._client.refresh_token(endpoint, refresh_token=refresh),
                endpoint,
                "renewing the sign-in",
                "; sign in again",
            )
        except AuthenticationException:
            self._client.token = previous  # authlib kept whatever it was answered
            raise
        logger.info("access token renewed")
        if self._on_update is not None:
            self._on_update(token)

    def token_for(self, seconds: float) -> str:
        """An access token valid for at least ``seconds`` more (renewed first when it is not).

        What a distributed download hands to its workers, which cannot renew it themselves.
        """
        with self._lock:
            if self._client.token.is_expired(leeway=int(seconds)):
                self._renew_locked()
            return str(self._client.token["access_token"])

    def renew(self, spent: str | None = None) -> None:
        """Renew now, unless another thread already replaced the ``spent`` access token."""
        with self._lock:
            if spent is None or self._client.token.get("access_token") == spent:
                self._renew_locked()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        signed = super().__call__(request)
        if "Authorization" in signed.headers:
            signed.register_hook("response", self._after)
        return signed

    def _after(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """One renewal and resend after a 401: the token was revoked or the clocks disagree.

        Only for a request that carried the token to where it belongs: requests copies this hook
        onto the requests of a redirect, and a 401 from the host redirected to must neither
        spend the refresh token nor receive the access token.
        """
        request = response.request
        if (
            response.status_code != 401
            or getattr(request, "_terracat_resent", False)
            or request.url is None
            or not self.scope.covers(request.url)
            or not request.headers.get("Authorization", "").startswith("Bearer ")
        ):
            return response
        spent = request.headers["Authorization"][7:]
        self.renew(spent)
        response.content  # noqa: B018 - drain, so the connection goes back to the pool
        response.close()
        again = request.copy()
        again.headers["Authorization"] = f"Bearer {self.access_token}"
        again._terracat_resent = True  # type: ignore[attr-defined]
        resent = response.connection.send(again, **kwargs)
        resent.history.append(response)
        resent.request = again
        return resent


class StaticBearer(_ScopedBearer):
    """Signs requests with one access token handed over by another process; cannot renew it."""

    def __init__(self, access_token: str, scope: TokenScope) -> None:
        super().__init__(scope)
        self._token = access_token

    def __repr__(self) -> str:
        return "StaticBearer(<token hidden>)"

    def current_token(self) -> str:
        return self._token

    def renew(self, spent: str | None = None) -> None:
        raise AuthenticationException(
            "the sign-in handed to this worker has expired; sign in again and run the download again"
        )


def checked_token(
    fetch: Callable[[], Any], endpoint: str, doing: str = "signing in", advice: str = ""
) -> dict[str, Any]:
    """The token ``fetch`` obtains from ``endpoint``, checked to be usable.

    authlib parses the answer and trusts it: an HTML page is a ``ValueError``, a JSON list an
    ``AttributeError``, a missing ``access_token`` a ``KeyError`` at the first request that needs
    it. Every such answer is an :class:`AuthenticationException` here, naming the endpoint but
    never echoing the answer (it may hold a secret).
    """
    try:
        token = fetch()
    except requests.exceptions.JSONDecodeError:  # before RequestException, whose subclass it is
        raise AuthenticationException(
            f"{doing} failed: the identity provider at {endpoint} did not answer with JSON "
            f"(an OAuth token was expected){advice}"
        ) from None
    except (OAuthError, requests.exceptions.RequestException) as error:
        raise AuthenticationException(
            f"{doing} failed: {_describe(error, endpoint)}{advice}"
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise AuthenticationException(
            f"{doing} failed: the identity provider at {endpoint} did not answer with an OAuth "
            f"token ({type(error).__name__}: the answer is not a JSON object of the token response)"
            f"{advice}"
        ) from None
    problem = _token_problem(token)
    if problem:
        raise AuthenticationException(
            f"{doing} failed: the identity provider at {endpoint} answered a token {problem}"
            f"{advice}"
        )
    return dict(token)


def _token_problem(token: Any) -> str | None:
    """What makes an OAuth token response unusable (RFC 6749 section 5.1), or ``None``."""
    if not isinstance(token, dict):
        return f"that is a {type(token).__name__}, not a JSON object"
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        return "without an access_token"
    if any(ord(c) < 33 or ord(c) > 126 for c in access):
        return "whose access_token is not a header-safe string"
    if str(token.get("token_type", "bearer")).lower() != "bearer":
        return f"of type {token.get('token_type')!r}, not a bearer token"
    for key in ("expires_in", "expires_at"):
        if not _is_seconds(token.get(key)):
            return f"whose {key} is not a number of seconds"
    refresh = token.get("refresh_token")
    if refresh is not None and not isinstance(refresh, str):
        return "whose refresh_token is not a string"
    return None


def _is_seconds(value: Any) -> bool:
    """Absent, or a finite number (authlib also takes digits in a string, as some servers send)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return value.strip().isdigit()
    return isinstance(value, int | float) and math.isfinite(value)


def _client(config: CatalogueConfig, session: requests.Session, **extra: Any) -> OAuth2Session:
    client = OAuth2Session(
        client_id=config.oidc_client_id,
        client_secret=config.oidc_client_secret or None,
        token_endpoint=config.oidc_token_endpoint,
        token_endpoint_auth_method="client_secret_post" if config.oidc_client_secret else "none",
        scope="openid",
        leeway=LEEWAY,
        **extra,
    )
    client.verify = session.verify
    for prefix, adapter in session.adapters.items():
        client.mount(prefix, adapter)
    return client


def cache_key(config: CatalogueConfig) -> str:
    """The token cache's key for a configuration: its identity provider and client."""
    return f"{config.oidc_token_endpoint}|{config.oidc_client_id}"


def _password(
    client: OAuth2Session, config: CatalogueConfig, username: str, password: str
) -> dict[str, Any]:
    return dict(
        client.fetch_token(
            config.oidc_token_endpoint,
            grant_type="password",
            username=username,
            password=password,
            timeout=config.search_timeout,
        )
    )


class _SilentHandler(WSGIRequestHandler):
    """The callback's request line carries the one-time code: it is logged nowhere."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


def _authorization_code(
    client: OAuth2Session,
    config: CatalogueConfig,
    opener: Callable[[str], Any] | None,
    timeout: float,
    fall_back: bool = False,
) -> dict[str, Any]:
    """Authorization code with PKCE, the redirect caught on a loopback port (RFC 8252).

    An opener that answers ``False`` (as ``webbrowser.open`` does when it could start no
    browser), or a machine without a display when no opener is given, raises
    :class:`_NoBrowser` at once when ``fall_back`` (there is another way to sign in), before any
    URL nobody can open is printed; without ``fall_back`` the sign-in URL is printed before a
    browser is asked to open it, and a browser that cannot be opened is said and waited for.
    A browser that opens is followed by the URL too, for a person whose window did not come up.
    """
    arrived: dict[str, str] = {}
    done = threading.Event()

    @Request.application  # type: ignore[arg-type]
    def callback(request: Request) -> Response:
        if "code" in request.args or "error" in request.args:
            arrived.update(request.args.to_dict())
            done.set()
            return Response(
                "Signed in to terracat. You can close this window.", mimetype="text/plain"
            )
        return Response("Waiting for the sign-in.", 404, mimetype="text/plain")

    server = make_server("127.0.0.1", 0, callback, threaded=True, request_handler=_SilentHandler)
    thread = threading.Thread(target=server.serve_forever, name="terracat-sign-in", daemon=True)
    thread.start()
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
        verifier = secrets.token_urlsafe(64)
        url, state = client.create_authorization_url(
            config.oidc_authorization_endpoint, redirect_uri=redirect_uri, code_verifier=verifier
        )
        reason = _no_browser_reason() if opener is None else None
        if reason and fall_back:
            raise _NoBrowser(reason)
        if not fall_back:  # the URL is the only way: said before a browser may hold the terminal
            _tell(f"To sign in, open {url}")
        opened = False if reason else _opener(opener)(url)
        if opened is False:  # webbrowser.open's answer when no browser could be started
            if fall_back:
                raise _NoBrowser("no browser could be opened")
            _tell(f"{reason or 'no browser could be opened'}: open the URL above on this machine")
        elif fall_back:
            _tell(f"To sign in, open {url} (a browser was asked to)")
        _tell(
            f"Waiting up to {_duration(timeout)} for the sign-in in the browser "
            "to reach this machine (Ctrl+C stops)"
        )
        if not done.wait(timeout):
            raise AuthenticationException(f"no sign-in arrived within {timeout:.0f} s")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    if arrived.get("state") != state:
        raise AuthenticationException(
            "the sign-in answer does not match the request (state); try again"
        )
    if "error" in arrived:
        raise AuthenticationException(
            f"the sign-in was refused: {arrived.get('error')}: {arrived.get('error_description', '')}"
        )
    return dict(
        client.fetch_token(
            config.oidc_token_endpoint,
            grant_type="authorization_code",
            code=arrived["code"],
            redirect_uri=redirect_uri,
            code_verifier=verifier,
            timeout=config.search_timeout,
        )
    )


def _device(
    client: OAuth2Session,
    config: CatalogueConfig,
    notify: Callable[[str, str], Any],
    timeout: float,
) -> dict[str, Any]:
    """The device authorization grant (RFC 8628): a code to enter on another device."""
    endpoint = config.oidc_device_authorization_endpoint
    form = {"client_id": config.oidc_client_id, "scope": "openid"}
    if config.oidc_client_secret:
        form["client_secret"] = config.oidc_client_secret
    answer = client.post(endpoint, data=form, timeout=config.search_timeout, withhold_token=True)
    if answer.status_code != 200:
        raise AuthenticationException(
            f"the identity provider at {endpoint} refused a device sign-in (HTTP {answer.status_code})"
        )
    grant = answer.json()
    notify(grant.get("verification_uri_complete") or grant["verification_uri"], grant["user_code"])
    interval = float(grant.get("interval", 5))
    deadline = time.monotonic() + min(timeout, float(grant.get("expires_in", timeout)))
    while time.monotonic() < deadline:
        time.sleep(interval)
        polled = client.post(
            config.oidc_token_endpoint,
            data={**form, "grant_type": DEVICE_GRANT, "device_code": grant["device_code"]},
            timeout=config.search_timeout,
            withhold_token=True,
        )
        body = polled.json()
        if polled.status_code == 200:
            client.token = body
            return dict(client.token)
        error = body.get("error")
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise AuthenticationException(
                f"the device sign-in ended: {error}: {body.get('error_description', '')}"
            )
    raise AuthenticationException("the device sign-in was not completed in time")


def _tell(line: str) -> None:
    # user interaction, not logging: the person must see this wherever logging goes
    print(line, file=sys.stderr, flush=True)


def _print_device_code(uri: str, code: str) -> None:
    _tell(f"To sign in, open {uri} and confirm the code {code}")


def _device_printer(timeout: float) -> Callable[[str, str], None]:
    """The default ``notify``: the code, then what is waited for and how long."""

    def notify(uri: str, code: str) -> None:
        _print_device_code(uri, code)
        _tell(f"Waiting up to {_duration(timeout)} for the code to be confirmed (Ctrl+C stops)")

    return notify


def _duration(seconds: float) -> str:
    """``300`` -> ``'5 min'``, ``30`` -> ``'30 s'``: how long a sign-in is waited for."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


class _NoBrowser(Exception):
    """No browser could show the sign-in page here; the reason says how that was decided."""


def _no_browser_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Why no browser can be opened on this machine, or ``None`` when one may be.

    On Linux and the BSDs a graphical browser needs ``$DISPLAY`` or ``$WAYLAND_DISPLAY``;
    without either, and without a ``$BROWSER`` chosen on purpose, ``webbrowser`` would start a
    text browser in the terminal (or nothing), where an identity provider's page cannot be used.
    """
    environ = os.environ if environ is None else environ
    if sys.platform in ("win32", "darwin") or environ.get("BROWSER"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return "no display here ($DISPLAY and $WAYLAND_DISPLAY are unset) and no $BROWSER is set"


def _opener(opener: Callable[[str], Any] | None) -> Callable[[str], Any]:
    """The given opener, else :func:`webbrowser.open` (looked up on use, for ``$BROWSER``)."""
    return opener if opener is not None else webbrowser.open


def _browser_or_device(
    config: CatalogueConfig,
    session: requests.Session,
    browser: Callable[[str], Any] | None,
    notify: Callable[[str, str], Any] | None,
    timeout: float,
) -> tuple[dict[str, Any], OAuth2Session]:
    """The browser sign-in, or the device sign-in when no browser can be opened here.

    Returns the token and the authlib client that holds it (each flow has its own client).
    """
    endpoint = config.oidc_token_endpoint
    # authlib derives the PKCE challenge only for a client made with the method
    client = _client(config, session, code_challenge_method="S256")
    device = bool(config.oidc_device_authorization_endpoint)
    try:
        token = checked_token(
            lambda: _authorization_code(client, config, browser, timeout, device), endpoint
        )
    except _NoBrowser as missing:
        _tell(f"{missing}: signing in with a code from another device instead")
        client = _client(config, session)
        token = checked_token(
            lambda: _device(client, config, notify or _device_printer(timeout), timeout), endpoint
        )
    return token, client


def sign_in(
    config: CatalogueConfig,
    session: requests.Session,
    flow: str,
    *,
    username: str | None = None,
    password: str | None = None,
    browser: Callable[[str], Any] | None = None,
    notify: Callable[[str, str], Any] | None = None,
    cache: TokenCache | None = None,
    reuse: bool = False,
    timeout: float = 300.0,
) -> BearerAuth:
    """Sign in with ``flow`` (``password``, ``interactive`` or ``device``).

    With a ``cache``, the new tokens are kept there; with ``reuse`` too, a cached refresh token
    that is still valid signs in without asking anyone. Returns the request signer to attach to
    the catalogue's sessions.
    """
    if not config.sign_in_given and not config.at_home:
        raise ConfigurationException(no_identity_provider(config))
    supported = {
        "password": config.oidc_non_interactive_supported,
        "interactive": config.oidc_interactive_supported,
        "device": bool(config.oidc_device_authorization_endpoint),
    }
    if not supported[flow]:
        kind = {"password": "Non interactive", "interactive": "Interactive", "device": "Device"}[
            flow
        ]
        raise ProductDownloadException(
            f"{kind} authentication is not supported for this catalogue endpoint"
        )
    key = cache_key(config)
    scope = TokenScope.of(config)
    on_update = (lambda token: cache.save(key, token)) if cache is not None else None
    client = _client(config, session)
    cached = cache.load(key) if cache is not None and reuse else None
    if cached and cached.get("refresh_token"):
        client.token = cached
        auth = BearerAuth(client, scope, on_update)
        try:
            auth.renew()
            logger.info("signed in from the token cache")
            return auth
        except AuthenticationException:
            logger.info("the cached sign-in has expired; signing in again")
            cache.save(key, None)  # type: ignore[union-attr]
    endpoint = config.oidc_token_endpoint
    if flow == "password":
        token = checked_token(
            lambda: _password(client, config, username or "", password or ""), endpoint
        )
    elif flow == "interactive":
        # authlib derives the PKCE challenge only for a client made with the method
        token, client = _browser_or_device(config, session, browser, notify, timeout)
    else:
        token = checked_token(
            lambda: _device(client, config, notify or _device_printer(timeout), timeout), endpoint
        )
    if on_update is not None:
        on_update(token)
    return BearerAuth(client, scope, on_update)


def no_identity_provider(config: CatalogueConfig) -> str:
    """Why ``config`` cannot sign in, and the ``.ini`` keys that would let it."""
    looked = (
        "its landing page, collections and items"
        if config.protocol == "stac"
        else "its landing page (auth:schemes, a token link)"
    )
    bundled = ""
    if config.environment is not None:
        bundled = (
            f"; CatalogueEnvironment.{config.environment.name}'s sign-in is for its own "
            "catalogue only"
        )
    return (
        f"{config.catalogue_url} does not say where to sign in (no OpenID Connect URL in "
        f"{looked}), and the configuration names no identity provider{bundled}. Name it in an "
        ".ini file: [Auth] TokenEndpoint (the password grant), AuthorizationEndpoint (a browser), "
        "DeviceAuthorizationEndpoint (a code from another device) and ClientId; then pass the "
        "file with --config FILE (CatalogueConfig.from_url(url, path=FILE) in Python)."
    )
