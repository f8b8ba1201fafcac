"""``terracat sync`` through its real entry point, against a small local catalogue of its own.

The command is the ``terracat`` executable run in a subprocess; the catalogue (``small``) runs
in this process, so a test changes it between two runs and reads the requests it was sent. Bad
options change nothing: they go to the session's shared catalogue.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import terracat
from terracat.mirroring import MANIFEST_NAME

from .conftest import NDVI, PRODUCTS, TILE, catalogue_of, downloads, searches

TERRACAT = str(Path(sys.executable).parent / "terracat")
FILTERS = ("--start", "2020-01-05", "--param", f"tileId={TILE}")
SUMMARY = re.compile(r"(?P<what>.+); (?P<files>\d+) files fetched \(\d+\.\d MB\)(?P<failed>.*)")


def _sync(
    mirror: Path, *args: str, url: str | None = None, config: Path | None = None
) -> subprocess.CompletedProcess:
    """``terracat sync NDVI mirror ...`` at ``url`` (as ``$TERRACAT_URL``) or by ``--config``."""
    env = {k: v for k, v in os.environ.items() if k != "TERRACAT_URL"}
    if url is not None:
        env["TERRACAT_URL"] = url
    where = ["--config", str(config)] if config is not None else []
    return subprocess.run(
        [TERRACAT, "sync", NDVI, str(mirror), *where, *args, "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _summary(result: subprocess.CompletedProcess, mirror: Path) -> re.Match[str]:
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{mirror}: "), result.stdout
    match = SUMMARY.fullmatch(first.removeprefix(f"{mirror}: "))
    assert match, first
    return match


def _manifest_status(mirror: Path) -> dict[str, str]:
    manifest = terracat.read_parquet(mirror / MANIFEST_NAME)
    return dict(zip(manifest["id"], manifest["syncStatus"], strict=True))


def test_runs_print_what_they_fetched_then_nothing_then_the_product_gone(small, tmp_path):
    mirror = tmp_path / "mirror"
    wanted = terracat.search(
        NDVI, catalogue=catalogue_of(small, "opensearch"), start="2020-01-05", tileId=TILE
    )
    assert 0 < len(wanted) < PRODUCTS  # the filters choose some products only
    since = len(small.app.requests)

    first = _sync(mirror, *FILTERS, url=small.url)

    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    summary = _summary(first, mirror)
    assert summary["what"] == f"{len(wanted)} new" and int(summary["files"]) == len(wanted)
    assert _manifest_status(mirror) == dict.fromkeys(wanted["id"], "complete")
    asked = searches(small, since)
    assert asked and all(f"tileId={TILE}" in s and "start=2020-01-05" in s for s in asked)

    since = len(small.app.requests)
    second = _sync(mirror, *FILTERS, url=small.url)

    assert second.returncode == 0, second.stderr
    assert second.stdout == f"{mirror}: nothing changed; 0 files fetched (0.0 MB)\n"
    assert downloads(small, since) == []
    asked = searches(small, since)
    assert len(asked) == 2 and "modificationDate=" in asked[0]  # the window, the count
    assert all(f"tileId={TILE}" in s and "start=2020-01-05" in s for s in asked)

    removed = wanted["id"].iloc[0]
    files = list((mirror / removed.rsplit(":", 1)[-1]).iterdir())
    small.remove_product(NDVI, removed)
    third = _sync(mirror, *FILTERS, url=small.url)

    assert third.returncode == 0, third.stderr
    summary = _summary(third, mirror)
    assert summary["what"] == f"{len(wanted) - 1} unchanged, 1 gone" and summary["files"] == "0"
    assert third.stdout.splitlines()[1:] == [f"gone from the catalogue (files kept): {removed}"]
    assert files and all(p.is_file() for p in files)
    assert _manifest_status(mirror)[removed] == "gone"


def test_failed_downloads_exit_1_naming_them_and_the_next_run_fetches_them(small, tmp_path):
    mirror = tmp_path / "mirror"
    config = tmp_path / "local.ini"
    config.write_text(f"[Catalogue]\nURL = {small.url}\n\n[HTTP]\nRetries = 0\n")
    small.faults.set(error_rate=1.0, routes={"download"})

    failed = _sync(mirror, config=config)

    assert failed.returncode == 1, failed.stderr
    summary = _summary(failed, mirror)
    assert summary["files"] == "0" and summary["failed"] == f"; {PRODUCTS} products failed"
    reasons = failed.stderr.splitlines()
    assert len(reasons) == 5 and "Traceback" not in failed.stderr  # the first five, one a line
    status = _manifest_status(mirror)
    assert set(status.values()) == {"failed"} and len(status) == PRODUCTS
    for line in reasons:
        product = line.removeprefix("failed: ").split(": ", 1)[0]
        assert line.startswith("failed: ") and product in status and "503" in line, line

    small.faults.clear()
    again = _sync(mirror, config=config)

    assert again.returncode == 0, again.stderr
    summary = _summary(again, mirror)
    assert summary["what"] == f"{PRODUCTS} retried" and summary["files"] == str(PRODUCTS)
    assert set(_manifest_status(mirror).values()) == {"complete"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--overlap", "soon"], "overlap 'soon' is not a duration"),
        (["--param", "modificationDate=[2020-01-01"], "sync chooses ['modificationDate']"),
        (["--types", "pictures"], "'pictures' is not understood"),
    ],
)
def test_bad_options_are_one_line_and_exit_2_before_any_search(
    local_catalogue, tmp_path, args, message
):
    mirror = tmp_path / "mirror"
    since = len(local_catalogue.app.requests)

    result = _sync(mirror, *args, url=local_catalogue.url)

    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert searches(local_catalogue, since) == [] and not mirror.exists()
