"""One sync run: ask what changed, take away stale files, fetch, and record each product as it ends.

The order of a run is what makes it safe to kill at any instant:

1. search the products modified since the mirror was last complete, less the overlap (the whole
   search on a first run); one count tells whether products disappeared or were missed (indexed
   late), and only then the whole search is listed again;
2. plan each product (:mod:`terracat.mirroring.plan`) and take away the old files that will change;
3. record every product to fetch as ``pending`` in the manifest;
4. fetch the files, recording each product ``complete`` (or ``failed``) once its last file ends;
5. when every product is complete, record the run's start as the mirror's new ``complete_until``.

A run stopped anywhere finds on disk only files of the versions its manifest names (step 2 comes
before 3), so the next run resumes them where they stopped and fetches nothing twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas
import pandas as pd

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from terracat.catalogue import Catalogue
from terracat.exceptions import (
    ParameterParserException,
    ProductDownloadException,
    SyncIncomplete,
)
from terracat.mirroring.manifest import (
    MANIFEST_NAME,
    MirrorState,
    files_text,
    read_manifest,
    record_of,
    remove_temporaries,
    write_manifest,
)
from terracat.mirroring.plan import (
    COMPLETE,
    FAILED,
    GONE,
    PENDING,
    Plan,
    Record,
    SyncedFile,
    plan_product,
)
from terracat.products import file_kinds, row_links, rows
from terracat.request import Box, SearchRequest
from terracat.transfer import DownloadInterrupted, FileTask, file_tasks, partial_path

__all__ = ["DEFAULT_OVERLAP", "REPLACED", "SyncIncomplete", "SyncReport", "run_sync"]

Search = Callable[..., geopandas.GeoDataFrame]
"""Searches the mirrored collection with the filters given (a Dask sync: partitioned)."""
Fetch = Callable[..., pd.DataFrame]
"""Fetches file tasks as ``Catalogue.download_tasks`` does, telling ``on_row`` of each as it ends."""

DEFAULT_OVERLAP = pd.Timedelta(days=1)
"""How far back of the last complete run a run looks again: catalogues index products late."""
REPLACED = ("remove", "keep")
REPLACED_DIRECTORY = ".replaced"
"""Where ``replaced="keep"`` moves the files a new version replaces: ``<mirror>/.replaced/<the
old version's updated>/<product>/<file>``."""
OWNED_FILTERS = ("limit", "split", "modificationDate", "count")
WRITE_SHARE = 10
"""A manifest write may take one part in this many of a run: a small manifest is rewritten after
every product, a large one as often as that share allows (and always at the end)."""


@dataclass
class SyncReport:
    """What a sync run did.

    Attributes
    ----------
    products :
        one row per product the run looked at: ``id``, ``action`` (new, changed, retried,
        unchanged, gone), ``status`` after the run (complete, failed, gone), ``files`` fetched
        or resumed, ``bytes`` transferred, ``error``
    downloads :
        the file report of the run's downloads (as ``df.terracat.download`` returns)
    since :
        the modification date the run searched from (``None``: the whole search)
    complete :
        whether every product of the mirror ended complete (the next run then looks back only
        to this run's start, less the overlap)
    gone :
        the products that disappeared from the catalogue since the last run (their files kept,
        their manifest rows ``gone``)
    """

    products: pd.DataFrame
    downloads: pd.DataFrame
    since: dt.datetime | None
    complete: bool
    gone: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: products per action and status, files and bytes."""
        actions = self.products["action"].value_counts()
        shown = ", ".join(f"{n} {a}" for a, n in actions.items()) or "nothing changed"
        fetched = self.downloads[self.downloads["status"].isin(("downloaded", "resumed"))]
        size = int(self.downloads["bytes"].sum()) if len(self.downloads) else 0
        failed = int((self.products["status"] == FAILED).sum())
        files = "1 file" if len(fetched) == 1 else f"{len(fetched)} files"
        return f"{shown}; {files} fetched ({size / 1e6:.1f} MB)" + (
            f"; {failed} {'product' if failed == 1 else 'products'} failed" if failed else ""
        )


def _overlap(value: Any) -> pd.Timedelta:
    try:
        overlap = (
            pd.Timedelta(value, unit="s") if isinstance(value, int | float) else pd.Timedelta(value)
        )
    except (ValueError, TypeError):
        overlap = pd.NaT
    if overlap is pd.NaT or overlap < pd.Timedelta(0):
        raise ParameterParserException(
            f"overlap {value!r} is not a duration of zero or more ('1h', '1D', a timedelta, "
            "or seconds)"
        )
    return overlap


def _filters_text(collection: str, filters: dict[str, Any]) -> str:
    """The filters as canonical text: a mirror's manifest must only ever hold one search, however
    its filters are spelled (``[4.1, 50, 5.5, 51]`` or ``"4.1,50.0,5.5,51"``, ``10`` or ``10.0``)."""
    parsed = SearchRequest.for_products(collection, **filters).filters
    return json.dumps({k: _canonical(v) for k, v in parsed.items()}, sort_keys=True)


def _canonical(value: Any) -> Any:
    if isinstance(value, Box):  # its numbers are the box; its text how the user wrote it
        return [float(v) for v in (value.west, value.south, value.east, value.north)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _canonical(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.compare
        }
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return str(value)


def _now() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class _Product:
    """A product a run fetches: its row, the files to fetch and how it ends."""

    source: pd.DataFrame  # the frame its row is in (the search's, or the manifest's)
    position: int
    plan: Plan
    files: tuple[SyncedFile, ...]
    tasks: list[FileTask] = field(default_factory=list)
    left: int = 0
    error: str | None = None
    fetched: int = 0
    bytes: int = 0


class _Mirror:
    def __init__(
        self,
        catalogue: Catalogue,
        collection: str,
        root: Path,
        kinds: tuple[str, ...],
        filters: dict[str, Any],
        overlap: pd.Timedelta,
        replaced: str,
        search: Search | None = None,
        fetch: Fetch | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.search = search or functools.partial(catalogue.search, collection)
        self.fetch = fetch or catalogue.download_tasks
        self.collection = collection
        self.root = root
        self.kinds = kinds
        self.filters = filters
        self.overlap = overlap
        self.replaced = replaced
        self.wanted = MirrorState(collection, _filters_text(collection, filters), kinds)
        self._last_write = 0.0
        self._write_cost = 0.0

    # ---- the catalogue's side -------------------------------------------------------------

    def _files(
        self, frame: pd.DataFrame
    ) -> dict[str, tuple[list[FileTask], tuple[SyncedFile, ...]]]:
        """Each product's file tasks and their records, by product id."""
        tasks = file_tasks(row_links(frame, self.kinds), self.root, self.kinds)
        by_product: dict[str, list[FileTask]] = {str(i): [] for i in frame["id"]}
        for task in tasks:
            by_product[task.product].append(task)
        return {
            product: (found, tuple(self._synced(t) for t in found))
            for product, found in by_product.items()
        }

    def _synced(self, task: FileTask) -> SyncedFile:
        relative = os.path.relpath(task.target, self.root) if task.problem is None else ""
        return SyncedFile(task.kind, task.href, task.length, relative, task.checksum)

    def _search(
        self, state: MirrorState | None, manifest: pd.DataFrame | None
    ) -> tuple[geopandas.GeoDataFrame, dt.datetime | None, bool]:
        """The products to look at, the modification date searched from, and whether the
        result is the whole search (so that a product missing from it is gone)."""
        since = state.since if state is not None else None
        if since is not None:
            since = (pd.Timestamp(since) - self.overlap).to_pydatetime()
            found = self.search(modificationDate=(since, None), **self.filters)
            present = (
                set()
                if manifest is None
                else set(manifest.loc[manifest["syncStatus"] != GONE, "id"])
            )
            expected = present | set(found["id"])
            if self.catalogue.count(self.collection, **self.filters) == len(expected):
                return found, since, False
            # products disappeared, or some modified before the window were indexed after it
        whole = self.search(**self.filters)
        if since is not None:
            whole = pd.concat([whole, found], ignore_index=True)
        return whole, since, True

    # ---- the run ---------------------------------------------------------------------------

    def run(self, *, workers: int | None, progress: bool) -> SyncReport:
        self.root.mkdir(parents=True, exist_ok=True)
        with _alone_in(self.root):
            return self._run(workers=workers, progress=progress)

    def _run(self, *, workers: int | None, progress: bool) -> SyncReport:
        remove_temporaries(self.root)
        manifest, state = read_manifest(self.root)
        if state is not None:
            state.check_same_mirror(self.wanted, self.root)
        began = _now()
        found, since, whole = self._search(state, manifest)
        found = found.drop_duplicates("id", keep="last")  # seen twice (overlap): fetched once
        state = state or self.wanted
        known = {} if manifest is None else {str(row.id): record_of(row) for row in rows(manifest)}

        work, unchanged = self._plan_found(found, known)
        gone: list[str] = []
        if manifest is not None:
            missing = manifest[~manifest["id"].astype(str).isin(set(found["id"].astype(str)))]
            if whole:  # a product the whole search lacks is gone, whatever its state
                gone = sorted(missing.loc[missing["syncStatus"] != GONE, "id"])
            else:  # left unfinished by an earlier run, and not modified since: tried again
                work.update(self._plan_unfinished(missing, known))
        self._check_inside(path for p in work.values() for path in p.plan.take_away)
        for product_id, product in work.items():
            self._take_away(product.plan.take_away, known.get(product_id))

        table = self._table(manifest, work, gone)
        self._write(table, state)
        report = self._fetch(table, state, work, workers=workers, progress=progress)
        statuses = dict(zip(table["id"].astype(str), table["syncStatus"], strict=True))
        complete = all(s in (COMPLETE, GONE) for s in statuses.values())
        if complete:
            state = replace(state, complete_until=began.isoformat())
        self._write(table, state)
        return SyncReport(_products(unchanged, work, statuses, gone), report, since, complete, gone)

    def _plan_found(
        self, found: pd.DataFrame, known: dict[str, Record]
    ) -> tuple[dict[str, _Product], list[str]]:
        """The products of the search to fetch, and the ids of those unchanged."""
        work: dict[str, _Product] = {}
        unchanged: list[str] = []
        updated = found["updated"] if "updated" in found.columns else pd.Series(None, found.index)
        files = self._files(found)
        for position, product in enumerate(found["id"].astype(str)):
            tasks, records = files[product]
            plan = plan_product(
                known.get(product), Record(PENDING, updated.iloc[position], records)
            )
            if plan.fetch:
                work[product] = _Product(found, position, plan, records, tasks)
            else:
                unchanged.append(product)
        return work, unchanged

    def _plan_unfinished(
        self, missing: pd.DataFrame, known: dict[str, Record]
    ) -> dict[str, _Product]:
        """The products an earlier run left pending or failed, fetched from their records."""
        unfinished = missing[missing["syncStatus"].isin((PENDING, FAILED))]
        files = self._files(unfinished)
        work = {}
        for position, product in enumerate(unfinished["id"].astype(str)):
            record = known[product]
            plan = plan_product(record, replace(record, status=PENDING))
            work[product] = _Product(unfinished, position, plan, record.files, files[product][0])
        return work

    def _check_inside(self, paths: Iterable[str]) -> None:
        """Refuse a manifest naming files outside the mirror, before anything is removed."""
        root = self.root.resolve()
        for relative in paths:
            if relative and not (self.root / relative).resolve().is_relative_to(root):
                raise ParameterParserException(
                    f"{self.root / MANIFEST_NAME} records a file {relative!r} outside the mirror: "
                    "it was not written by terracat's sync, and nothing was removed; remove it to "
                    "start this mirror afresh"
                )

    def _take_away(self, paths: tuple[str, ...], old: Record | None) -> None:
        """Remove (or move aside) the old files a new version replaces, partial files too."""
        stamp = _stamp(old.updated if old is not None else None)
        for relative in paths:
            if not relative:  # a file whose name was unsafe: never written
                continue
            target = self.root / relative
            with contextlib.suppress(FileNotFoundError):
                partial_path(target).unlink()
            if not target.exists():
                continue
            if self.replaced == "keep":
                aside = self.root / REPLACED_DIRECTORY / stamp / relative
                aside.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, aside)
            else:
                target.unlink()

    def _table(
        self, manifest: pd.DataFrame | None, work: dict[str, _Product], gone: list[str]
    ) -> geopandas.GeoDataFrame:
        """The manifest with the products to fetch recorded pending and the gone ones gone."""
        parts = []
        if manifest is not None:
            kept = manifest[~manifest["id"].astype(str).isin(work)].copy()
            kept.loc[kept["id"].astype(str).isin(gone), "syncStatus"] = GONE
            parts.append(kept)
        sources: dict[int, tuple[pd.DataFrame, list[int], list[str]]] = {}
        for product in work.values():
            frame, positions, files = sources.setdefault(
                id(product.source), (product.source, [], [])
            )
            positions.append(product.position)
            files.append(files_text(product.files))
        for frame, positions, files in sources.values():
            chosen = frame.iloc[positions].drop(columns=[c for c in _SYNC if c in frame.columns])
            parts.append(chosen.assign(syncStatus=PENDING, syncFiles=files, syncError=None))
        if not parts:
            return geopandas.GeoDataFrame(
                {"id": [], **{c: [] for c in _SYNC}}, geometry=[], crs=4326
            )
        table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        table = table.sort_values("id", kind="stable").reset_index(drop=True)
        for name in _SYNC:
            table[name] = table[name].astype("string")
        return geopandas.GeoDataFrame(table, geometry="geometry", crs=4326)

    def _fetch(
        self,
        table: geopandas.GeoDataFrame,
        state: MirrorState,
        work: dict[str, _Product],
        *,
        workers: int | None,
        progress: bool,
    ) -> pd.DataFrame:
        positions = {str(p): i for i, p in enumerate(table["id"])}
        statuses = table["syncStatus"].to_numpy(dtype=object, copy=True)
        errors = table["syncError"].to_numpy(dtype=object, copy=True)
        tasks: list[FileTask] = []
        owners: list[tuple[_Product, int]] = []  # each task's product and its manifest row
        for product_id, product in work.items():
            product.left = len(product.tasks)
            if not product.tasks:
                statuses[positions[product_id]] = COMPLETE
            tasks.extend(product.tasks)
            owners.extend([(product, positions[product_id])] * len(product.tasks))

        def recorded() -> geopandas.GeoDataFrame:
            table["syncStatus"] = pd.array(statuses, dtype="string")
            table["syncError"] = pd.array(errors, dtype="string")
            return table

        def ended(index: int, row: dict[str, Any]) -> None:
            product, at = owners[index]
            product.left -= 1
            if row["status"] == "failed":
                product.error = product.error or str(row["error"])
            elif row["status"] in ("downloaded", "resumed"):
                product.fetched += 1
            product.bytes += int(row["bytes"])
            if product.left == 0:
                statuses[at] = FAILED if product.error else COMPLETE
                errors[at] = product.error
                if self._write_due():  # the columns are rebuilt only for a write
                    self._write(recorded(), state)

        try:
            report = self.fetch(
                tasks, workers=workers, progress=progress, raise_on_failure=False, on_row=ended
            )
        except DownloadInterrupted:
            self._write(recorded(), state)
            raise
        recorded()
        return report

    def _write_due(self) -> bool:
        """Whether a write now keeps the manifest's writes within their share of the run."""
        return time.monotonic() - self._last_write >= WRITE_SHARE * self._write_cost

    def _write(self, table: geopandas.GeoDataFrame, state: MirrorState) -> None:
        began = time.monotonic()
        write_manifest(table, state, self.root)
        self._last_write = time.monotonic()
        self._write_cost = self._last_write - began


LOCK_NAME = ".terracat-sync.lock"


@contextlib.contextmanager
def _alone_in(root: Path) -> Iterator[None]:
    """Hold the mirror's lock for the run: a nightly sync that overran must not meet the next.

    ``flock`` is released by the system when its holder dies, SIGKILL included, so no stale
    lock outlives a killed run.
    """
    if fcntl is None:  # pragma: no cover - no flock on Windows: runs there do not take turns
        yield
        return
    with open(root / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise ProductDownloadException(
                f"another sync is running into {root} ({holder}); run this one when it has ended"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        yield


_SYNC = ("syncStatus", "syncFiles", "syncError")
_PRODUCT_COLUMNS = ["id", "action", "status", "files", "bytes", "error"]


def _products(
    unchanged: list[str], work: dict[str, _Product], statuses: dict[str, str], gone: list[str]
) -> pd.DataFrame:
    """The report's row per product looked at."""
    looked = [(i, "unchanged", COMPLETE, 0, 0, None) for i in unchanged]
    looked += [
        (i, p.plan.action, statuses[i], p.fetched, p.bytes, p.error) for i, p in work.items()
    ]
    looked += [(i, "gone", GONE, 0, 0, None) for i in gone]
    products = pd.DataFrame(looked, columns=_PRODUCT_COLUMNS)
    products[["files", "bytes"]] = products[["files", "bytes"]].astype("int64")
    products["error"] = products["error"].astype(object)
    return products


def _stamp(updated: Any) -> str:
    if updated is None or updated != updated:
        return "unknown"
    return pd.Timestamp(updated).strftime("%Y%m%dT%H%M%S.%fZ")


def run_sync(
    catalogue: Catalogue,
    collection: str,
    path: str | os.PathLike[str],
    *,
    file_types: Any = "data",
    overlap: Any = DEFAULT_OVERLAP,
    replaced: str = "remove",
    workers: int | None = None,
    progress: bool = True,
    raise_on_failure: bool = True,
    filters: dict[str, Any],
    search: Search | None = None,
    fetch: Fetch | None = None,
) -> SyncReport:
    """The checks of :func:`terracat.sync`'s parameters, then one run (``search`` and
    ``fetch``: how, where not the catalogue's own search and downloader)."""
    owned = sorted(set(filters) & set(OWNED_FILTERS))
    if owned:
        raise ParameterParserException(
            f"sync chooses {owned} itself (it searches what changed since its last run); "
            "leave them out"
        )
    if replaced not in REPLACED:
        raise ParameterParserException(
            f"replaced must be one of {list(REPLACED)}, got {replaced!r}"
        )
    mirror = _Mirror(
        catalogue,
        collection,
        Path(path),
        file_kinds(file_types),
        filters,
        _overlap(overlap),
        replaced,
        search,
        fetch,
    )
    report = mirror.run(workers=workers, progress=progress)
    failed = report.products[report.products["status"] == FAILED]
    if raise_on_failure and len(failed):
        raise SyncIncomplete(
            f"sync of {collection} into {path}: {len(failed)} of {len(report.products)} products "
            f"failed (recorded in the manifest; the next run tries them again); the first, "
            f"{failed['id'].iloc[0]}: {failed['error'].iloc[0]}",
            report,
        )
    return report
