"""The local catalogue's identity provider, on Keycloak's paths.

Terrascope signs users in with Keycloak (``/auth/realms/terrascope/protocol/openid-connect/...``);
the local catalogue answers on the same paths (:mod:`terracat.server.idp_routes`, the web face
of the provider kept here) so that the client's real OAuth code runs against it. Tokens are
opaque random strings with short, configurable lifetimes; downloads of protected collections are
checked against the access tokens issued here.

Grants: password, refresh token, authorization code with PKCE (RFC 6749 4.1, RFC 7636) and the
device authorization grant (RFC 8628). Everything lives in memory behind one lock; no token, code
or password is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

__all__ = [
    "AuthorizationError",
    "AuthorizationRequest",
    "DeviceAuthorization",
    "IdentityProvider",
    "OAuthError",
    "TokenPair",
]

logger = logging.getLogger(__name__)

REALM = "terrascope"
CLIENT_ID = "terracatalogueclient"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("authorization_code", "refresh_token", "password", DEVICE_GRANT)
CODE_LIFETIME = 60  # seconds an authorization code may wait for its redemption
DEVICE_LIFETIME = 600  # seconds a device code waits for the user
DEVICE_INTERVAL = 5  # seconds a device client waits between polls
PURGE_GRACE = 600  # seconds expired codes are kept, so that they get "expired" answers
SLOW_DOWN_STEP = 5  # seconds added to a device code's interval at each slow_down (RFC 8628 3.5)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels, no look-alikes (RFC 8628 6.1)
# RFC 7636 4.1: 43 to 128 unreserved characters, for verifiers and (plain or S256) challenges
PKCE_TEXT = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_NOT_A_PASSWORD = secrets.token_bytes(16)  # compared against for unknown users (no timing oracle)


class OAuthError(Exception):
    """An OAuth error answer: ``error`` code, description and HTTP status (RFC 6749, 5.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class AuthorizationError(Exception):
    """An authorization request that fails in the browser (RFC 6749 4.1.2.1).

    With ``redirect`` the browser is sent back to the client with the error in the query; without
    it (unknown client, unacceptable ``redirect_uri``) a 400 page is shown and nobody is redirected.
    """

    def __init__(self, description: str, redirect: str | None = None) -> None:
        super().__init__(description)
        self.description, self.redirect = description, redirect


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int

    def as_json(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "refresh_expires_in": self.refresh_expires_in,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "openid profile email",
        }


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request: who asks, where the answer goes, the PKCE challenge."""

    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    scope: str

    def redirect_to(self, **params: str | None) -> str:
        """``redirect_uri`` with ``params`` (those not ``None``) added to its query."""
        query = urlencode({k: v for k, v in params.items() if v is not None})
        if "?" not in self.redirect_uri:
            return f"{self.redirect_uri}?{query}"
        joiner = "" if self.redirect_uri.endswith(("?", "&")) else "&"
        return f"{self.redirect_uri}{joiner}{query}"


@dataclass(frozen=True)
class DeviceAuthorization:
    """A device authorization answer (RFC 8628 3.2), without the URIs the web layer adds."""

    device_code: str
    user_code: str
    expires_in: int
    interval: int

    def as_json(self, verification_uri: str) -> dict[str, object]:
        return {
            "device_code": self.device_code,
            "user_code": self.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?{urlencode({'user_code': self.user_code})}",
            "expires_in": self.expires_in,
            "interval": self.interval,
        }


@dataclass(frozen=True)
class _Code:
    request: AuthorizationRequest
    user: str
    expiry: float


@dataclass
class _Device:
    client_id: str
    user_code: str
    expiry: float
    interval: float
    last_poll: float = -math.inf
    user: str | None = None
    denied: bool = False


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that also takes non-ASCII text (``compare_digest`` on str won't)."""
    return secrets.compare_digest(expected.encode(), given.encode())


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _redirect_allowed(uri: str, own_origin: str | None) -> bool:
    """A loopback ``http`` URL (RFC 8252 7.3, any port), or one on the identity provider's origin.

    Anything else would make the sign-in page an open redirector that hands codes to strangers.
    """
    if any(c.isspace() or c == "\\" or not c.isprintable() for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.fragment or "#" in uri or parts.username is not None or parts.password is not None:
        return False  # RFC 6749 3.1.2: no fragment; userinfo only serves to confuse parsers
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return True
    if own_origin:
        own = urlsplit(own_origin)
        return (parts.scheme, parts.netloc.lower()) == (own.scheme, own.netloc.lower())
    return False


def _user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def _normalise_user_code(text: str) -> str:
    """What a person typed, as issued: case and separators do not matter (RFC 8628 6.1)."""
    letters = "".join(c for c in text.upper() if c.isalnum())
    return f"{letters[:4]}-{letters[4:]}"


class IdentityProvider:
    """Users, clients and the tokens issued to them.

    Parameters
    ----------
    users : dict
        username -> password
    access_lifetime, refresh_lifetime : int
        token lifetimes in seconds (short ones make refresh paths testable)
    clients : dict
        client id -> secret, ``None`` for a public client; ``terracatalogueclient`` (public) by
        default
    code_lifetime : float
        seconds an authorization code stays redeemable
    device_lifetime : float
        seconds a device code waits for the user (``expires_in``)
    device_interval : float
        the polling interval a device client is told, and held to with ``slow_down``; 0 never
        slows a client down
    slow_down_step : float
        seconds added to a device code's interval each time its client polls too fast

    The lifetimes and the interval are plain attributes: a test may change them on a running
    catalogue (new codes take the new values).
    """

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        access_lifetime: int = 300,
        refresh_lifetime: int = 1800,
        clients: dict[str, str | None] | None = None,
        code_lifetime: float = CODE_LIFETIME,
        device_lifetime: float = DEVICE_LIFETIME,
        device_interval: float = DEVICE_INTERVAL,
        slow_down_step: float = SLOW_DOWN_STEP,
    ) -> None:
        self.users = dict(users if users is not None else {"demo": "demo"})
        self.clients = dict(clients if clients is not None else {CLIENT_ID: None})
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.code_lifetime = code_lifetime
        self.device_lifetime = device_lifetime
        self.device_interval = device_interval
        self.slow_down_step = slow_down_step
        self._access: dict[str, tuple[str, float]] = {}
        self._issued: list[str] = []  # every token ever handed out, for tests hunting leaks
        self._refresh: dict[str, tuple[str, str, float]] = {}  # token -> (user, client, expiry)
        self._codes: dict[str, _Code] = {}
        self._redeemed: dict[str, tuple[float, TokenPair]] = {}  # code -> (kept until, its tokens)
        self._devices: dict[str, _Device] = {}  # device code -> its state
        self._user_codes: dict[str, str] = {}  # user code -> device code
        self._lock = threading.Lock()
        self.grants: list[str] = []  # grant types served, in order: what a test can assert on

    # ---- users and clients ---------------------------------------------------------------------

    def verify_user(self, username: str, password: str) -> bool:
        """Whether ``password`` is ``username``'s (in constant time, known user or not)."""
        known = self.users.get(username)
        if known is None:
            secrets.compare_digest(_NOT_A_PASSWORD, password.encode())
            return False
        return _same(known, password)

    def _check_client(self, client_id: str | None, client_secret: str | None) -> str:
        """The client's id once it is known and, for a confidential client, its secret right."""
        if client_id is None or client_id not in self.clients:
            raise OAuthError("invalid_client", "Invalid client or Invalid client credentials", 401)
        expected = self.clients[client_id]
        if expected is not None and not _same(expected, client_secret or ""):
            raise OAuthError("unauthorized_client", "Invalid client secret", 401)
        return client_id

    def _issue(self, user: str, client_id: str) -> TokenPair:
        now = time.monotonic()
        pair = TokenPair(
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            self.access_lifetime,
            self.refresh_lifetime,
        )
        with self._lock:
            self._access[pair.access_token] = (user, now + self.access_lifetime)
            self._refresh[pair.refresh_token] = (user, client_id, now + self.refresh_lifetime)
            self._issued += (pair.access_token, pair.refresh_token)
        return pair

    def _purge(self, now: float) -> None:
        """Forget codes nobody can use any more; the caller holds the lock."""
        gone = now - PURGE_GRACE
        for code in [c for c, entry in self._codes.items() if entry.expiry <= gone]:
            del self._codes[code]
        for code in [c for c, (until, _) in self._redeemed.items() if until <= now]:
            del self._redeemed[code]
        for device_code in [d for d, entry in self._devices.items() if entry.expiry <= gone]:
            del self._user_codes[self._devices.pop(device_code).user_code]

    # ---- authorization code with PKCE ----------------------------------------------------------

    def authorization_request(
        self, params: Mapping[str, str], *, own_origin: str | None = None
    ) -> AuthorizationRequest:
        """Validate the query of an authorization request (RFC 6749 4.1.1, RFC 7636 4.3).

        ``own_origin`` (the identity provider's base URL) is accepted as a redirect target besides
        loopback URLs. Raises `AuthorizationError`, with a redirect where the client may be told.
        """
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if client_id not in self.clients:
            raise AuthorizationError("Client not found.")
        if not redirect_uri or not _redirect_allowed(redirect_uri, own_origin):
            raise AuthorizationError("Invalid parameter: redirect_uri")
        state = params.get("state")
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        request = AuthorizationRequest(
            client_id,
            redirect_uri,
            state,
            challenge,
            (method or "plain") if challenge else None,  # RFC 7636 4.3: plain when not given
            params.get("scope", ""),
        )

        def refuse(error: str, description: str) -> AuthorizationError:
            location = request.redirect_to(error=error, error_description=description, state=state)
            return AuthorizationError(description, location)

        response_type = params.get("response_type")
        if not response_type:
            raise refuse("invalid_request", "Missing parameter: response_type")
        if response_type != "code":
            raise refuse(
                "unsupported_response_type", f"Unsupported response_type {response_type!r}"
            )
        if method is not None and method not in ("S256", "plain"):
            raise refuse("invalid_request", "Invalid parameter: code_challenge_method")
        if method is not None and challenge is None:
            raise refuse("invalid_request", "Missing parameter: code_challenge")
        if challenge is not None and not PKCE_TEXT.fullmatch(challenge):
            raise refuse("invalid_request", "Invalid parameter: code_challenge")
        return request

    def sign_in(self, request: AuthorizationRequest, username: str, password: str) -> str | None:
        """The one-time authorization code for ``request`` if the credentials hold, else ``None``."""
        if not self.verify_user(username, password):
            return None
        code = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            self._codes[code] = _Code(request, username, now + self.code_lifetime)
        logger.info("signed %s in for client %s", username, request.client_id)
        return code

    def _redeem_code(self, form: Mapping[str, str], client_id: str) -> TokenPair:
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        if not code:
            raise OAuthError("invalid_request", "Missing parameter: code")
        if not redirect_uri:
            raise OAuthError("invalid_request", "Missing parameter: redirect_uri")
        now = time.monotonic()
        with self._lock:
            entry = self._codes.pop(code, None)  # spent by any attempt, failed ones included
            redeemed = self._redeemed.pop(code, None)
            if redeemed is not None:  # RFC 6749 4.1.2: a replayed code revokes what it gave
                _, pair = redeemed
                self._access.pop(pair.access_token, None)
                self._refresh.pop(pair.refresh_token, None)
        if redeemed is not None:
            raise OAuthError("invalid_grant", "Code already used")
        if entry is None:
            raise OAuthError("invalid_grant", "Code not valid")
        if entry.expiry <= now:
            raise OAuthError("invalid_grant", "Code is expired")
        request = entry.request
        if request.client_id != client_id:
            raise OAuthError("invalid_grant", "Code was issued to another client")
        if request.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "Incorrect redirect_uri")
        verifier = form.get("code_verifier")
        if request.code_challenge is None:
            if verifier:
                raise OAuthError(
                    "invalid_grant", "PKCE code verifier specified but challenge not present"
                )
        elif not verifier:
            raise OAuthError("invalid_grant", "PKCE code verifier not specified")
        elif not PKCE_TEXT.fullmatch(verifier):
            raise OAuthError("invalid_grant", "Invalid code verifier")
        else:
            computed = _s256(verifier) if request.code_challenge_method == "S256" else verifier
            if not _same(request.code_challenge, computed):
                raise OAuthError("invalid_grant", "PKCE verification failed: code mismatch")
        pair = self._issue(entry.user, client_id)
        with self._lock:
            self._redeemed[code] = (now + self.refresh_lifetime, pair)
        return pair

    # ---- device authorization grant ------------------------------------------------------------

    def start_device(
        self, client_id: str | None, client_secret: str | None, scope: str = ""
    ) -> DeviceAuthorization:
        """A device code and its user code for ``client_id`` (RFC 8628 3.1)."""
        client_id = self._check_client(client_id, client_secret)
        device_code = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            user_code = _user_code()
            while user_code in self._user_codes:
                user_code = _user_code()
            self._devices[device_code] = _Device(
                client_id, user_code, now + self.device_lifetime, self.device_interval
            )
            self._user_codes[user_code] = device_code
        return DeviceAuthorization(
            device_code, user_code, math.ceil(self.device_lifetime), math.ceil(self.device_interval)
        )

    def decide_device(
        self, user_code: str, username: str, password: str, *, approve: bool = True
    ) -> bool:
        """Approve (or deny) the device behind ``user_code`` as ``username``.

        Returns ``False`` when the credentials are wrong; raises `AuthorizationError` when the user
        code is unknown, expired or already decided.
        """
        normalised = _normalise_user_code(user_code)
        with self._lock:
            device = self._devices.get(self._user_codes.get(normalised, ""))
        if device is None or device.expiry <= time.monotonic():
            raise AuthorizationError("Invalid code: it is unknown or has expired")
        if not self.verify_user(username, password):
            return False
        with self._lock:
            if device.user is not None or device.denied:
                raise AuthorizationError("This code has already been used")
            if approve:
                device.user = username
            else:
                device.denied = True
        logger.info(
            "%s %s a device for client %s",
            username,
            "approved" if approve else "denied",
            device.client_id,
        )
        return True

    def _poll_device(self, form: Mapping[str, str], client_id: str) -> TokenPair:
        device_code = form.get("device_code")
        if not device_code:
            raise OAuthError("invalid_request", "Missing parameter: device_code")
        now = time.monotonic()
        with self._lock:
            device = self._devices.get(device_code)
            if device is None or device.client_id != client_id:
                raise OAuthError("invalid_grant", "Device code not valid")
            if device.expiry <= now:
                del self._devices[device_code], self._user_codes[device.user_code]
                raise OAuthError("expired_token", "Device code is expired")
            if device.denied:
                del self._devices[device_code], self._user_codes[device.user_code]
                raise OAuthError("access_denied", "The end user denied the authorization request")
            if device.user is None:
                too_soon = now - device.last_poll < device.interval
                device.last_poll = now
                if too_soon:
                    device.interval += self.slow_down_step
                    raise OAuthError("slow_down", "Slow down: poll less often")
                raise OAuthError(
                    "authorization_pending", "The authorization request is still pending"
                )
            user = device.user
            del self._devices[device_code], self._user_codes[device.user_code]
        return self._issue(user, client_id)

    # ---- the token endpoint ---------------------------------------------------------------------

    def token(
        self, form: dict[str, str], client_id: str | None, client_secret: str | None
    ) -> TokenPair:
        """Answer a token endpoint request (its form, and the client's credentials)."""
        client_id = self._check_client(client_id, client_secret)
        grant = form.get("grant_type", "")
        with self._lock:
            self.grants.append(grant)
        if grant == "password":
            username = form.get("username", "")
            if not self.verify_user(username, form.get("password", "")):
                raise OAuthError("invalid_grant", "Invalid user credentials", 401)
            return self._issue(username, client_id)
        if grant == "refresh_token":
            with self._lock:
                user, owner, expiry = self._refresh.pop(
                    form.get("refresh_token", ""), (None, None, 0.0)
                )
            if user is None or expiry < time.monotonic():
                raise OAuthError("invalid_grant", "Token is not active")
            if owner != client_id:
                raise OAuthError("invalid_grant", "Token was issued to another client")
            return self._issue(user, client_id)
        if grant == "authorization_code":
            return self._redeem_code(form, client_id)
        if grant == DEVICE_GRANT:
            return self._poll_device(form, client_id)
        raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant!r}")

    def user_of(self, authorization: str | None) -> str | None:
        """The user behind an ``Authorization: Bearer`` header, if its token is still valid."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self._lock:
            user, expiry = self._access.get(authorization[7:].strip(), (None, 0.0))
        return user if user is not None and expiry >= time.monotonic() else None

    def expire_all(self) -> None:
        """Make every issued access token expire now (refresh tokens stay valid)."""
        with self._lock:
            self._access = {token: (user, 0.0) for token, (user, _) in self._access.items()}

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far: the secrets no log line may show."""
        with self._lock:
            return list(self._issued)

    def revoke_refresh_tokens(self) -> None:
        """Make every issued refresh token invalid (access tokens live on until they expire)."""
        with self._lock:
            self._refresh.clear()
