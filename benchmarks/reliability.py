"""Reliability on a catalogue's bad days: a download batch and a run of searches under faults.

1. Downloads: the files of NDVI products (all four kinds each) fetched while the data server
   answers a fraction of requests ``503`` and cuts a fraction of bodies half-way. Every file is
   compared byte for byte with what the server serves; partial files left behind are counted.
2. Searches: queries of one to three pages while the catalogue answers a fraction of pages
   ``503``, cuts some mid-body and garbles some (a proxy's HTML page, half the JSON, JSON of the
   wrong shape: one pass per kind, so that each kind is counted). Every result is compared with
   the same search made before the faults.

The catalogue runs in this process, unlike the speed benchmarks': what is measured here is
correctness, and the counts of faults injected are read from the live server.

    python -m benchmarks.reliability [--files 2000] [--error-rate 0.1] [--cut-rate 0.05]
                                     [--garble-rate 0.1] [--throttle-rate 0] [--searches 120]
                                     [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

import terracat
from benchmarks._common import table
from terracat.server import FaultPlan, LocalCatalogue
from terracat.server.content import read
from terracat.server.faults import GARBLES
from terracat.transfer import PARTIAL_SUFFIX, human_size

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
FILES_PER_PRODUCT = 4  # NDVI with file_types="all"
QUERIES = (  # one page, two, three, and a filtered one
    (NDVI, {"limit": 80}),
    (S1, {"limit": 150}),
    (NDVI, {"limit": 260}),
    (NDVI, {"tileId": "31UFS", "start": "2021-01-01", "end": "2021-12-31", "limit": 120}),
)
KINDS = ("error", "throttle", "cut", *(f"garble {kind}" for kind in GARBLES))


def downloads(local: LocalCatalogue, args: argparse.Namespace) -> dict[str, object]:
    catalogue = terracat.Catalogue(local.config())
    frame = catalogue.search(NDVI, limit=math.ceil(args.files / FILES_PER_PRODUCT))
    files = frame.terracat.files("all")
    work = Path(tempfile.mkdtemp(prefix="terracat-reliability-"))
    try:
        local.faults.set(
            error_rate=args.error_rate,
            throttle_rate=args.throttle_rate,
            cut_rate=args.cut_rate,
            seed=args.seed,
            routes={"download"},
        )
        began = time.perf_counter()
        report = frame.terracat.download(work, "all", progress=False, raise_on_failure=False)
        seconds = time.perf_counter() - began
        injected = Counter(local.faults.injected)
        local.faults.clear()
        exact = 0
        for row in report.itertuples():
            path = "/" + row.href.split("/", 3)[3]
            target = Path(row.path)
            served = read(path, 0, local.store.files[path].length)
            exact += target.is_file() and target.read_bytes() == served
        partial = sum(1 for _ in work.rglob(f"*{PARTIAL_SUFFIX}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failures = int((~report["status"].isin(["downloaded", "resumed"])).sum())
    return {
        "injected": injected,
        "runs": f"{len(report)} files ({(report['status'] == 'resumed').sum()} resumed)",
        "bytes": human_size(int(files["length"].sum())),
        "seconds": seconds,
        "failures": failures + (len(files) - len(report)),
        "partial": str(partial),
        "exact": f"{exact}/{len(files)}",
        "ok": failures == 0 and exact == len(files) == len(report) and partial == 0,
    }


def searches(local: LocalCatalogue, args: argparse.Namespace) -> dict[str, object]:
    catalogue = terracat.Catalogue(local.config())
    local.faults.clear()
    expected = [catalogue.search(collection, **kwargs) for collection, kwargs in QUERIES]
    injected: Counter[str] = Counter()
    runs = exact = failures = 0
    began = time.perf_counter()
    for number, kind in enumerate(GARBLES):  # one pass per kind of garbled page
        plan = FaultPlan(
            error_rate=args.error_rate,
            throttle_rate=args.throttle_rate,
            cut_rate=args.cut_rate,
            garble_rate=args.garble_rate,
            garble_kind=kind,
            seed=args.seed + number,
            routes={"products"},
        )
        local.faults.set(plan)
        share = args.searches // len(GARBLES) + (number < args.searches % len(GARBLES))
        for run in range(share):
            query = (runs + run) % len(QUERIES)
            collection, kwargs = QUERIES[query]
            try:
                frame = catalogue.search(collection, **kwargs)
            except terracat.SearchException as error:
                print(f"search {collection} {kwargs} failed: {error}", file=sys.stderr)
                failures += 1
                continue
            try:
                pd.testing.assert_frame_equal(frame, expected[query])
            except AssertionError as error:
                print(f"search {collection} {kwargs} differs: {error}", file=sys.stderr)
            else:
                exact += 1
        runs += share
        counts = local.faults.injected
        injected.update(error=counts["error"], throttle=counts["throttle"], cut=counts["cut"])
        injected[f"garble {kind}"] += counts["garble"]
    seconds = time.perf_counter() - began
    local.faults.clear()
    return {
        "injected": injected,
        "runs": f"{runs} searches",
        "bytes": "-",
        "seconds": seconds,
        "failures": failures,
        "partial": "-",
        "exact": f"{exact}/{runs}",
        "ok": failures == 0 and exact == runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=2000, help="files in the download batch")
    parser.add_argument("--error-rate", type=float, default=0.1, help="503 answers, 0..1")
    parser.add_argument("--cut-rate", type=float, default=0.05, help="bodies cut half-way, 0..1")
    parser.add_argument("--garble-rate", type=float, default=0.1, help="garbled pages, 0..1")
    parser.add_argument(
        "--throttle-rate", type=float, default=0.0, help="429 with Retry-After: 1, 0..1"
    )
    parser.add_argument("--searches", type=int, default=120, help="searches under faults")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault generator")
    args = parser.parse_args()

    with LocalCatalogue() as local:
        results = {"downloads": downloads(local, args), "searches": searches(local, args)}
    header = ("phase", *KINDS, "runs", "bytes", "time", "failures", "partial left", "exact")
    rows = [header]
    for phase, result in results.items():
        injected = result["injected"]
        assert isinstance(injected, Counter)
        rows.append(
            (
                phase,
                *(str(injected[kind]) for kind in KINDS),
                str(result["runs"]),
                str(result["bytes"]),
                f"{result['seconds']:.1f} s",
                str(result["failures"]),
                str(result["partial"]),
                str(result["exact"]),
            )
        )
    print(
        f"faults: {args.error_rate:.0%} answered 503, {args.throttle_rate:.0%} answered 429, "
        f"{args.cut_rate:.0%} cut half-way, {args.garble_rate:.0%} of pages garbled "
        f"(searches only); seed {args.seed}\n"
    )
    print(table(rows))
    return 0 if all(result["ok"] for result in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
