"""Sustained load from many threads on one catalogue client: exact results, no leaks.

Eight threads share one ``Catalogue`` (as the module-level ``terracat.search`` shares its default
one) and alternate a search and a small download for ``TERRACAT_LOAD_SECONDS`` (3 s in CI; run
``TERRACAT_LOAD_SECONDS=600 pytest -m slow tests/test_load.py`` for a soak). Every search must
equal the one made before the load and every file the bytes served, with no retry on a healthy
server. Afterwards the process holds no more file descriptors than before the client existed,
and its resident memory stays under a bound at the peak and once the load is over.

Linux only: descriptors are counted in ``/proc/self/fd``, and the peak resident set size
(``ru_maxrss``) is reset through ``/proc/self/clear_refs`` so that an earlier test's peak cannot
hide this one's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import resource
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas
import pytest
from geopandas.testing import assert_geodataframe_equal

from terracat import Catalogue
from terracat.server import LocalCatalogue
from terracat.server.content import read

pytestmark = pytest.mark.slow

DURATION = float(os.environ.get("TERRACAT_LOAD_SECONDS", "3"))
ROUNDS = int(os.environ.get("TERRACAT_LOAD_ROUNDS", str(max(50, int(DURATION * 20)))))
"""Rounds per thread at most: the load is bounded by count as well as by time."""
THREADS = 8
FD_TOLERANCE = 2  # descriptors the interpreter may open lazily (urandom, a log file...)
PEAK_LIMIT = 128 * 2**20
"""Resident bytes the load may add at its peak over the resident set once warmed up (measured:
30 MiB for 3 s, 50-75 MiB for 30-60 s on 2 cores)."""
GROWTH_LIMIT = 64 * 2**20
"""Resident bytes the load may keep once over. Allocator noise alone moves the resident set by
up to about 40 MiB between readings, with no trend over thousands of rounds; a leak of a search
frame per round (a few MiB) fails the CI form, one of 64 kB per round fails a 1000-round soak."""
WARM_ROUNDS = 4
"""Rounds each thread runs before memory is measured: what the allocator keeps for eight threads
settles over the first few (66-76 MiB kept with one round, whatever the rounds after it)."""

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
QUERIES = (  # one page, three pages fetched concurrently, filters, a tiny page
    (NDVI, {"limit": 40}),
    (S1, {"limit": 230}),
    (NDVI, {"tileId": "31UFS", "start": "2021-06-01", "end": "2021-09-30", "limit": 60}),
    (S1, {"limit": 5}),
)
PRODUCTS_PER_DOWNLOAD = 2  # the first products of each search, their data files


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settled_descriptors(limit: int, seconds: float = 5.0) -> int:
    """The descriptor count once the server's threads have seen the client's connections close."""
    deadline = time.monotonic() + seconds
    while (count := _open_descriptors()) > limit and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    return count


def _resident() -> int:
    """The resident set now, in bytes, after freed memory is handed back to the system.

    glibc keeps what threads freed in per-thread arenas; without ``malloc_trim`` the resident
    set swings by tens of MiB from one reading to the next with no object alive.
    """
    gc.collect()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _reset_peak_resident() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # Linux: the peak resident set size starts again from the current


def _peak_resident() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _close(catalogue: Catalogue) -> None:
    """Close the client's pooled sessions (search and download)."""
    catalogue.close()


class _Retries(logging.Handler):
    """Collects the client's warnings and retry notes: a healthy server should cause none."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING or "retrying" in message or "resuming" in message:
            self.messages.append(f"{record.name}: {message}")


def _in_threads(worker: Callable[[int], int]) -> list[int]:
    """``worker(n)`` on each of the threads at once; the first exception of any is raised."""
    with ThreadPoolExecutor(THREADS, thread_name_prefix="load") as pool:
        futures = [pool.submit(worker, n) for n in range(THREADS)]
        return [future.result() for future in futures]


@pytest.mark.timeout(int(DURATION) + 120)
def test_eight_threads_searching_and_downloading_stay_exact_and_leak_nothing(tmp_path):
    with LocalCatalogue() as local:
        descriptors_before = _open_descriptors()
        catalogue = Catalogue(local.config())

        expected: dict[int, geopandas.GeoDataFrame] = {}
        for i, (collection, kwargs) in enumerate(QUERIES):  # the reference results, checked
            expected[i] = catalogue.search(collection, **kwargs)
            stored = [f["id"] for f in local.store.collections[collection].products]
            if kwargs.keys() == {"limit"}:
                assert list(expected[i]["id"]) == stored[: kwargs["limit"]]
            else:
                assert 0 < len(expected[i]) <= kwargs["limit"]
                assert set(expected[i]["id"]) <= set(stored)
        served = {}  # href -> the bytes served
        for frame in expected.values():
            for href in frame.head(PRODUCTS_PER_DOWNLOAD).terracat.files("data")["href"]:
                path = "/" + href.split("/", 3)[3]
                served[href] = read(path, 0, local.store.files[path].length)

        def rounds_until(deadline: float, most: int) -> Callable[[int], int]:
            def worker(number: int) -> int:
                rounds = 0
                while rounds < most and time.monotonic() < deadline:
                    query = (number + rounds) % len(QUERIES)
                    collection, kwargs = QUERIES[query]
                    frame = catalogue.search(collection, **kwargs)
                    assert_geodataframe_equal(frame, expected[query])
                    target = tmp_path / f"thread-{number}" / str(rounds)
                    report = frame.head(PRODUCTS_PER_DOWNLOAD).terracat.download(
                        target, progress=False
                    )
                    assert (report["status"] == "downloaded").all(), report
                    assert sorted(report["href"]) == sorted(
                        frame.head(PRODUCTS_PER_DOWNLOAD).terracat.files("data")["href"]
                    )
                    for row in report.itertuples():
                        assert Path(row.path).read_bytes() == served[row.href], row.path
                    shutil.rmtree(target)
                    rounds += 1
                return rounds

            return worker

        retries, logger = _Retries(), logging.getLogger("terracat")
        level = logger.level
        logger.addHandler(retries)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        try:
            # first rounds on every thread settle what threads cost once (malloc arenas)
            assert _in_threads(rounds_until(float("inf"), WARM_ROUNDS)) == [WARM_ROUNDS] * THREADS
            resident_before = _resident()
            _reset_peak_resident()
            began = time.monotonic()
            rounds = _in_threads(rounds_until(began + DURATION, ROUNDS))
            elapsed = time.monotonic() - began
            peak = _peak_resident()
        finally:
            logger.removeHandler(retries)
            logger.setLevel(level)
        resident_after = _resident()

        assert all(r > 0 for r in rounds), rounds
        assert elapsed < DURATION + 60, "a round hung far beyond the load's duration"
        assert retries.messages == []
        assert peak - resident_before < PEAK_LIMIT, (
            f"{(peak - resident_before) / 2**20:.0f} MiB more at the peak of the load"
        )
        assert resident_after - resident_before < GROWTH_LIMIT, (
            f"{(resident_after - resident_before) / 2**20:.0f} MiB kept after {sum(rounds)} rounds"
        )
        assert not [t for t in threading.enumerate() if t.name.startswith("load")]

        _close(catalogue)
        after = _settled_descriptors(descriptors_before + FD_TOLERANCE)
        assert after <= descriptors_before + FD_TOLERANCE, (descriptors_before, after)
