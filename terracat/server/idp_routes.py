"""The identity provider's web face: its routes on Keycloak's paths, its pages and documents.

The provider itself (:mod:`terracat.server.idp`) keeps accounts, codes and tokens and knows
nothing of HTTP; this module answers the token, authorization, device and discovery endpoints
with it, as Keycloak answers them (JSON errors, ``no-store`` token answers, unframed sign-in
pages). :class:`~terracat.server.app.CatalogueApp` mounts :class:`IdentityRoutes` beside the
catalogue's faces; fault plans see all of these routes as ``auth``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

import orjson
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from terracat.server.faults import Verdict
from terracat.server.idp import GRANT_TYPES, AuthorizationError, IdentityProvider, OAuthError
from terracat.server.settings import Settings

__all__ = [
    "IdentityRoutes",
    "device_page",
    "login_page",
    "message_page",
    "openid_configuration",
]

JSON = "application/json"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 5.1, for token answers


class IdentityRoutes:
    """The identity provider's endpoints: their URL rules and a handler per endpoint."""

    def __init__(self, idp: IdentityProvider, settings: Settings) -> None:
        self.idp = idp
        self.settings = settings
        realm = "/auth/realms/<realm>"
        oidc = f"{realm}/protocol/openid-connect"
        self.rules = [
            Rule(f"{oidc}/token", endpoint="token", methods=["POST"]),
            Rule(f"{oidc}/auth", endpoint="login", methods=["GET", "POST"]),
            Rule(f"{oidc}/auth/device", endpoint="device_authorization", methods=["POST"]),
            Rule(f"{realm}/device", endpoint="device_verification", methods=["GET", "POST"]),
            Rule(f"{realm}/.well-known/openid-configuration", endpoint="openid_configuration"),
        ]
        self.handlers: dict[str, Callable[..., Response]] = {
            "token": self._token,
            "login": self._login,
            "device_authorization": self._device_authorization,
            "device_verification": self._device_verification,
            "openid_configuration": self._openid_configuration,
        }

    def _issuer(self, request: Request) -> str:
        return f"{request.host_url}auth/realms/{self.settings.realm}"

    def _known_realm(self, realm: str, page: bool = False) -> Response | None:
        """``None`` for this catalogue's realm, else Keycloak's 404 (as a page or as JSON)."""
        if realm == self.settings.realm:
            return None
        if page:
            return _html(message_page("We are sorry...", "Realm does not exist"), 404)
        return Response(orjson.dumps({"error": "Realm does not exist"}), 404, mimetype=JSON)

    @staticmethod
    def _client_credentials(request: Request) -> tuple[dict[str, str], str | None, str | None]:
        """The form without the client's credentials, and those (from the form or HTTP Basic)."""
        form = request.form.to_dict()
        client_id, client_secret = form.pop("client_id", None), form.pop("client_secret", None)
        if request.authorization is not None and request.authorization.type == "basic":
            client_id = request.authorization.username
            client_secret = request.authorization.password
        return form, client_id, client_secret

    def _token(self, request: Request, verdict: Verdict, realm: str) -> Response:
        if (unknown := self._known_realm(realm)) is not None:
            return unknown
        form, client_id, client_secret = self._client_credentials(request)
        try:
            pair = self.idp.token(form, client_id, client_secret)
        except OAuthError as error:
            return _oauth_error(error)
        return Response(orjson.dumps(pair.as_json()), 200, NO_STORE, mimetype=JSON)

    def _login(self, request: Request, verdict: Verdict, realm: str) -> Response:
        """The authorization endpoint: the sign-in form (GET) and its submission (POST)."""
        if (unknown := self._known_realm(realm, page=True)) is not None:
            return unknown
        source = request.form if request.method == "POST" else request.args
        repeated = sorted(k for k, values in source.lists() if len(values) > 1)
        if repeated:  # RFC 6749 3.1: a parameter given twice is ambiguous, so refused outright
            return _html(
                message_page("We are sorry...", f"Duplicated parameter: {repeated[0]}"), 400
            )
        params = source.to_dict()
        try:
            authorization = self.idp.authorization_request(params, own_origin=request.host_url)
        except AuthorizationError as error:
            if error.redirect is not None:
                return Response("", 302, {"Location": error.redirect, **NO_STORE})
            return _html(message_page("We are sorry...", error.description), 400)
        carried = {k: v for k, v in params.items() if k not in ("username", "password")}
        if request.method != "POST":  # GET, or HEAD
            return _html(login_page(request.base_url, carried))
        code = self.idp.sign_in(
            authorization, params.get("username", ""), params.get("password", "")
        )
        if code is None:
            page = login_page(request.base_url, carried, error="Invalid username or password.")
            return _html(page)
        location = authorization.redirect_to(code=code, state=authorization.state)
        return Response("", 302, {"Location": location, **NO_STORE})

    def _device_authorization(self, request: Request, verdict: Verdict, realm: str) -> Response:
        """RFC 8628 3.1: a device code, the code its user enters, and where to enter it."""
        if (unknown := self._known_realm(realm)) is not None:
            return unknown
        form, client_id, client_secret = self._client_credentials(request)
        try:
            grant = self.idp.start_device(client_id, client_secret, form.get("scope", ""))
        except OAuthError as error:
            return _oauth_error(error)
        body = grant.as_json(f"{self._issuer(request)}/device")
        return Response(orjson.dumps(body), 200, NO_STORE, mimetype=JSON)

    def _device_verification(self, request: Request, verdict: Verdict, realm: str) -> Response:
        """Where a person enters a device's user code, signs in and approves or denies it."""
        if (unknown := self._known_realm(realm, page=True)) is not None:
            return unknown
        if request.method != "POST":  # GET, or HEAD
            return _html(device_page(request.base_url, request.args.get("user_code", "")))
        form = request.form
        user_code, approve = form.get("user_code", ""), "deny" not in form
        try:
            signed_in = self.idp.decide_device(
                user_code, form.get("username", ""), form.get("password", ""), approve=approve
            )
        except AuthorizationError as error:
            return _html(device_page(request.base_url, user_code, error=error.description), 400)
        if not signed_in:
            page = device_page(request.base_url, user_code, error="Invalid username or password.")
            return _html(page)
        if approve:
            page = message_page("Device Login Successful", "You may now return to your device.")
        else:
            page = message_page("Access denied", "The device was not signed in.")
        return _html(page)

    def _openid_configuration(self, request: Request, verdict: Verdict, realm: str) -> Response:
        if (unknown := self._known_realm(realm)) is not None:
            return unknown
        body = openid_configuration(self._issuer(request))
        return Response(orjson.dumps(body, option=orjson.OPT_INDENT_2), mimetype=JSON)


def _oauth_error(error: OAuthError) -> Response:
    body = {"error": error.error, "error_description": error.description}
    return Response(orjson.dumps(body), error.status, NO_STORE, mimetype=JSON)


def _html(page: str, status: int = 200) -> Response:
    # sign-in pages are neither cached nor framed (clickjacking)
    headers = {**NO_STORE, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
    return Response(page, status, headers, mimetype="text/html")


def openid_configuration(issuer: str) -> dict[str, object]:
    """The realm's discovery document (OpenID Connect Discovery 1.0), for what is served here."""
    oidc = f"{issuer}/protocol/openid-connect"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{oidc}/auth",
        "token_endpoint": f"{oidc}/token",
        "device_authorization_endpoint": f"{oidc}/auth/device",
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email"],
    }


# ---- pages ---------------------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body><h1>{html.escape(title)}</h1>
{body}</body></html>"""


def _error(error: str | None) -> str:
    if not error:
        return ""
    return f'<p id="input-error" class="alert-error" role="alert">{html.escape(error)}</p>\n'


def login_page(action: str, params: Mapping[str, str], error: str | None = None) -> str:
    """The sign-in form a browser lands on; a test drives it like a person would.

    ``params`` (the authorization request) travel as hidden inputs, so that the form posts them
    back; ``error`` is shown above the form.
    """
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in ("username", "password")
    )
    return _page(
        "Sign in to terrascope",
        f"""{_error(error)}<form id="kc-form-login" method="post" action="{html.escape(action)}">{hidden}
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="kc-login" type="submit">Sign In</button></form>""",
    )


def device_page(action: str, user_code: str = "", error: str | None = None) -> str:
    """The page where a person enters a device's user code and approves or denies it."""
    return _page(
        "Device Login",
        f"""{_error(error)}<form id="kc-device-form" method="post" action="{html.escape(action)}">
<label>Code <input id="user_code" name="user_code" value="{html.escape(user_code)}" autocomplete="off"></label>
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="kc-approve" name="approve" type="submit">Yes</button>
<button id="kc-deny" name="deny" type="submit">No</button></form>""",
    )


def message_page(title: str, text: str) -> str:
    """A page that only says something: an error or the end of a flow."""
    return _page(title, f'<p id="kc-message">{html.escape(text)}</p>\n')
