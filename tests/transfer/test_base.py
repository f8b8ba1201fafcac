"""The one fetcher interface: a fetcher per URL scheme, picked by the href, one result type."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from terracat import CatalogueConfig, ProductDownloadException
from terracat.transfer import Fetched, Fetcher, FileTask, Transport, download
from terracat.transfer.http import HttpFetcher
from terracat.transfer.local import LocalFetcher
from terracat.transfer.s3 import S3Fetcher


@pytest.fixture
def transport() -> Transport:
    return Transport(requests.Session(), CatalogueConfig.from_url("http://127.0.0.1:9/"))


@pytest.mark.parametrize(
    ("href", "kind"),
    [
        ("http://example.org/a.tif", HttpFetcher),
        ("HTTPS://example.org/a.tif", HttpFetcher),
        ("s3://EODATA/a.tif", S3Fetcher),
        ("file:///data/a.tif", LocalFetcher),
    ],
)
def test_the_fetcher_is_picked_by_the_hrefs_scheme(transport, href, kind):
    fetcher = transport.fetcher(href)
    assert isinstance(fetcher, kind) and isinstance(fetcher, Fetcher)


def test_only_the_http_fetcher_resumes_a_partial_file(transport):
    resuming = {scheme for scheme, fetcher in transport.fetchers.items() if fetcher.resumes}
    assert resuming == {"http", "https"}


@pytest.mark.parametrize(
    "href", ["ftp://example.org/a.tif", "/data/a.tif", "gs://b/a.tif?k=secret"]
)
def test_an_href_of_no_known_scheme_fails_its_row_naming_the_schemes(transport, href, tmp_path):
    with pytest.raises(ProductDownloadException, match=r"\(http, https, s3 or file\)") as raised:
        transport.fetcher(href)
    assert "secret" not in str(raised.value)
    task = FileTask("p", "data", href, 3, tmp_path / "a.tif")
    report = download(
        [task], transport, workers=1, progress=False, overwrite=False, raise_on_failure=False
    )
    assert report["status"].tolist() == ["failed"]
    assert "not a downloadable href" in report["error"].iloc[0]
    assert list(tmp_path.iterdir()) == []


def test_a_copy_and_a_link_say_what_they_did_in_one_result_type(tmp_path):
    source = tmp_path / "source.tif"
    source.write_bytes(b"abc")
    config = CatalogueConfig.from_url("http://127.0.0.1:9/")
    for link, target in ((False, tmp_path / "copy.tif"), (True, tmp_path / "link.tif")):
        transport = Transport(requests.Session(), config, link=link)
        task = FileTask("p", "data", source.as_uri(), 3, target)
        fetched = transport.fetch(task, Path(f"{target}.partial"), lambda n: None)
        assert fetched == (Fetched(0, linked=True) if link else Fetched(3))
        assert transport.fetcher(task.href).link_source(task) == (source if link else None)
