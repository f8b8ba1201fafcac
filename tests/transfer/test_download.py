"""Downloads against the local catalogue over HTTP, its faults included."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import requests

import terracat
from terracat import Catalogue, ProductDownloadException, ProductFileType
from terracat.server import LocalCatalogue, Settings
from terracat.server.content import read
from terracat.transfer import PARTIAL_SUFFIX, FileTask, Transport, human_size

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"


@pytest.fixture(scope="module")
def catalogue(local_catalogue: LocalCatalogue) -> Catalogue:
    return Catalogue(local_catalogue.config())


@pytest.fixture(scope="module")
def ndvi(catalogue: Catalogue) -> pd.DataFrame:
    return catalogue.search(NDVI, tileId="31UFS", start="2021-07-01", end="2021-07-31")


def _served(local: LocalCatalogue, href: str) -> bytes:
    path = "/" + href.split("/", 3)[3]
    return read(path, 0, local.store.files[path].length)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_download_lays_files_out_as_the_reference_with_exact_bytes(local_catalogue, ndvi, tmp_path):
    report = ndvi.terracat.download(tmp_path, progress=False)
    assert list(report.columns) == [
        "product",
        "kind",
        "href",
        "path",
        "bytes",
        "status",
        "error",
        "seconds",
    ]
    assert (report["status"] == "downloaded").all() and len(report) == len(ndvi)
    for row in report.itertuples():
        expected = tmp_path / row.product.rsplit(":", 1)[1] / row.href.rsplit("/", 1)[1]
        assert Path(row.path) == expected
        assert expected.read_bytes() == _served(local_catalogue, row.href)
        assert row.bytes == expected.stat().st_size
    assert not list(tmp_path.rglob(f"*{PARTIAL_SUFFIX}"))


@pytest.mark.parametrize(
    ("file_types", "kinds"),
    [
        ("data", {"data"}),
        (ProductFileType.DATA | ProductFileType.RELATED, {"data", "related"}),
        ("previews,alternates", {"previews", "alternates"}),
        (ProductFileType.ALL, {"data", "related", "previews", "alternates"}),
        ("all", {"data", "related", "previews", "alternates"}),
    ],
)
def test_file_types_select_the_kinds(ndvi, file_types, kinds):
    files = ndvi.terracat.files(file_types)
    assert set(files["kind"]) == kinds
    expected = sum(len(links) for kind in kinds for links in ndvi[kind])
    assert len(files) == expected
    assert ndvi.terracat.total_size(file_types) == int(files["length"].sum())


@pytest.mark.parametrize("file_types", ["bands", ["data", "quicklook"], 3])
def test_unknown_file_types_are_refused(ndvi, tmp_path, file_types):
    with pytest.raises(terracat.ParameterParserException, match="file_types"):
        ndvi.terracat.download(tmp_path, file_types=file_types)


def test_complete_files_are_skipped_unless_overwrite(local_catalogue, ndvi, tmp_path):
    first = ndvi.head(3).terracat.download(tmp_path, progress=False)
    before = len(local_catalogue.app.downloads)
    again = ndvi.head(3).terracat.download(tmp_path, progress=False)
    assert (again["status"] == "skipped").all()
    assert len(local_catalogue.app.downloads) == before
    forced = ndvi.head(3).terracat.download(tmp_path, progress=False, overwrite=True)
    assert (forced["status"] == "downloaded").all()
    assert list(forced["bytes"]) == list(first["bytes"])


def test_a_partial_file_is_resumed_with_a_range_request(local_catalogue, ndvi, tmp_path):
    row = ndvi.terracat.files("data").iloc[0]
    target = tmp_path / row["product"].rsplit(":", 1)[1] / row["href"].rsplit("/", 1)[1]
    target.parent.mkdir(parents=True)
    whole = _served(local_catalogue, row["href"])
    Path(str(target) + PARTIAL_SUFFIX).write_bytes(whole[:1000])
    report = ndvi.head(1).terracat.download(tmp_path, progress=False)
    assert report["status"].tolist() == ["resumed"]
    assert report["bytes"].tolist() == [len(whole) - 1000]
    assert target.read_bytes() == whole
    assert local_catalogue.app.downloads[-1].range == "bytes=1000-"


def test_a_transfer_cut_mid_body_completes_with_exact_bytes(
    local_catalogue, catalogue, faults, tmp_path
):
    frame = catalogue.search(S1, limit=2)
    faults.set(cut_burst=2, cut_fraction=0.4, routes={"download"})
    report = frame.terracat.download(tmp_path, progress=False, workers=1)
    assert faults.injected["cut"] == 2
    assert set(report["status"]) == {"resumed", "downloaded"}
    for row in report.itertuples():
        assert Path(row.path).read_bytes() == _served(local_catalogue, row.href)
    resumed = [d for d in local_catalogue.app.downloads[-len(report) - 2 :] if d.range]
    assert len(resumed) == 2


def test_server_errors_and_throttling_are_retried(local_catalogue, ndvi, faults, tmp_path):
    faults.set(error_burst=2, routes={"download"})
    report = ndvi.head(2).terracat.download(tmp_path, progress=False, workers=1)
    assert (report["status"] == "downloaded").all()
    faults.set(throttle_burst=1, retry_after=0, routes={"download"})
    report = ndvi.head(2).terracat.download(tmp_path / "again", progress=False)
    assert (report["status"] == "downloaded").all()


def test_a_login_redirect_raises_and_saves_nothing(catalogue, tmp_path):
    protected = catalogue.search(TOC, limit=1)
    with pytest.raises(ProductDownloadException, match="needs a signed-in user"):
        protected.terracat.download(tmp_path, progress=False)
    assert _tree(tmp_path) == []


def test_failures_are_reported_when_not_raised(local_catalogue, catalogue, ndvi, tmp_path):
    protected = catalogue.search(TOC, limit=1)
    frame = pd.concat([protected, ndvi.head(2)], ignore_index=True)
    report = frame.terracat.download(tmp_path, progress=False, raise_on_failure=False)
    failed = report[report["product"] == protected["id"].iloc[0]]
    assert len(failed) == len(protected["data"].iloc[0]) and (failed["status"] == "failed").all()
    assert failed["error"].str.contains("signed-in user").all()
    others = report.drop(failed.index)
    assert (others["status"] == "downloaded").all() and others["error"].isna().all()
    assert len(_tree(tmp_path)) == len(others) == 2


def test_a_missing_file_fails_without_a_final_file(catalogue, ndvi, tmp_path):
    frame = ndvi.head(1).copy()
    link = dict(frame["data"].iloc[0][0])
    link["href"] = link["href"].replace(".tif", "-gone.tif")
    frame["data"] = [[link]]
    with pytest.raises(ProductDownloadException, match="HTTP 404"):
        frame.terracat.download(tmp_path, progress=False, catalogue=catalogue)
    assert not any(p.name.endswith("-gone.tif") for p in tmp_path.rglob("*"))


@pytest.mark.parametrize(
    ("product_id", "file_name"),
    [
        ("urn:eop:VITO:..", "ok.tif"),
        ("urn:eop:VITO:a/../../escape", "ok.tif"),
        ("urn:eop:VITO:", "ok.tif"),
        ("urn:eop:VITO:fine", ".."),
        ("urn:eop:VITO:fine", "..%2F..%2Fescape.tif"),
        ("urn:eop:VITO:fine", "evil%00.tif"),
        ("urn:eop:VITO:fine\\..\\x", "ok.tif"),
    ],
)
def test_hostile_ids_and_hrefs_never_write_outside_the_target(
    catalogue, ndvi, tmp_path, product_id, file_name
):
    frame = ndvi.head(1).copy()
    link = dict(frame["data"].iloc[0][0])
    link["href"] = link["href"].rsplit("/", 1)[0] + "/" + file_name
    frame["id"] = [product_id]
    frame["data"] = [[link]]
    target = tmp_path / "target"
    with pytest.raises(ProductDownloadException, match="cannot be used"):
        frame.terracat.download(target, progress=False, catalogue=catalogue)
    assert _tree(tmp_path) == []


def test_a_symlink_out_of_the_target_is_not_followed(catalogue, ndvi, tmp_path):
    outside, target = tmp_path / "outside", tmp_path / "target"
    outside.mkdir()
    target.mkdir()
    product_dir = ndvi["id"].iloc[0].rsplit(":", 1)[1]
    os.symlink(outside, target / product_dir)
    with pytest.raises(ProductDownloadException, match="outside the target directory"):
        ndvi.head(1).terracat.download(target, progress=False)
    assert list(outside.iterdir()) == []


def test_mep_file_hrefs_are_copied_or_linked(local_catalogue, catalogue, tmp_path):
    frame = catalogue.search(NDVI, accessedFrom="MEP", limit=2)
    copied = frame.terracat.download(tmp_path / "copy", progress=False)
    linked = frame.terracat.download(tmp_path / "link", progress=False, link=True)
    for copy, link in zip(copied.itertuples(), linked.itertuples(), strict=True):
        assert Path(link.path).is_symlink() and not Path(copy.path).is_symlink()
        assert Path(copy.path).read_bytes() == Path(link.path).read_bytes()
        assert Path(link.path).resolve() == Path(link.href[len("file://") :]).resolve()


def test_downloads_work_on_a_frame_read_back_from_parquet(local_catalogue, ndvi, tmp_path):
    ndvi.head(2).to_parquet(tmp_path / "two.parquet")
    back = terracat.read_parquet(tmp_path / "two.parquet")
    report = back.terracat.download(tmp_path / "out", "data,previews", progress=False)
    assert (report["status"] == "downloaded").all() and len(report) == 4
    assert report["href"].iloc[0].startswith(local_catalogue.url)


# ---- the reference API ----------------------------------------------------------------------


def test_download_products_asks_for_confirmation_with_the_total_size(
    catalogue, monkeypatch, tmp_path
):
    products = list(catalogue.get_products(NDVI, limit=2))
    size = sum(f.length for p in products for f in p.files())
    prompts: list[str] = []
    answers = iter(["maybe", "n"])

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", answer)
    assert catalogue.download_products(products, tmp_path) is None
    assert len(prompts) == 2 and human_size(size) in prompts[0]
    assert _tree(tmp_path) == []
    report = catalogue.download_products(products, tmp_path, ProductFileType.DATA, force=True)
    assert len(report) == 2 and (report["status"] == "downloaded").all()


def test_download_product_and_download_file(local_catalogue, catalogue, tmp_path):
    product = next(iter(catalogue.get_products(S1, limit=1)))
    report = catalogue.download_product(
        product, tmp_path, ProductFileType.DATA | ProductFileType.PREVIEWS
    )
    assert len(report) == len(product.data) + len(product.previews)
    assert (tmp_path / product.id.rsplit(":", 1)[1]).is_dir()
    catalogue.download_file(product.data[0], tmp_path / "flat")
    flat = tmp_path / "flat" / product.data[0].href.rsplit("/", 1)[1]
    assert flat.read_bytes() == _served(local_catalogue, product.data[0].href)


def test_human_sizes():
    assert [human_size(n) for n in (0, 1023, 1536, 5 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 GiB",
    ]


# ---- credentials and redirects --------------------------------------------------------------


class _Bearer(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = "Bearer not-for-other-hosts"
        return request


def test_credentials_are_not_sent_to_another_host_on_redirect(local_catalogue, tmp_path):
    mirror = LocalCatalogue(host="127.0.0.2").start()  # another host, serving the same files
    front = LocalCatalogue(settings=Settings(download_redirect=mirror.url)).start()
    try:
        path = next(p for p, entry in local_catalogue.store.files.items() if not entry.protected)
        href = f"{front.url}{path[1:]}"
        session = requests.Session()
        session.auth = _Bearer()
        transport = Transport(session, front.config())
        task = FileTask("p", "data", href, None, tmp_path / "file.tif")
        partial = tmp_path / "file.tif.partial"
        transport.fetch(task, partial, lambda n: None)
        transport.close()
        session.close()
        assert front.app.downloads[-1].authorized
        assert mirror.app.downloads[-1].authorized is False
        assert partial.read_bytes() == _served(local_catalogue, href)
    finally:
        front.stop()
        mirror.stop()


def test_a_repeated_row_is_fetched_once(local_catalogue, ndvi, tmp_path):
    twice = pd.concat([ndvi.head(1), ndvi.head(1)], ignore_index=True)
    before = len(local_catalogue.app.downloads)
    report = twice.terracat.download(tmp_path, progress=False)
    assert len(report) == 1 == len(local_catalogue.app.downloads) - before


def test_a_frame_downloads_with_the_catalogue_that_searched_it(local_catalogue, tmp_path):
    signed = Catalogue(local_catalogue.config()).authenticate_non_interactive("demo", "demo")
    frame = signed.search(TOC, limit=1)
    anonymous = Catalogue(local_catalogue.config())
    anonymous.search(TOC, limit=1)  # the same URL, searched last, not signed in
    report = frame.terracat.download(tmp_path, progress=False)
    assert (report["status"] == "downloaded").all()
