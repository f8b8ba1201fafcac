"""Signing in, end to end against the local catalogue's identity provider over HTTP."""

from __future__ import annotations

import logging
import re
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

import terracat
from terracat import (
    AuthenticationException,
    Catalogue,
    CatalogueConfig,
    CatalogueEnvironment,
    ProductDownloadException,
)
from terracat.exceptions import ConfigurationException
from terracat.server import LocalCatalogue
from tests.hostile import HostileServer, send

TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"


@pytest.fixture
def short_lived(tmp_path: Path):
    """A catalogue whose access tokens live 31 s: renewed after 1 s, given the 30 s leeway."""
    with LocalCatalogue(access_lifetime=31) as local:
        yield local


def _config(local: LocalCatalogue, tmp_path: Path) -> CatalogueConfig:
    config = local.config()
    config.token_cache_path = tmp_path / "cache" / "tokens.json"
    return config


def test_password_sign_in_opens_protected_downloads(local_catalogue, tmp_path):
    catalogue = Catalogue(_config(local_catalogue, tmp_path))
    assert catalogue.authenticate_non_interactive("demo", "demo") is catalogue
    frame = catalogue.search(TOC, limit=1)
    report = frame.terracat.download(tmp_path / "out", progress=False)
    assert (report["status"] == "downloaded").all()
    assert local_catalogue.app.downloads[-1].authorized


def test_a_wrong_password_says_so_without_echoing_it(local_catalogue, tmp_path):
    catalogue = Catalogue(_config(local_catalogue, tmp_path))
    with pytest.raises(AuthenticationException, match="invalid_grant") as caught:
        catalogue.authenticate_non_interactive("demo", "hunter2-wrong")
    assert "hunter2-wrong" not in str(caught.value)


def test_unsupported_flows_raise_as_the_reference_does():
    cgls = Catalogue(CatalogueConfig.from_environment(CatalogueEnvironment.CGLS))
    with pytest.raises(
        ProductDownloadException, match="Non interactive authentication is not supported"
    ):
        cgls.authenticate_non_interactive("a", "b")
    with pytest.raises(
        ProductDownloadException, match="Interactive authentication is not supported"
    ):
        cgls.authenticate()
    with pytest.raises(ProductDownloadException, match="Device authentication is not supported"):
        cgls.authenticate_device()


def test_an_unreachable_identity_provider_is_named(tmp_path):
    config = CatalogueConfig.from_url("http://127.0.0.1:9/").with_sign_in(
        token_endpoint="http://127.0.0.1:9/auth/token",
        interactive=False,
        non_interactive=True,
        source="this test",
    )
    config.retries = 0
    with pytest.raises(AuthenticationException, match="could not be reached"):
        Catalogue(config).authenticate_non_interactive("demo", "demo")


def test_tokens_are_renewed_during_a_long_download(short_lived, tmp_path):
    catalogue = Catalogue(_config(short_lived, tmp_path))
    catalogue.authenticate_non_interactive("demo", "demo")
    frame = catalogue.search(TOC, limit=3)
    files = sum(len(links) for links in frame["data"])
    short_lived.faults.set(latency=0.3, routes={"download"})
    report = frame.terracat.download(tmp_path / "out", progress=False, workers=4)
    assert (report["status"] == "downloaded").all() and len(report) == files
    assert short_lived.idp.grants.count("refresh_token") >= 1  # renewed as it went


def test_a_token_refused_early_is_renewed_once_and_the_download_goes_on(local_catalogue, tmp_path):
    catalogue = Catalogue(_config(local_catalogue, tmp_path))
    catalogue.authenticate_non_interactive("demo", "demo")
    frame = catalogue.search(TOC, limit=1)
    local_catalogue.idp.expire_all()  # the server forgets the token before its announced expiry
    report = frame.terracat.download(tmp_path / "out", progress=False, workers=1)
    assert (report["status"] == "downloaded").all()


def test_an_expired_sign_in_asks_to_sign_in_again(tmp_path):
    with LocalCatalogue(access_lifetime=31, refresh_lifetime=1) as local:
        catalogue = Catalogue(_config(local, tmp_path))
        catalogue.authenticate_non_interactive("demo", "demo")
        frame = catalogue.search(TOC, limit=1)
        local.idp.revoke_refresh_tokens()
        local.idp.expire_all()
        report = frame.terracat.download(tmp_path / "out", progress=False, raise_on_failure=False)
        assert (report["status"] == "failed").all()
        assert report["error"].str.contains("sign in again").all()


def test_the_token_cache_is_owner_only_and_reused_by_a_new_session(local_catalogue, tmp_path):
    config = _config(local_catalogue, tmp_path)
    Catalogue(config).authenticate_non_interactive("demo", "demo", cache=True)
    cache = config.token_cache_path
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert "demo" not in cache.read_text().replace(local_catalogue.url, "")  # no password kept
    grants_before = list(local_catalogue.idp.grants)
    fresh = terracat.login(catalogue=Catalogue(config), cache=True)  # no browser, no password
    assert local_catalogue.idp.grants[len(grants_before) :] == ["refresh_token"]
    report = fresh.search(TOC, limit=1).terracat.download(tmp_path / "out", progress=False)
    assert (report["status"] == "downloaded").all()
    fresh.logout()
    assert "refresh_token" not in cache.read_text()


def test_login_needs_both_username_and_password(local_catalogue, tmp_path):
    with pytest.raises(AuthenticationException, match="both a username and a password"):
        terracat.login("demo", catalogue=Catalogue(_config(local_catalogue, tmp_path)))


def test_no_secret_reaches_a_log_line_an_exception_or_a_repr(local_catalogue, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    config = _config(local_catalogue, tmp_path)
    catalogue = Catalogue(config).authenticate_non_interactive("demo", "demo", cache=True)
    frame = catalogue.search(TOC, limit=1)
    local_catalogue.idp.expire_all()
    frame.terracat.download(tmp_path / "out", progress=False)
    with pytest.raises(AuthenticationException) as refused:
        Catalogue(config).authenticate_non_interactive("demo", "s3cret-wrong")
    tokens = re.findall(
        r'"(?:access|refresh)_token": "([^"]+)"', config.token_cache_path.read_text()
    )
    secrets = [*tokens, "s3cret-wrong", *local_catalogue.idp.issued_tokens()]
    texts = [record.getMessage() for record in caplog.records]
    texts += [str(refused.value), repr(catalogue), repr(catalogue._auth), repr(config)]
    assert len(tokens) == 2 and len(secrets) > 3
    assert not [s for s in secrets for text in texts if s in text]


# ---- the browser and device flows ----------------------------------------------------------


class _Form(HTMLParser):
    """The login form's action and fields, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action") or ""
        if tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value") or ""


def _browser(username: str, password: str):
    """A browser that signs in: opens the page, fills the form, follows the redirect home."""

    def open_page(url: str) -> None:
        with requests.Session() as browser:
            page = browser.get(url, timeout=30)
            form = _Form()
            form.feed(page.text)
            answer = browser.post(
                requests.compat.urljoin(page.url, form.action),
                data={**form.fields, "username": username, "password": password},
                allow_redirects=False,
                timeout=30,
            )
            assert answer.status_code == 302, answer.text
            landed = browser.get(answer.headers["Location"], timeout=30)
            assert landed.status_code == 200 and "Signed in" in landed.text

    return open_page


def _confirm_device(uri: str, code: str) -> None:
    """What the person does on another device: open the page, sign in as demo, approve."""
    page = requests.get(uri, timeout=30)
    form = _Form()
    form.feed(page.text)
    answer = requests.post(
        requests.compat.urljoin(page.url, form.action),
        data={**form.fields, "user_code": code, "username": "demo", "password": "demo"},
        timeout=30,
    )
    assert answer.status_code == 200


def test_the_browser_flow_signs_in_with_pkce(local_catalogue, tmp_path, capsys):
    catalogue = Catalogue(_config(local_catalogue, tmp_path))
    catalogue.authenticate(browser=_browser("demo", "demo"), timeout=30)
    told = capsys.readouterr().err  # the URL first, then what is waited for and how long
    assert f"To sign in, open {local_catalogue.url}auth/realms/" in told
    assert "Waiting up to 30 s for the sign-in in the browser" in told
    assert local_catalogue.idp.grants[-1] == "authorization_code"
    report = catalogue.search(TOC, limit=1).terracat.download(tmp_path / "out", progress=False)
    assert (report["status"] == "downloaded").all()


def test_the_browser_flow_times_out_when_nobody_signs_in(local_catalogue, tmp_path):
    catalogue = Catalogue(_config(local_catalogue, tmp_path))
    with pytest.raises(AuthenticationException, match="no sign-in arrived"):
        catalogue.authenticate(browser=lambda url: None, timeout=0.5)


def test_the_device_flow_signs_in_once_the_code_is_confirmed(quick_device, tmp_path):
    local = quick_device
    shown: list[tuple[str, str]] = []

    def confirm(uri: str, code: str) -> None:
        shown.append((uri, code))
        _confirm_device(uri, code)

    catalogue = Catalogue(_config(local, tmp_path)).authenticate_device(notify=confirm, timeout=30)
    assert len(shown) == 1 and "device" in shown[0][0]
    assert local.idp.grants[-1] == "urn:ietf:params:oauth:grant-type:device_code"
    report = catalogue.search(TOC, limit=1).terracat.download(tmp_path / "out", progress=False)
    assert (report["status"] == "downloaded").all()


def test_a_browser_that_cannot_open_falls_back_to_the_device_code(quick_device, tmp_path, capsys):
    local = quick_device
    shown: list[tuple[str, str]] = []

    def confirm(uri: str, code: str) -> None:
        shown.append((uri, code))
        _confirm_device(uri, code)

    catalogue = Catalogue(_config(local, tmp_path))
    sign_in = catalogue.config, catalogue._session
    auth = terracat.auth.sign_in(
        *sign_in, "interactive", browser=lambda url: False, notify=confirm, timeout=30
    )
    assert len(shown) == 1 and local.idp.grants[-1].endswith("device_code")
    assert "no browser could be opened: signing in with a code" in capsys.readouterr().err
    report = (
        catalogue.sign_in_with(auth)
        .search(TOC, limit=1)
        .terracat.download(tmp_path / "out", progress=False)
    )
    assert (report["status"] == "downloaded").all()


def test_without_a_device_sign_in_a_browser_that_cannot_open_is_said_and_waited_for(
    local_catalogue, tmp_path, capsys
):
    config = _config(local_catalogue, tmp_path)
    config.oidc_device_authorization_endpoint = ""
    with pytest.raises(AuthenticationException, match="no sign-in arrived within 0 s"):
        Catalogue(config).authenticate(browser=lambda url: False, timeout=0.2)
    told = capsys.readouterr().err
    assert "no browser could be opened: open the URL above on this machine" in told


# ---- a catalogue other than an environment's own signs in where it says ---------------------


@pytest.fixture
def no_way_out(monkeypatch):
    """Every request to a host off this machine (Terrascope's identity service, say) goes to a
    proxy that records it and refuses it: a test then sees that none was made."""

    def refuse(request, connection) -> None:
        send(connection, 403, b"not through here")

    with HostileServer(refuse) as proxy:
        for variable in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.setenv(variable, proxy.url("/"))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
        yield proxy


def _says_nothing(request, connection) -> None:
    """A catalogue whose landing page says nothing of signing in (an OpenSearch one, then)."""
    if request.path == "/":
        send(connection, 200, b'{"title": "elsewhere"}', {"Content-Type": "application/json"})
    else:
        send(connection, 404, b"{}", {"Content-Type": "application/json"})


def test_a_catalogue_elsewhere_never_gets_terrascope_s_sign_in(no_way_out, tmp_path):
    with HostileServer(_says_nothing) as elsewhere:
        catalogue = Catalogue.from_url(elsewhere.url("/"))
        assert catalogue.config.token_hosts == ()
        for attempt in (
            lambda: catalogue.authenticate_non_interactive("alice", "pa55word"),
            lambda: catalogue.authenticate_device(timeout=1),
            lambda: catalogue.authenticate(browser=lambda url: True, timeout=1),
        ):
            with pytest.raises(ConfigurationException) as refused:
                attempt()
            message = str(refused.value)
            assert elsewhere.url("/") in message and "does not say where to sign in" in message
            assert "[Auth] TokenEndpoint" in message and "--config FILE" in message
            assert "TERRASCOPE's sign-in is for its own catalogue only" in message
        sent = list(elsewhere.requests)
    assert not no_way_out.requests, [r.target for r in no_way_out.requests]
    assert sent and not [r for r in sent if "authorization" in r.headers or b"pa55" in r.body]


@pytest.mark.parametrize("face", ["", "stac/"])
def test_the_local_catalogue_by_url_signs_in_at_its_own_identity_provider(
    no_way_out, local_catalogue, tmp_path, face
):
    catalogue = Catalogue.from_url(local_catalogue.url + face)
    catalogue.config.token_cache_path = tmp_path / "tokens.json"
    catalogue.authenticate_non_interactive("demo", "demo", cache=True)
    realm = f"{local_catalogue.url}auth/realms/terrascope/"
    assert catalogue.config.oidc_token_endpoint.startswith(realm)
    assert catalogue.config.oidc_device_authorization_endpoint.startswith(realm)
    assert catalogue.config.token_hosts == ()
    collection = "terrascope-s2-toc-v2" if face else TOC
    frame = catalogue.search(collection, limit=1)
    report = frame.terracat.download(tmp_path / "out", progress=False)
    assert (report["status"] == "downloaded").all()
    assert not no_way_out.requests, [r.target for r in no_way_out.requests]
    assert list(terracat.auth.TokenCache(tmp_path / "tokens.json")._read()) == [
        f"{realm}protocol/openid-connect/token|terracatalogueclient"
    ]


def _announcing(document: dict) -> object:
    """A catalogue whose landing page's auth:schemes point at ``document`` on its own host."""
    import json

    def handler(request, connection) -> None:
        base = f"http://{request.headers['host']}"
        if request.path == "/":
            scheme = {"type": "openIdConnect", "openIdConnectUrl": f"{base}/idp{DISCOVERY}"}
            body = {"title": "announcing", "auth:schemes": {"oidc": scheme}}
        elif request.path == f"/idp{DISCOVERY}":
            body = {key: value.replace("BASE", base) for key, value in document.items()}
        else:
            body = {}
        send(connection, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    return handler


DISCOVERY = "/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (
            {"issuer": "https://sso.terrascope.be/auth/realms/terrascope", "token_endpoint": "x"},
            "not that issuer's discovery document",
        ),
        ({"issuer": "BASE/idp"}, "names no token_endpoint"),
        ({"issuer": "BASE/idp", "token_endpoint": "file:///etc/passwd"}, "not an http(s) URL"),
    ],
)
def test_an_announced_identity_provider_that_cannot_be_used_is_named(no_way_out, document, problem):
    with HostileServer(_announcing(document)) as announcing:
        catalogue = Catalogue.from_url(announcing.url("/"))
        with pytest.raises(AuthenticationException) as refused:
            catalogue.authenticate_non_interactive("alice", "pa55word")
        assert announcing.url(f"/idp{DISCOVERY}") in str(refused.value)
        assert problem in str(refused.value)
        assert not [r for r in announcing.requests if b"pa55" in r.body]
    assert not no_way_out.requests
