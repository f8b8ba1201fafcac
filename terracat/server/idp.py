"""The local catalogue's identity provider, on Keycloak's paths.

Terrascope signs users in with Keycloak (``/auth/realms/terrascope/protocol/openid-connect/...``);
the local catalogue answers on the same paths so that the client's real OAuth code runs against
it. Tokens are opaque random strings with short, configurable lifetimes; downloads of protected
collections are checked against the access tokens issued here.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass

__all__ = ["IdentityProvider", "OAuthError", "TokenPair"]

REALM = "terrascope"
CLIENT_ID = "terracatalogueclient"


class OAuthError(Exception):
    """An OAuth error answer: ``error`` code, description and HTTP status (RFC 6749, 5.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


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


class IdentityProvider:
    """Users, clients and the tokens issued to them.

    Parameters
    ----------
    users : dict
        username -> password
    access_lifetime, refresh_lifetime : int
        token lifetimes in seconds (short ones make refresh paths testable)
    """

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        access_lifetime: int = 300,
        refresh_lifetime: int = 1800,
        clients: dict[str, str | None] | None = None,
    ) -> None:
        self.users = dict(users if users is not None else {"demo": "demo"})
        self.clients = dict(clients if clients is not None else {CLIENT_ID: None})
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self._access: dict[str, tuple[str, float]] = {}
        self._refresh: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.grants: list[str] = []  # grant types served, in order: what a test can assert on

    def _check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id not in self.clients:
            raise OAuthError("invalid_client", "Invalid client or Invalid client credentials", 401)
        expected = self.clients[client_id]
        if expected is not None and not secrets.compare_digest(expected, client_secret or ""):
            raise OAuthError("unauthorized_client", "Invalid client secret", 401)

    def _issue(self, user: str) -> TokenPair:
        now = time.monotonic()
        pair = TokenPair(
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            self.access_lifetime,
            self.refresh_lifetime,
        )
        with self._lock:
            self._access[pair.access_token] = (user, now + self.access_lifetime)
            self._refresh[pair.refresh_token] = (user, now + self.refresh_lifetime)
        return pair

    def token(
        self, form: dict[str, str], client_id: str | None, client_secret: str | None
    ) -> TokenPair:
        """Answer a token endpoint request (its form, and the client's credentials)."""
        self._check_client(client_id, client_secret)
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == "password":
            username, password = form.get("username", ""), form.get("password", "")
            known = self.users.get(username)
            if known is None or not secrets.compare_digest(known, password):
                raise OAuthError("invalid_grant", "Invalid user credentials", 401)
            return self._issue(username)
        if grant == "refresh_token":
            with self._lock:
                user, expiry = self._refresh.pop(form.get("refresh_token", ""), (None, 0.0))
            if user is None or expiry < time.monotonic():
                raise OAuthError("invalid_grant", "Token is not active")
            return self._issue(user)
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


def login_page(action: str, params: dict[str, str]) -> str:
    """The sign-in form a browser lands on; a test drives it like a person would."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to terrascope</title></head>
<body><h1>Sign in to terrascope</h1>
<form id="kc-form-login" method="post" action="{html.escape(action)}">{hidden}
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="kc-login" type="submit">Sign In</button></form></body></html>"""
