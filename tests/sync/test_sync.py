"""Sync runs against a local catalogue of their own: first runs, unchanged catalogues, bad input."""

from __future__ import annotations

import fcntl
import json

import pandas as pd
import pytest

import terracat
from terracat import ParameterParserException, ProductDownloadException, SyncIncomplete
from terracat.mirroring import MANIFEST_NAME
from terracat.mirroring.manifest import read_manifest, write_manifest
from terracat.mirroring.run import LOCK_NAME

from .conftest import NDVI, PRODUCTS, catalogue_of, downloads, searches, served, tree

PROTOCOLS = ["opensearch", "stac"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_first_run_fetches_every_product_and_records_a_usable_frame(small, tmp_path, protocol):
    catalogue = catalogue_of(small, protocol)
    report = terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False)

    assert report.complete and report.since is None
    assert list(report.products["action"].unique()) == ["new"]
    assert len(report.products) == PRODUCTS
    files = report.downloads
    assert set(files["status"]) == {"downloaded"} and len(files) == PRODUCTS  # one data file each
    for row in files.itertuples():
        with open(row.path, "rb") as written:
            assert written.read() == served(small, row.href)

    manifest = terracat.read_parquet(tmp_path / MANIFEST_NAME)
    assert sorted(manifest["id"]) == sorted(report.products["id"])
    assert set(manifest["syncStatus"]) == {"complete"}
    # the manifest is a product frame: its views and its downloads work
    product = next(manifest.terracat.products())
    assert product.data and product.id == manifest["id"].iloc[0]
    again = manifest.head(2).terracat.download(
        tmp_path / "copy", catalogue=catalogue, progress=False
    )
    assert len(again) == 2 and set(again["status"]) == {"downloaded"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unchanged_catalogue_costs_one_search_and_one_count_and_no_download(
    small, tmp_path, protocol
):
    catalogue = catalogue_of(small, protocol)
    terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False)
    before_tree = tree(tmp_path)
    since = len(small.app.requests)

    report = terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False)

    assert report.complete and report.since is not None
    asked = searches(small, since)
    assert len(asked) == 2, asked  # the window of modifications, and the count
    if protocol == "opensearch":
        assert "modificationDate=" in asked[0] and "count=0" in asked[1]
    assert downloads(small, since) == []
    assert len(report.downloads) == 0
    assert tree(tmp_path) == before_tree


def test_a_mirror_takes_its_search_however_spelled_and_refuses_another(small, tmp_path):
    catalogue = catalogue_of(small, "opensearch")
    box = [3.0, 50, 7, 52]
    terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False, tileId="31UFS", bbox=box)
    again = terracat.sync(
        NDVI,
        tmp_path,
        catalogue=catalogue,
        progress=False,
        tileId="31UFS",
        bbox="3.0,50.0,7.0,52.0",
    )
    assert again.complete and len(again.downloads) == 0
    with pytest.raises(ParameterParserException, match=r"filters .*tileId.*another directory"):
        terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False, tileId="31UES", bbox=box)
    with pytest.raises(ParameterParserException, match="file_types"):
        terracat.sync(
            NDVI,
            tmp_path,
            catalogue=catalogue,
            progress=False,
            tileId="31UFS",
            bbox=box,
            file_types="all",
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 3}, "limit"),
        ({"modificationDate": ("2020-01-01", None)}, "modificationDate"),
        ({"replaced": "archive"}, "replaced"),
        ({"overlap": "-1h"}, "overlap"),
        ({"overlap": "soon"}, "overlap"),
        ({"file_types": "pictures"}, "file_types"),
    ],
)
def test_bad_options_are_refused_before_any_request(small, tmp_path, options, message):
    catalogue = catalogue_of(small, "opensearch")
    since = len(small.app.requests)
    with pytest.raises(ParameterParserException, match=message):
        terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False, **options)
    assert small.app.requests[since:] == []


def test_a_file_that_is_not_a_manifest_is_named(small, tmp_path):
    (tmp_path / MANIFEST_NAME).write_bytes(b"not parquet")
    with pytest.raises(ParameterParserException, match=MANIFEST_NAME):
        terracat.sync(NDVI, tmp_path, catalogue=catalogue_of(small, "opensearch"), progress=False)


def test_failed_products_are_recorded_and_the_next_run_fetches_them(small, tmp_path):
    config = small.config()
    config.retries = 0
    catalogue = terracat.Catalogue(config)
    small.faults.set(error_rate=0.5, seed=4, routes={"download"})
    with pytest.raises(SyncIncomplete, match="products failed") as raised:
        terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False)
    small.faults.clear()
    first = raised.value.report
    failed = set(first.products.loc[first.products["status"] == "failed", "id"])
    assert failed and not first.complete
    manifest = terracat.read_parquet(tmp_path / MANIFEST_NAME)
    assert set(manifest.loc[manifest["syncStatus"] == "failed", "id"]) == failed

    second = terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False)

    assert second.complete and second.since is None  # the first never completed: all again
    fetched = second.products[second.products["files"] > 0]
    assert set(fetched["id"]) == failed  # the complete ones were not fetched again
    assert set(second.downloads.loc[second.downloads["status"] != "skipped", "product"]) == failed
    manifest = terracat.read_parquet(tmp_path / MANIFEST_NAME)
    assert set(manifest["syncStatus"]) == {"complete"}
    assert pd.Series(manifest["id"]).is_unique


def test_a_manifest_naming_files_outside_the_mirror_removes_nothing(small, tmp_path):
    mirror, outside = tmp_path / "mirror", tmp_path / "precious.txt"
    outside.write_text("not the mirror's")
    catalogue = catalogue_of(small, "opensearch")
    terracat.sync(NDVI, mirror, catalogue=catalogue, progress=False)
    # a manifest tampered with: one product's file now names a path outside the mirror
    frame, state = read_manifest(mirror)
    product = frame["id"].iloc[0]
    files = json.loads(frame["syncFiles"].iloc[0])
    files[0]["path"] = "../precious.txt"
    frame.loc[0, "syncFiles"] = json.dumps(files)
    write_manifest(frame, state, mirror)
    small.reprocess_product(NDVI, product)
    before = tree(mirror)

    with pytest.raises(ParameterParserException, match=r"precious.txt.*outside the mirror"):
        terracat.sync(NDVI, mirror, catalogue=catalogue, progress=False)

    assert outside.read_text() == "not the mirror's"
    assert tree(mirror) == before


def test_a_second_sync_into_a_mirror_in_use_is_refused_until_the_first_ends(small, tmp_path):
    catalogue = catalogue_of(small, "opensearch")
    terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False)
    with open(tmp_path / LOCK_NAME, "a+") as held:  # as a run still under way holds it
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        held.write("pid 12345")
        held.flush()
        since = len(small.app.requests)
        with pytest.raises(ProductDownloadException, match=r"another sync .*pid 12345"):
            terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False)
        assert small.app.requests[since:] == []
    assert terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False).complete


def test_a_temporary_manifest_a_killed_run_left_is_removed_by_the_next(small, tmp_path):
    catalogue = catalogue_of(small, "opensearch")
    terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False)
    left = tmp_path / f".{MANIFEST_NAME}.0123abcd.tmp"  # killed while it wrote the manifest
    left.write_bytes(b"PAR1 half a manifest")

    assert terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False).complete
    assert not left.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(
        [MANIFEST_NAME, LOCK_NAME]
    )
