"""The local catalogue's identity provider, driven over HTTP as a browser and a client would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from terracat.server import LocalCatalogue
from terracat.server.idp import IdentityProvider

CLIENT = "terracatalogueclient"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CALLBACK = "http://127.0.0.1:8765/callback"


class _Form(HTMLParser):
    """The first form of a page: where it posts, its inputs (name -> value) and error text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.error = ""
        self._in_error = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attributes.get("action")
        elif tag == "input" and attributes.get("name"):
            self.fields[str(attributes["name"])] = attributes.get("value") or ""
        self._in_error = attributes.get("id") == "input-error"

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error += data


def _oidc(local: LocalCatalogue) -> str:
    return f"{local.url}auth/realms/terrascope/protocol/openid-connect"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize(
    http: requests.Session, local: LocalCatalogue, challenge: str, **overrides: str
) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": CALLBACK,
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "openid",
        **overrides,
    }
    return http.get(f"{_oidc(local)}/auth", params=params, allow_redirects=False, timeout=30)


def _submit(
    http: requests.Session, page: requests.Response, **credentials: str
) -> requests.Response:
    """Post a page's form back with its hidden inputs and ``credentials``, as a browser would."""
    form = _Form(page.text)
    assert form.action is not None
    data = {**form.fields, **credentials}
    return http.post(form.action, data=data, allow_redirects=False, timeout=30)


def _code_for(
    http: requests.Session, local: LocalCatalogue, challenge: str, **overrides: str
) -> str:
    page = _authorize(http, local, challenge, **overrides)
    answer = _submit(http, page, username="demo", password="demo")
    assert answer.status_code == 302, answer.text
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


def _redeem(
    http: requests.Session, local: LocalCatalogue, code: str, verifier: str, /, **overrides: str
) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": CLIENT,
        "code_verifier": verifier,
        **overrides,
    }
    return http.post(f"{_oidc(local)}/token", data=form, timeout=30)


def _protected_download(
    http: requests.Session, local: LocalCatalogue, access_token: str
) -> requests.Response:
    path = next(p for p, e in local.store.files.items() if e.protected)
    headers = {"Authorization": f"Bearer {access_token}"}
    return http.get(f"{local.url}{path[1:]}", headers=headers, allow_redirects=False, timeout=30)


@pytest.fixture
def idp(local_catalogue: LocalCatalogue) -> Iterator[IdentityProvider]:
    """The shared identity provider with a zero device polling interval, restored afterwards."""
    idp = local_catalogue.idp
    saved = (idp.code_lifetime, idp.device_lifetime, idp.device_interval, dict(idp.clients))
    idp.device_interval = 0
    try:
        yield idp
    finally:
        idp.code_lifetime, idp.device_lifetime, idp.device_interval = saved[:3]
        idp.clients = saved[3]


# ---- authorization code with PKCE ------------------------------------------------------------


def test_pkce_sign_in_through_the_form_gives_a_token_that_opens_protected_downloads(
    local_catalogue, http, idp
):
    verifier, challenge = _pkce()
    page = _authorize(http, local_catalogue, challenge, state="xyz")
    assert page.status_code == 200 and 'id="kc-form-login"' in page.text

    answer = _submit(http, page, username="demo", password="demo")
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"] and len(query["code"]) == 1

    tokens = _redeem(http, local_catalogue, query["code"][0], verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["Cache-Control"] == "no-store"
    body = tokens.json()
    assert {"access_token", "refresh_token", "expires_in", "token_type"} <= set(body)
    assert _protected_download(http, local_catalogue, body["access_token"]).status_code == 200
    assert idp.grants[-1] == "authorization_code"


def test_login_form_carries_the_authorization_request_as_escaped_hidden_inputs(
    local_catalogue, http
):
    _, challenge = _pkce()
    state = '"><script>alert(1)</script>&x'
    page = _authorize(http, local_catalogue, challenge, state=state)
    assert "<script>" not in page.text
    fields = _Form(page.text).fields
    assert fields["state"] == state
    assert fields["code_challenge"] == challenge and fields["code_challenge_method"] == "S256"
    assert fields["redirect_uri"] == CALLBACK and fields["client_id"] == CLIENT
    assert fields["response_type"] == "code" and fields["scope"] == "openid"
    assert page.headers["X-Frame-Options"] == "DENY"


def test_wrong_password_shows_the_form_again_with_an_error(local_catalogue, http):
    _, challenge = _pkce()
    page = _authorize(http, local_catalogue, challenge)
    again = _submit(http, page, username="demo", password="wrong")
    assert again.status_code == 200 and "Location" not in again.headers
    form = _Form(again.text)
    assert "Invalid username or password" in form.error
    assert form.fields["code_challenge"] == challenge  # the request is still carried
    assert _submit(http, again, username="demo", password="demo").status_code == 302


def test_wrong_code_verifier_is_invalid_grant_and_spends_the_code(local_catalogue, http):
    verifier, challenge = _pkce()
    code = _code_for(http, local_catalogue, challenge)
    wrong = _redeem(http, local_catalogue, code, _pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    again = _redeem(http, local_catalogue, code, verifier)  # no second guess at the verifier
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_an_s256_challenge_is_not_met_by_sending_the_challenge_itself(local_catalogue, http):
    _, challenge = _pkce()
    code = _code_for(http, local_catalogue, challenge)
    answer = _redeem(http, local_catalogue, code, challenge)  # a "plain" downgrade
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_plain_challenge_is_met_by_the_verifier_itself(local_catalogue, http):
    verifier = secrets.token_urlsafe(48)
    code = _code_for(
        http, local_catalogue, verifier, code_challenge_method="plain"
    )  # challenge == verifier
    assert _redeem(http, local_catalogue, code, verifier).status_code == 200


def test_missing_code_verifier_is_invalid_grant(local_catalogue, http):
    _, challenge = _pkce()
    code = _code_for(http, local_catalogue, challenge)
    answer = _redeem(http, local_catalogue, code, "")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_code_is_single_use_and_its_replay_revokes_the_tokens_it_gave(local_catalogue, http):
    verifier, challenge = _pkce()
    code = _code_for(http, local_catalogue, challenge)
    first = _redeem(http, local_catalogue, code, verifier)
    assert first.status_code == 200
    replay = _redeem(http, local_catalogue, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # RFC 6749 4.1.2: the tokens of a replayed code are revoked
    assert (
        _protected_download(http, local_catalogue, first.json()["access_token"]).status_code == 401
    )


def test_code_raced_by_concurrent_redemptions_gives_tokens_once(local_catalogue):
    verifier, challenge = _pkce()
    with requests.Session() as http:
        code = _code_for(http, local_catalogue, challenge)

    def redeem(_: int) -> int:
        with requests.Session() as session:
            return _redeem(session, local_catalogue, code, verifier).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(redeem, range(8)))
    assert statuses == [200] + [400] * 7


def test_code_expires(local_catalogue, http, idp):
    verifier, challenge = _pkce()
    idp.code_lifetime = 0
    code = _code_for(http, local_catalogue, challenge)
    answer = _redeem(http, local_catalogue, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert "expired" in answer.json()["error_description"]


def test_token_request_must_name_the_same_redirect_uri(local_catalogue, http):
    verifier, challenge = _pkce()
    code = _code_for(http, local_catalogue, challenge)
    answer = _redeem(
        http, local_catalogue, code, verifier, redirect_uri="http://127.0.0.1:8765/other"
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("missing", ["code", "redirect_uri"])
def test_token_request_without_code_or_redirect_uri_is_invalid_request(
    local_catalogue, http, missing
):
    answer = _redeem(http, local_catalogue, "some-code", "v" * 43, **{missing: ""})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8765/callback",
        "http://localhost:1/cb?keep=1",
        "http://[::1]:65535/",
        "http://127.0.0.1/callback",
    ],
)
def test_loopback_redirect_uris_are_accepted(local_catalogue, http, redirect_uri):
    _, challenge = _pkce()
    page = _authorize(http, local_catalogue, challenge, redirect_uri=redirect_uri)
    assert page.status_code == 200 and 'id="kc-form-login"' in page.text


def test_redirect_keeps_the_query_of_the_redirect_uri(local_catalogue, http):
    _, challenge = _pkce()
    page = _authorize(http, local_catalogue, challenge, redirect_uri="http://localhost:1/cb?k=1")
    location = _submit(http, page, username="demo", password="demo").headers["Location"]
    assert location.startswith("http://localhost:1/cb?k=1&")
    assert set(parse_qs(urlsplit(location).query)) == {"k", "code", "state"}


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "http://evil.example/callback",
        "http://127.0.0.1.evil.example/callback",
        "http://127.0.0.1:80@evil.example/",
        "http://evil.example\\@127.0.0.1/",
        "http://127.0.0.1:8765/callback#fragment",
        "http://127.0.0.1:notaport/",
        "https://127.0.0.1:8765/callback",
        "javascript:alert(1)//127.0.0.1",
        "//127.0.0.1:8765/callback",
        "",
    ],
)
def test_non_loopback_redirect_uri_is_a_400_page_not_a_redirect(
    local_catalogue, http, redirect_uri
):
    _, challenge = _pkce()
    page = _authorize(http, local_catalogue, challenge, redirect_uri=redirect_uri)
    assert page.status_code == 400 and "Location" not in page.headers
    assert "redirect_uri" in page.text


def test_a_redirect_uri_changed_in_the_posted_form_is_refused(local_catalogue, http):
    _, challenge = _pkce()
    page = _authorize(http, local_catalogue, challenge)
    answer = _submit(
        http, page, username="demo", password="demo", redirect_uri="https://evil.example/"
    )
    assert answer.status_code == 400 and "Location" not in answer.headers


def test_unknown_client_is_a_400_page(local_catalogue, http):
    _, challenge = _pkce()
    page = _authorize(http, local_catalogue, challenge, client_id="someone-else")
    assert page.status_code == 400 and "Location" not in page.headers


def test_duplicated_parameter_is_a_400_page(local_catalogue, http):
    url = f"{_oidc(local_catalogue)}/auth?client_id={CLIENT}&redirect_uri={CALLBACK}"
    page = http.get(f"{url}&redirect_uri=http://localhost:1/", allow_redirects=False, timeout=30)
    assert page.status_code == 400 and "Location" not in page.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
    ],
)
def test_bad_authorization_requests_go_back_to_the_client_with_an_error(
    local_catalogue, http, overrides, error
):
    _, challenge = _pkce()
    answer = _authorize(http, local_catalogue, challenge, state="s1", **overrides)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["error"] == [error] and query["state"] == ["s1"] and "code" not in query


# ---- device authorization grant --------------------------------------------------------------


def _start_device(http: requests.Session, local: LocalCatalogue, **form: str) -> dict[str, object]:
    answer = http.post(
        f"{_oidc(local)}/auth/device",
        data={"client_id": CLIENT, "scope": "openid", **form},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _poll(http: requests.Session, local: LocalCatalogue, device_code: object) -> requests.Response:
    form = {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": CLIENT}
    return http.post(f"{_oidc(local)}/token", data=form, timeout=30)


def _decide(
    http: requests.Session, grant: dict[str, object], password: str = "demo", **extra: str
) -> requests.Response:
    page = http.get(str(grant["verification_uri_complete"]), timeout=30)
    assert page.status_code == 200
    return _submit(http, page, username="demo", password=password, **extra)


def test_device_flow_is_pending_until_the_user_approves_then_gives_tokens_once(
    local_catalogue, http, idp
):
    grant = _start_device(http, local_catalogue)
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", str(grant["user_code"]))
    verification = f"{local_catalogue.url}auth/realms/terrascope/device"
    assert grant["verification_uri"] == verification
    assert grant["verification_uri_complete"] == f"{verification}?user_code={grant['user_code']}"
    assert grant["expires_in"] == 600 and grant["interval"] == 0

    pending = _poll(http, local_catalogue, grant["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"

    page = http.get(str(grant["verification_uri_complete"]), timeout=30)
    assert _Form(page.text).fields["user_code"] == grant["user_code"]
    approved = _submit(http, page, username="demo", password="demo")
    assert approved.status_code == 200 and "Device Login Successful" in approved.text

    tokens = _poll(http, local_catalogue, grant["device_code"])
    assert tokens.status_code == 200, tokens.text
    assert (
        _protected_download(http, local_catalogue, tokens.json()["access_token"]).status_code == 200
    )
    assert idp.grants[-1] == DEVICE_GRANT
    again = _poll(http, local_catalogue, grant["device_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_device_user_code_may_be_typed_in_lower_case_without_its_hyphen(local_catalogue, http, idp):
    grant = _start_device(http, local_catalogue)
    page = http.get(str(grant["verification_uri"]), timeout=30)
    typed = str(grant["user_code"]).replace("-", "").lower()
    assert _submit(http, page, user_code=typed, username="demo", password="demo").status_code == 200
    assert _poll(http, local_catalogue, grant["device_code"]).status_code == 200


def test_device_verification_with_a_wrong_password_shows_the_form_again(local_catalogue, http, idp):
    grant = _start_device(http, local_catalogue)
    again = _decide(http, grant, password="wrong")
    assert again.status_code == 200
    form = _Form(again.text)
    assert "Invalid username or password" in form.error
    assert form.fields["user_code"] == grant["user_code"]
    pending = _poll(http, local_catalogue, grant["device_code"])
    assert pending.json()["error"] == "authorization_pending"


def test_device_verification_of_an_unknown_code_is_refused(local_catalogue, http):
    page = http.get(f"{local_catalogue.url}auth/realms/terrascope/device", timeout=30)
    answer = _submit(http, page, user_code="BCDF-GHJK", username="demo", password="demo")
    assert answer.status_code == 400 and "Invalid code" in _Form(answer.text).error


def test_denied_device_gets_access_denied(local_catalogue, http, idp):
    grant = _start_device(http, local_catalogue)
    denied = _decide(http, grant, deny="")
    assert denied.status_code == 200 and "Access denied" in denied.text
    answer = _poll(http, local_catalogue, grant["device_code"])
    assert answer.status_code == 400 and answer.json()["error"] == "access_denied"


def test_expired_device_code_gets_expired_token(local_catalogue, http, idp):
    idp.device_lifetime = 0
    grant = _start_device(http, local_catalogue)
    assert grant["expires_in"] == 0
    answer = _poll(http, local_catalogue, grant["device_code"])
    assert answer.status_code == 400 and answer.json()["error"] == "expired_token"
    assert _decide(http, grant).status_code == 400  # too late to approve it, too


def test_polling_faster_than_the_interval_gets_slow_down(local_catalogue, http, idp):
    idp.device_interval = 60
    grant = _start_device(http, local_catalogue)
    assert grant["interval"] == 60
    first = _poll(http, local_catalogue, grant["device_code"])
    assert first.json()["error"] == "authorization_pending"
    second = _poll(http, local_catalogue, grant["device_code"])
    assert second.status_code == 400 and second.json()["error"] == "slow_down"


def test_device_code_belongs_to_the_client_it_was_issued_to(local_catalogue, http, idp):
    idp.clients["other"] = None
    grant = _start_device(http, local_catalogue, client_id="other")
    answer = _poll(http, local_catalogue, grant["device_code"])  # polled as terracatalogueclient
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_device_authorization_for_an_unknown_client_is_invalid_client(local_catalogue, http):
    answer = http.post(
        f"{_oidc(local_catalogue)}/auth/device", data={"client_id": "nobody"}, timeout=30
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


# ---- refresh, clients, discovery --------------------------------------------------------------


def test_refresh_token_is_invalid_grant_after_revoke_refresh_tokens(http):
    with LocalCatalogue([]) as local:  # its own identity provider: the shared one keeps its tokens
        token_url = f"{_oidc(local)}/token"
        password = {"grant_type": "password", "username": "demo", "password": "demo"}
        first = http.post(token_url, data={**password, "client_id": CLIENT}, timeout=30).json()
        refresh = {"grant_type": "refresh_token", "client_id": CLIENT}
        renewed = http.post(
            token_url, data={**refresh, "refresh_token": first["refresh_token"]}, timeout=30
        )
        assert renewed.status_code == 200
        local.idp.revoke_refresh_tokens()
        answer = http.post(
            token_url,
            data={**refresh, "refresh_token": renewed.json()["refresh_token"]},
            timeout=30,
        )
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_confidential_client_authenticates_with_its_secret_in_the_form_or_basic(http):
    with LocalCatalogue([]) as local:
        local.idp.clients["confidential"] = "s3cret"
        token_url = f"{_oidc(local)}/token"
        grant = {"grant_type": "password", "username": "demo", "password": "demo"}
        in_form = {**grant, "client_id": "confidential", "client_secret": "s3cret"}
        assert http.post(token_url, data=in_form, timeout=30).status_code == 200
        basic = ("confidential", "s3cret")
        assert http.post(token_url, data=grant, auth=basic, timeout=30).status_code == 200
        wrong = http.post(token_url, data=grant, auth=("confidential", "nope"), timeout=30)
        assert wrong.status_code == 401
        device = http.post(f"{_oidc(local)}/auth/device", auth=basic, timeout=30)
        assert device.status_code == 200 and "device_code" in device.json()
        public = http.post(token_url, data={**grant, "client_id": "confidential"}, timeout=30)
        assert public.status_code == 401  # no secret, no tokens


def test_well_known_document_lists_the_endpoints(local_catalogue, http):
    realm = f"{local_catalogue.url}auth/realms/terrascope"
    document = http.get(f"{realm}/.well-known/openid-configuration", timeout=30).json()
    assert document["issuer"] == realm
    assert document["authorization_endpoint"] == f"{_oidc(local_catalogue)}/auth"
    assert document["token_endpoint"] == f"{_oidc(local_catalogue)}/token"
    assert document["device_authorization_endpoint"] == f"{_oidc(local_catalogue)}/auth/device"
    assert set(document["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "password",
        DEVICE_GRANT,
    }
    assert document["code_challenge_methods_supported"] == ["S256", "plain"]
    config = local_catalogue.config().config["Auth"]
    assert config["TokenEndpoint"] == document["token_endpoint"]
    assert config["DeviceAuthorizationEndpoint"] == document["device_authorization_endpoint"]
    # the local catalogue's tokens go to it alone, not to Terrascope's download service
    assert local_catalogue.config().token_hosts == ()


def test_unknown_realm_is_404(local_catalogue, http):
    answer = http.get(
        f"{local_catalogue.url}auth/realms/elsewhere/.well-known/openid-configuration", timeout=30
    )
    assert answer.status_code == 404
