"""A token goes only where it belongs, and a sign-in either works or says why: against servers
written to misbehave (``tests/hostile.py``) and the local catalogue's identity provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from terracat import AuthenticationException, Catalogue, SearchException
from terracat.auth import TokenScope
from tests.hostile import HostileServer, send

ELSEWHERE = "127.0.0.2"  # another loopback host: another origin, as a tiler or a bucket would be


def _page(features: list[dict]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "totalResults": len(features),
            "startIndex": 1,
            "itemsPerPage": len(features),
            "properties": {"links": {}},
            "features": features,
        }
    ).encode()


def _product(identifier: str, hrefs: list[str]) -> dict:
    return {
        "type": "Feature",
        "id": identifier,
        "geometry": None,
        "properties": {
            "title": identifier,
            "links": {"data": [{"href": href, "length": 5} for href in hrefs]},
        },
    }


def _authorized(server: HostileServer) -> list[str]:
    return [r.path for r in server.requests if "authorization" in r.headers]


def _signed_in(local_catalogue, catalogue_url: str, *, token_hosts: tuple[str, ...] = ()):
    """A catalogue at ``catalogue_url`` signed in at the local identity provider."""
    config = local_catalogue.config()
    config.catalogue_url = catalogue_url
    config.token_hosts = token_hosts
    return Catalogue(config).authenticate_non_interactive("demo", "demo")


def _refreshes(local_catalogue) -> int:
    return len(local_catalogue.idp.issued_tokens())


def _download_signed_in(local_catalogue, server: HostileServer, target: Path):
    """Search ``server`` signed in and download the result: the report, and the renewals."""
    catalogue = _signed_in(local_catalogue, server.url("/"))
    issued = _refreshes(local_catalogue)
    frame = catalogue.search("any")
    report = frame.terracat.download(target, progress=False, raise_on_failure=False)
    return report, (_refreshes(local_catalogue) - issued) // 2  # an access and a refresh token


@pytest.mark.parametrize("call", ["search", "count", "collections"])
def test_a_search_redirected_elsewhere_and_refused_there_gets_no_token(local_catalogue, call):
    def elsewhere(request, connection):
        send(connection, 401, b'{"error": "who are you"}', {"Content-Type": "application/json"})

    with HostileServer(elsewhere, host=ELSEWHERE) as other:

        def catalogue_side(request, connection):
            send(connection, 302, headers={"Location": other.url(request.target)})

        with HostileServer(catalogue_side) as server:
            catalogue = _signed_in(local_catalogue, server.url("/"))
            issued = _refreshes(local_catalogue)
            run = {
                "search": lambda: catalogue.search("any", limit=3),
                "count": lambda: catalogue.get_product_count("any"),
                "collections": lambda: catalogue.collections(),
            }[call]
            with pytest.raises(SearchException, match="401"):
                run()
    assert other.requests, "the redirect was followed"
    assert _authorized(other) == []
    assert _authorized(server)  # the catalogue itself did get the token
    assert _refreshes(local_catalogue) == issued  # and a 401 elsewhere spent no refresh token


def test_product_files_get_the_token_only_on_the_catalogue_and_its_download_hosts(
    local_catalogue, tmp_path: Path
):
    def files(request, connection):
        send(connection, 200, b"bytes", {"Content-Type": "application/octet-stream"})

    with (
        HostileServer(files, host=ELSEWHERE) as tiler,
        HostileServer(files) as download_service,
    ):

        def catalogue_side(request, connection):
            if request.path == "/products":
                hrefs = [
                    server.url("/files/own.tif"),
                    download_service.url("/download/served.tif"),
                    tiler.url("/cog/elsewhere.tif"),
                ]
                send(connection, 200, _page([_product("p1", hrefs)]))
            else:
                files(request, connection)

        with HostileServer(catalogue_side) as server:
            catalogue = _signed_in(
                local_catalogue, server.url("/"), token_hosts=(download_service.url("/download/"),)
            )
            frame = catalogue.search("any")
            report = frame.terracat.download(tmp_path, progress=False)
    assert (report["status"] == "downloaded").all(), report["error"].tolist()
    assert _authorized(tiler) == []
    assert _authorized(download_service) == ["/download/served.tif"]
    assert "/files/own.tif" in _authorized(server)


def test_a_download_redirected_to_another_host_that_refuses_gets_no_token(
    local_catalogue, tmp_path: Path
):
    def elsewhere(request, connection):
        send(connection, 401, b"no")

    with HostileServer(elsewhere, host=ELSEWHERE) as other:

        def catalogue_side(request, connection):
            if request.path == "/products":
                send(connection, 200, _page([_product("p1", [server.url("/files/a.tif")])]))
            else:
                send(connection, 302, headers={"Location": other.url("/a.tif")})

        with HostileServer(catalogue_side) as server:
            report, renewals = _download_signed_in(local_catalogue, server, tmp_path)
    assert report["status"].tolist() == ["failed"]
    assert "401" in report["error"].iloc[0]
    assert other.requests and _authorized(other) == []
    assert renewals == 0
    assert not list(tmp_path.rglob("a.tif"))


def test_a_file_elsewhere_redirecting_to_a_login_page_spends_no_refresh_token(
    local_catalogue, tmp_path: Path
):
    def elsewhere(request, connection):
        login = "/auth/realms/terrascope/protocol/openid-connect/auth?client_id=x"
        send(connection, 302, headers={"Location": login})

    with HostileServer(elsewhere, host=ELSEWHERE) as other:

        def catalogue_side(request, connection):
            send(connection, 200, _page([_product("p1", [other.url("/cog/a.tif")])]))

        with HostileServer(catalogue_side) as server:
            report, renewals = _download_signed_in(local_catalogue, server, tmp_path)
    assert report["status"].tolist() == ["failed"]
    assert "signed-in user" in report["error"].iloc[0]
    assert len(other.requests) == 1 and _authorized(other) == []
    assert renewals == 0


# ---- the scope itself ------------------------------------------------------------------------

_hosts = st.sampled_from(["services.terrascope.be", "example.org", "127.0.0.1", "evil.test"])
_schemes = st.sampled_from(["http", "https", "HTTPS", "ftp", "file"])
_ports = st.one_of(st.none(), st.sampled_from([80, 443, 8080]))


def _url(scheme: str, host: str, port: int | None, path: str = "/x") -> str:
    return f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"


@given(_schemes, _hosts, _ports, _schemes, _hosts, _ports)
def test_the_scope_covers_exactly_the_same_origin(s1, h1, p1, s2, h2, p2):
    def origin(scheme, host, port):
        scheme = scheme.lower()
        default = {"http": 80, "https": 443}.get(scheme)
        return (scheme, host, port or default) if default else None

    scope = TokenScope([_url(s1, h1, p1, "/catalogue/")])
    expected = origin(s1, h1, p1) is not None and origin(s1, h1, p1) == origin(s2, h2, p2)
    assert scope.covers(_url(s2, h2.upper(), p2, "/download/x")) is expected


@pytest.mark.parametrize(
    "url",
    [
        "https://services.terrascope.be@evil.test/x",  # userinfo, not the host
        "https://services.terrascope.be.evil.test/x",
        "http://services.terrascope.be/x",  # plain http: the token would travel in clear
        "https://services.terrascope.be:8443/x",
        "https://services.terrascope.be:notaport/x",
        "//services.terrascope.be/x",
        "s3://services.terrascope.be/x",
        "",
    ],
)
def test_the_scope_refuses_look_alikes(url):
    assert not TokenScope(["https://services.terrascope.be/catalogue/"]).covers(url)


def test_the_bundled_terrascope_scope_is_its_catalogue_and_download_service():
    scope = TokenScope.of(Catalogue().config)
    assert scope.covers("https://services.terrascope.be/download/Sentinel2/x.tif")
    assert not scope.covers("https://titiler.terrascope.be/cog/tiles?url=x")
    assert not scope.covers("https://sso.terrascope.be/auth/realms/terrascope")


# ---- identity providers that answer nonsense ------------------------------------------------

NONSENSE = {
    "html": (200, b"<html><body>Service temporarily unavailable</body></html>", "text/html"),
    "empty": (200, b"", "application/json"),
    "list": (200, b"[]", "application/json"),
    "no access_token": (200, b'{"token_type": "Bearer", "expires_in": 300}', "application/json"),
    "numeric access_token": (200, b'{"access_token": 5}', "application/json"),
    "text expires_in": (
        200,
        b'{"access_token": "abc", "token_type": "Bearer", "expires_in": "soon"}',
        "application/json",
    ),
    "not bearer": (200, b'{"access_token": "abc", "token_type": "mac"}', "application/json"),
    "error page": (502, b"<html>Bad gateway</html>", "text/html"),
}


def _nonsense_server(kind: str):
    status, body, content_type = NONSENSE[kind]

    def token_endpoint(request, connection):
        send(connection, status, body, {"Content-Type": content_type})

    return HostileServer(token_endpoint)


@pytest.mark.parametrize("kind", sorted(NONSENSE))
def test_a_token_endpoint_answering_nonsense_is_an_authentication_error(local_catalogue, kind):
    with _nonsense_server(kind) as idp:
        config = local_catalogue.config()
        config.oidc_token_endpoint = idp.url("/token")
        config.retries = 0
        with pytest.raises(AuthenticationException, match="identity provider at http://127") as e:
            Catalogue(config).authenticate_non_interactive("demo", "demo")
    assert "demo" not in str(e.value).replace("/demo", "")  # the password is not echoed


@pytest.mark.parametrize("kind", ["html", "list", "no access_token", "text expires_in"])
def test_a_renewal_answered_with_nonsense_is_an_authentication_error(local_catalogue, kind):
    """The first answer is a good token that is already due for renewal; the renewal is not."""
    status, body, content_type = NONSENSE[kind]
    fresh = {
        "access_token": "first-token",
        "refresh_token": "single-use",
        "token_type": "Bearer",
        "expires_in": 5,  # inside the 30 s leeway: renewed before the first request
    }

    def token_endpoint(request, connection):
        if b"grant_type=password" in request.body:
            send(connection, 200, json.dumps(fresh).encode(), {"Content-Type": "application/json"})
        else:
            send(connection, status, body, {"Content-Type": content_type})

    with HostileServer(token_endpoint) as idp:
        config = local_catalogue.config()
        config.oidc_token_endpoint = idp.url("/token")
        config.retries = 0
        catalogue = Catalogue(config).authenticate_non_interactive("demo", "demo")
        with pytest.raises(AuthenticationException, match=r"renewing the sign-in failed.*again"):
            catalogue.search("urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1", limit=1)
        with pytest.raises(AuthenticationException):  # and again: no KeyError the second time
            catalogue.search("urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1", limit=1)
    assert [r.path for r in idp.requests].count("/token") >= 3


def test_a_device_endpoint_answering_html_is_an_authentication_error(local_catalogue):
    def device_endpoint(request, connection):
        send(connection, 200, b"<html>sign in here</html>", {"Content-Type": "text/html"})

    with HostileServer(device_endpoint) as idp:
        config = local_catalogue.config()
        config.oidc_device_authorization_endpoint = idp.url("/device")
        with pytest.raises(AuthenticationException, match="identity provider"):
            Catalogue(config).authenticate_device(notify=lambda uri, code: None, timeout=5)


def test_no_request_signs_a_url_outside_the_scope(local_catalogue):
    """The signer itself: a prepared request to another origin leaves without Authorization."""
    catalogue = Catalogue(local_catalogue.config()).authenticate_non_interactive("demo", "demo")
    auth = catalogue._session.auth
    inside = requests.Request("GET", local_catalogue.url + "products").prepare()
    outside = requests.Request(
        "GET", f"http://{ELSEWHERE}:1/x", headers={"Authorization": "Bearer planted"}
    ).prepare()
    assert auth(inside).headers["Authorization"].startswith("Bearer ")
    assert "Authorization" not in auth(outside).headers
