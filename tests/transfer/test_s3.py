"""The s3:// transport, against a real S3-protocol server (moto's) on a loopback port.

The objects in the store are files of the local catalogue, with the bytes it would serve over
HTTP (``terracat.server.content``), under the keys its ``accessedFrom=S3`` hrefs name.
"""

from __future__ import annotations

import copy
import logging
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

import terracat
from terracat.config import CatalogueConfig
from terracat.exceptions import ProductDownloadException
from terracat.server import LocalCatalogue, content
from terracat.transfer import s3 as _s3

S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
DOWNLOAD = "/download/"
SECRET = "terracat-test-secret-must-not-leak"
BIG_PATH = "/download/test/big.bin"
BIG_LENGTH = 9 * 1024 * 1024 + 12_345  # above boto3's 8 MiB threshold: ranged parts in threads


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on an ephemeral loopback port, stopped (and its socket closed) after."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        _s3.close_clients()
        server.stop()
        # stop() shuts the serve loop down but leaves the listening socket open.
        listening = getattr(server, "_server", None)
        if listening is not None:
            listening.server_close()


@pytest.fixture(scope="module")
def s3_config(local_catalogue: LocalCatalogue, s3_endpoint: str) -> CatalogueConfig:
    """The local catalogue's configuration with the S3 server and fake keys (never os.environ)."""
    config = local_catalogue.config()
    config.s3_endpoint_url = s3_endpoint
    config.s3_access_key = "terracat-test-access-key"
    config.s3_secret_key = SECRET
    return config


def _put(config: CatalogueConfig, bucket: str, key: str, data: bytes) -> None:
    # the transport's own client: it reaches buckets whose names botocore would refuse
    _s3._client(config).put_object(Bucket=bucket, Key=key, Body=data)


def _bytes_of(local: LocalCatalogue, path: str) -> bytes:
    return content.read(path, 0, local.store.files[path].length)


@pytest.fixture(scope="module")
def s3_files(local_catalogue: LocalCatalogue, s3_config: CatalogueConfig) -> dict[str, bytes]:
    """The data files of the first three S1 products in the bucket: ``s3://`` href -> bytes."""
    bucket = local_catalogue.settings.s3_bucket
    _s3._client(s3_config).create_bucket(Bucket=bucket)
    files = {}
    for product in local_catalogue.store.collections[S1].products[:3]:
        for link in product["properties"]["links"]["data"]:
            path = link["href"]
            key = path.removeprefix(DOWNLOAD)
            data = _bytes_of(local_catalogue, path)
            _put(s3_config, bucket, key, data)
            files[f"s3://{bucket}/{key}"] = data
    return files


def test_a_file_downloads_byte_exact_and_its_size_is_returned(s3_files, s3_config, tmp_path):
    href, data = next(iter(s3_files.items()))
    partial = tmp_path / "nested" / "file.tif.part"

    written = _s3.s3_download(href, partial, s3_config)

    assert written == len(data)
    assert partial.read_bytes() == data


def test_an_existing_partial_file_is_overwritten(s3_files, s3_config, tmp_path):
    href, data = next(iter(s3_files.items()))
    partial = tmp_path / "file.tif.part"
    partial.write_bytes(b"x" * (len(data) + 1000))

    assert _s3.s3_download(href, partial, s3_config) == len(data)
    assert partial.read_bytes() == data


def test_progress_callbacks_sum_to_the_file_length(s3_files, s3_config, tmp_path):
    href, data = next(iter(s3_files.items()))
    received: list[int] = []
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            received.append(n)

    _s3.s3_download(href, tmp_path / "f.part", s3_config, on_bytes=on_bytes)

    assert received
    assert sum(received) == len(data)


def test_a_large_file_downloads_in_ranged_parts_byte_exact(s3_files, s3_config, tmp_path):
    data = content.read(BIG_PATH, 0, BIG_LENGTH)
    _put(s3_config, "terrascope", BIG_PATH.removeprefix(DOWNLOAD), data)
    received: list[int] = []
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            received.append(n)

    partial = tmp_path / "big.part"
    href = f"s3://terrascope/{BIG_PATH.removeprefix(DOWNLOAD)}"
    assert _s3.s3_download(href, partial, s3_config, on_bytes=on_bytes) == BIG_LENGTH
    assert partial.read_bytes() == data
    assert sum(received) == BIG_LENGTH


def test_an_unknown_key_names_the_href_and_the_status_but_not_the_secret(
    s3_files, s3_config, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    href = "s3://terrascope/CGS_S1/no/such/file.tif"

    with pytest.raises(ProductDownloadException) as raised:
        _s3.s3_download(href, tmp_path / "f.part", s3_config)

    message = str(raised.value)
    assert href in message
    assert "404" in message
    assert SECRET not in message
    assert SECRET not in caplog.text


def test_an_unknown_bucket_names_the_href(s3_files, s3_config, tmp_path):
    href = "s3://no-such-bucket/a/b.tif"
    with pytest.raises(ProductDownloadException) as raised:
        _s3.s3_download(href, tmp_path / "f.part", s3_config)
    assert href in str(raised.value)
    assert "404" in str(raised.value)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("attribute", "named"),
    [
        ("s3_endpoint_url", "[S3] EndpointUrl"),
        ("s3_access_key", "[S3] AccessKey"),
        ("s3_secret_key", "[S3] SecretKey"),
    ],
)
def test_missing_s3_configuration_names_the_keys_to_set(s3_config, tmp_path, attribute, named):
    config = copy.copy(s3_config)
    setattr(config, attribute, "")

    with pytest.raises(ProductDownloadException) as raised:
        _s3.s3_download("s3://terrascope/a.tif", tmp_path / "f.part", config)

    message = str(raised.value)
    assert f"has no {named}" in message
    assert "EndpointUrl" in message
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_SECRET_ACCESS_KEY" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "href",
    [
        "s3://terrascope",
        "s3://terrascope/",
        "s3:///CGS_S1/a.tif",
        "https://example.com/terrascope/a.tif",
        "terrascope/a.tif",
        "",
    ],
)
def test_a_malformed_href_is_refused(s3_config, tmp_path, href):
    with pytest.raises(ProductDownloadException, match="s3://<bucket>/<key>"):
        _s3.s3_download(href, tmp_path / "f.part", s3_config)
    assert not (tmp_path / "f.part").exists()


@pytest.mark.parametrize("bucket", ["EODATA", "eodata:shared"])
def test_a_bucket_name_that_is_not_dns_valid_is_reached(s3_config, tmp_path, bucket):
    # CreoDIAS's EODATA; "project:bucket" is how CreoDIAS shares buckets, and botocore's own
    # bucket-name check (which the transport switches off) would refuse the colon.
    _s3._client(s3_config).create_bucket(Bucket=bucket)
    data = content.read("/download/EODATA/a.jp2", 0, 4321)
    _put(s3_config, bucket, "Sentinel-2/a.jp2", data)

    partial = tmp_path / "a.jp2.part"
    assert _s3.s3_download(f"s3://{bucket}/Sentinel-2/a.jp2", partial, s3_config) == len(data)
    assert partial.read_bytes() == data


def test_one_client_is_built_per_endpoint_and_keys_even_under_contention(s3_endpoint, s3_config):
    _s3.close_clients()
    barrier = threading.Barrier(8)

    def build() -> object:
        barrier.wait()
        return _s3._client(s3_config)

    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: build(), range(8)))

    assert len({id(c) for c in clients}) == 1
    other = copy.copy(s3_config)
    other.s3_access_key = "another-access-key"
    assert _s3._client(other) is not clients[0]


def test_concurrent_downloads_from_eight_threads_are_byte_exact(s3_files, s3_config, tmp_path):
    jobs = [(href, tmp_path / f"{i}.part") for i, href in enumerate(s3_files)] * 2
    jobs = [(href, path.with_name(f"{n}-{path.name}")) for n, (href, path) in enumerate(jobs)]

    with ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(lambda job: _s3.s3_download(job[0], job[1], s3_config), jobs))

    for (href, path), size in zip(jobs, sizes, strict=True):
        assert size == len(s3_files[href])
        assert path.read_bytes() == s3_files[href]


def test_missing_boto3_says_which_extra_to_install(s3_config, tmp_path, monkeypatch):
    for module in ("boto3.s3.transfer", "botocore.exceptions", "s3transfer.exceptions"):
        monkeypatch.setitem(sys.modules, module, None)  # an import of it now fails
    with pytest.raises(ProductDownloadException, match=r"pip install 'terracat\[s3\]'"):
        _s3.s3_download("s3://terrascope/a.tif", tmp_path / "f.part", s3_config)


def test_a_frame_searched_with_accessed_from_s3_downloads_through_the_accessor(
    local_catalogue, s3_files, s3_config, tmp_path
):
    catalogue = terracat.Catalogue(s3_config)
    frame = catalogue.search(S1, accessedFrom="S3", limit=3)
    expected = {}
    for row in frame.itertuples():
        for link in row.data:
            href = link["href"]
            assert href.startswith(f"s3://{local_catalogue.settings.s3_bucket}/")
            key = href.split("/", 3)[3]
            if href not in s3_files:  # the search need not return the first three in the store
                _put(
                    s3_config,
                    local_catalogue.settings.s3_bucket,
                    key,
                    _bytes_of(local_catalogue, DOWNLOAD + key),
                )
            target = tmp_path / row.id.rsplit(":", 1)[-1] / key.rsplit("/", 1)[-1]
            expected[href] = (target, _bytes_of(local_catalogue, DOWNLOAD + key))

    report = frame.terracat.download(
        tmp_path, file_types="data", progress=False, catalogue=catalogue
    )

    assert {"product", "kind", "href", "path", "bytes", "status"} <= set(report.columns)
    assert len(report) == len(expected) == 9
    assert set(report["status"]) == {"downloaded"}
    assert set(report["kind"]) == {"data"}
    for row in report.itertuples():
        target, data = expected[row.href]
        assert Path(row.path) == target
        assert row.bytes == len(data)
        assert target.read_bytes() == data
