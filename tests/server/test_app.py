"""The local catalogue's app: its landing page, unknown paths, downloads and faults, over HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from terracat.server import LocalCatalogue
from terracat.server.content import read

TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"


# ---- routing --------------------------------------------------------------------------------


def test_index_lists_the_endpoints(local_catalogue, http):
    body = http.get(local_catalogue.url, timeout=30).json()
    assert body["links"]["collections"] == f"{local_catalogue.url}collections"
    assert TOC in body["collections"]


def test_unknown_path_is_a_404_document(local_catalogue, http):
    response = http.get(f"{local_catalogue.url}nothing-here", timeout=30)
    assert response.status_code == 404
    assert response.json()["exceptions"][0]["exceptionCode"] == "NotFound"


# ---- downloads ------------------------------------------------------------------------------


def _first_file(local: LocalCatalogue, collection: str) -> tuple[str, int]:
    link = local.store.collections[collection].products[0]["properties"]["links"]["data"][0]
    return link["href"], link["length"]


def test_download_serves_the_catalogued_length_of_deterministic_bytes(local_catalogue, http):
    path, length = _first_file(local_catalogue, NDVI)
    head = http.head(f"{local_catalogue.url}{path[1:]}", timeout=30)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == length
    assert head.headers["Accept-Ranges"] == "bytes"
    body = http.get(f"{local_catalogue.url}{path[1:]}", timeout=30)
    assert body.content == read(path, 0, length)


@pytest.mark.parametrize(
    ("header", "span"),
    [("bytes=10-99", (10, 100)), ("bytes=-25", (-25, None)), ("bytes=100-", (100, None))],
)
def test_download_range_requests_get_206_with_exact_bytes(local_catalogue, http, header, span):
    path, length = _first_file(local_catalogue, NDVI)
    start = span[0] % length
    stop = span[1] if span[1] is not None else length
    response = http.get(f"{local_catalogue.url}{path[1:]}", headers={"Range": header}, timeout=30)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{length}"
    assert response.content == read(path, start, stop)


def test_download_unsatisfiable_range_is_416(local_catalogue, http):
    path, length = _first_file(local_catalogue, NDVI)
    response = http.get(
        f"{local_catalogue.url}{path[1:]}", headers={"Range": f"bytes={length}-"}, timeout=30
    )
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{length}"


def test_protected_download_redirects_anonymous_users_to_the_login_page(local_catalogue, http):
    path, _ = _first_file(local_catalogue, TOC)
    response = http.get(f"{local_catalogue.url}{path[1:]}", allow_redirects=False, timeout=30)
    assert response.status_code == 302
    login = urlsplit(response.headers["Location"])
    assert login.path == "/auth/realms/terrascope/protocol/openid-connect/auth"
    assert parse_qs(login.query)["redirect_uri"] == [f"{local_catalogue.url}{path[1:]}"]
    page = http.get(response.headers["Location"], timeout=30)
    assert page.status_code == 200 and 'id="kc-form-login"' in page.text


def test_protected_download_with_a_token_from_the_password_grant(local_catalogue, http):
    path, length = _first_file(local_catalogue, TOC)
    token_url = f"{local_catalogue.url}auth/realms/terrascope/protocol/openid-connect/token"
    grant = {
        "grant_type": "password",
        "username": "demo",
        "password": "demo",
        "client_id": "terracatalogueclient",
    }
    token = http.post(token_url, data=grant, timeout=30).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    response = http.get(f"{local_catalogue.url}{path[1:]}", headers=headers, timeout=30)
    assert response.status_code == 200 and len(response.content) == length
    wrong = http.post(token_url, data={**grant, "password": "nope"}, timeout=30)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_grant"


def test_accessed_from_mep_gives_file_hrefs_to_materialised_files(local_catalogue, http):
    page = http.get(
        f"{local_catalogue.url}products",
        params={"collection": NDVI, "accessedFrom": "MEP", "count": 2},
        timeout=30,
    ).json()
    for feature in page["features"]:
        for link in feature["properties"]["links"]["data"]:
            assert link["href"].startswith("file:///")
            local_path = urlsplit(link["href"]).path
            with open(local_path, "rb") as handle:
                data = handle.read()
            served = (
                "/download/"
                + local_path.split(str(local_catalogue.settings.files_dir.resolve()) + "/", 1)[1]
            )
            assert data == read(served, 0, link["length"])


def test_accessed_from_s3_gives_s3_hrefs(local_catalogue, http):
    page = http.get(
        f"{local_catalogue.url}products",
        params={"collection": S1, "accessedFrom": "S3", "count": 3},
        timeout=30,
    ).json()
    hrefs = [link["href"] for f in page["features"] for link in f["properties"]["links"]["data"]]
    assert hrefs and all(h.startswith("s3://terrascope/") for h in hrefs)


# ---- faults ---------------------------------------------------------------------------------


def test_error_burst_fails_the_next_requests_then_recovers(local_catalogue, http, faults):
    faults.set(error_burst=2, routes={"products"})
    url, params = f"{local_catalogue.url}products", {"collection": S1, "count": 1}
    statuses = [http.get(url, params=params, timeout=30).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_throttling_answers_429_with_retry_after(local_catalogue, http, faults):
    faults.set(throttle_burst=1, retry_after=7)
    response = http.get(f"{local_catalogue.url}collections", timeout=30)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"


def test_cut_transfer_closes_the_connection_mid_body(local_catalogue, http, faults):
    path, length = _first_file(local_catalogue, S1)
    assert length > 10_000
    faults.set(cut_rate=1.0, cut_fraction=0.5)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(f"{local_catalogue.url}{path[1:]}", timeout=30).content  # noqa: B018


def test_latency_and_bandwidth_slow_answers_down(local_catalogue, http, faults):
    path, length = _first_file(local_catalogue, S1)
    faults.set(latency=0.2, bandwidth=length / 0.5, routes={"download"})
    response = http.get(f"{local_catalogue.url}{path[1:]}", timeout=30)
    assert response.content == read(path, 0, length)
    assert response.elapsed.total_seconds() >= 0.2  # time to headers includes the latency


def test_total_jitter_makes_totals_disagree_between_pages(local_catalogue, http, faults):
    faults.set(total_jitter=5, seed=3)
    totals = {
        http.get(
            f"{local_catalogue.url}products", params={"collection": S1, "count": 1}, timeout=30
        ).json()["totalResults"]
        for _ in range(10)
    }
    assert len(totals) > 1


def test_protected_download_with_a_stale_token_is_401(local_catalogue, http):
    path, _ = _first_file(local_catalogue, TOC)
    response = http.get(
        f"{local_catalogue.url}{path[1:]}",
        headers={"Authorization": "Bearer not-a-token"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
