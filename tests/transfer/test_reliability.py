"""Download batches on a data server's bad days: every file exact, none missing, nothing half-written.

The server fails requests (503), throttles them (429 with Retry-After), cuts bodies mid-way and
the client itself is killed mid-batch; whatever happened, a batch (or its rerun) ends with every
file byte for byte as served, and a rerun transfers only what was not on disk yet. The batches
are small files at the demo's size scale, so the whole module runs in seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from terracat import Catalogue
from terracat.server import LocalCatalogue
from terracat.server.content import read
from terracat.transfer import PARTIAL_SUFFIX

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
TRANSFERRED = ("downloaded", "resumed")


@pytest.fixture(scope="module")
def catalogue(local_catalogue: LocalCatalogue) -> Catalogue:
    return Catalogue(local_catalogue.config())


def _served_path(href: str) -> str:
    """The server-relative ``/download/...`` path of an absolute href."""
    return "/" + href.split("/", 3)[3]


def _served(local: LocalCatalogue, href: str) -> bytes:
    path = _served_path(href)
    return read(path, 0, local.store.files[path].length)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _partials(root: Path) -> set[Path]:
    return {p for p in _files(root) if p.name.endswith(PARTIAL_SUFFIX)}


def _assert_exact(local: LocalCatalogue, report: pd.DataFrame, root: Path) -> None:
    """Every row's file is on disk with the served bytes, and nothing else is."""
    assert len(set(report["path"])) == len(report)
    for row in report.itertuples():
        assert Path(row.path).read_bytes() == _served(local, row.href), row.path
    assert _partials(root) == set()
    assert _files(root) == {Path(p) for p in report["path"]}


# ---- errors and cuts at random --------------------------------------------------------------


# An attempt fails with p = 0.1 + 0.9 * 0.05 = 0.145 here, so at the default five retries a file runs
# out of attempts with p = 0.145**6 = 1e-5: one CI run in a hundred over these 1,500 files. Twelve
# retries make that 1e-11, so the test asserts recovery rather than luck.
PATIENT_RETRIES = 12


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_500_file_batch_under_errors_and_cuts_ends_byte_exact(
    local_catalogue, faults, tmp_path, seed
):
    config = local_catalogue.config()
    config.retries = PATIENT_RETRIES
    frame = Catalogue(config).search(NDVI, limit=125)
    files = frame.terracat.files("all")
    assert len(files) >= 500
    before = len(local_catalogue.app.downloads)
    faults.set(error_rate=0.10, cut_rate=0.05, seed=seed, routes={"download"})

    report = frame.terracat.download(tmp_path, "all", progress=False)

    injected = dict(faults.injected)
    assert injected["error"] > 0 and injected["cut"] > 0, injected
    assert len(report) == len(files)
    assert sorted(report["href"]) == sorted(files["href"])
    assert set(report["status"]) <= set(TRANSFERRED), report["status"].value_counts()
    assert report["error"].isna().all()
    _assert_exact(local_catalogue, report, tmp_path)
    # a cut transfer is resumed with a Range request from the bytes it kept, never restarted
    ranged = {d.path for d in local_catalogue.app.downloads[before:] if d.range}
    resumed = {_served_path(h) for h in report.loc[report["status"] == "resumed", "href"]}
    assert resumed == ranged and resumed
    assert int(report["bytes"].sum()) == int(files["length"].sum())


# ---- a client killed mid-batch --------------------------------------------------------------

KILLED_CLIENT = textwrap.dedent(
    """
    import sys
    import terracat

    url, target, collection, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    catalogue = terracat.Catalogue(terracat.CatalogueConfig.from_url(url))
    frame = catalogue.search(collection, limit=limit)
    frame.terracat.download(target, progress=False)
    """
)
KILLED_PRODUCTS = 14  # x 3 data files: 42 files, 3.7 MB at the demo's size scale
KILL_BANDWIDTH = 100_000.0  # bytes/s per connection: about 5 s for the batch on 8 workers
KILL_WHEN_COMPLETE = 10  # files complete on disk when the client is killed


def _kill_when_some_are_complete(process: subprocess.Popen[bytes], target: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the client ended (code {process.returncode}) before it could be killed; "
                f"lower KILL_BANDWIDTH. stderr: {process.stderr.read().decode()[-2000:]}"
            )
        if len(_files(target) - _partials(target)) >= KILL_WHEN_COMPLETE:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            return
        time.sleep(0.02)
    process.kill()
    pytest.fail("the client completed no files within 60 s")


def test_a_batch_killed_mid_way_is_completed_by_a_rerun_that_fetches_only_what_is_missing(
    local_catalogue, faults, tmp_path
):
    target = tmp_path / "target"
    faults.set(bandwidth=KILL_BANDWIDTH, routes={"download"})
    command = [
        sys.executable,
        "-c",
        KILLED_CLIENT,
        local_catalogue.url,
        str(target),
        S1,
        str(KILLED_PRODUCTS),
    ]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        _kill_when_some_are_complete(process, target)
    assert process.returncode == -signal.SIGKILL

    # what the killed client left: complete files under their names, partial ones beside them
    complete = {p: p.stat().st_size for p in _files(target) - _partials(target)}
    partial = {
        p.with_name(p.name[: -len(PARTIAL_SUFFIX)]): p.stat().st_size for p in _partials(target)
    }
    assert len(complete) >= KILL_WHEN_COMPLETE and len(complete) < KILLED_PRODUCTS * 3

    faults.clear()
    frame = Catalogue(local_catalogue.config()).search(S1, limit=KILLED_PRODUCTS)
    total = frame.terracat.total_size("data")
    before = len(local_catalogue.app.downloads)
    report = frame.terracat.download(target, progress=False)

    _assert_exact(local_catalogue, report, target)
    for row in report.itertuples():
        path = Path(row.path)
        if path in complete:
            expected = "skipped"
        elif partial.get(path, 0) > 0:
            expected = "resumed"
        else:
            expected = "downloaded"
        assert row.status == expected, (row.path, complete.get(path), partial.get(path))
    if any(size > 0 for size in partial.values()):
        assert (report["status"] == "resumed").any()

    # the rerun transferred exactly the bytes not on disk yet, and asked for nothing else
    transferred = report[report["status"].isin(TRANSFERRED)]
    on_disk = sum(complete.values()) + sum(partial.values())
    assert int(transferred["bytes"].sum()) == total - on_disk
    requests = local_catalogue.app.downloads[before:]
    asked = sorted((d.path, d.range) for d in requests)
    wanted = sorted(
        (
            _served_path(row.href),
            f"bytes={partial[Path(row.path)]}-" if row.status == "resumed" else None,
        )
        for row in transferred.itertuples()
    )
    assert asked == wanted


# ---- throttling -----------------------------------------------------------------------------


def test_a_batch_throttled_with_retry_after_completes(local_catalogue, catalogue, faults, tmp_path):
    frame = catalogue.search(NDVI, limit=30)
    faults.set(throttle_rate=0.2, retry_after=1, seed=7, routes={"download"})

    report = frame.terracat.download(tmp_path, progress=False)

    assert faults.injected["throttle"] > 0
    assert len(report) == 30 and (report["status"] == "downloaded").all()
    _assert_exact(local_catalogue, report, tmp_path)
    # the throttled transfers waited the second the server asked for before asking again
    assert report["seconds"].max() >= 1.0
