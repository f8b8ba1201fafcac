"""The batch runner: the files behind product rows, fetched concurrently, exactly and safely.

Every file is written under a partial name in its target directory and renamed only once its
size matches the catalogue's length (or, when the catalogue gives none, the server's); a
complete file (a regular file of the right size) is skipped; a file that fails is a row of the
report, not the end of the batch. The runner knows no URL scheme: a :class:`Transport` holds the
batch's fetchers, one per scheme (``http.py``, ``s3.py``, ``local.py``, all speaking
``base.Fetcher``), and hands each task to the one its href's scheme names, as an httpx client
mounts one transport per URL pattern.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests

from terracat._http import stop_when
from terracat._progress import progress_bar
from terracat.config import CatalogueConfig
from terracat.exceptions import (
    ParameterParserException,
    ProductDownloadException,
    TerracatError,
    TerracatWarning,
)
from terracat.transfer.base import Fetched, Fetcher, PartialFile, Stopped
from terracat.transfer.checksum import HASH_FUNCTIONS, Checksum, parse_multihash
from terracat.transfer.http import HttpFetcher
from terracat.transfer.layout import FileTask, check_name_fits, partial_path, public_href
from terracat.transfer.local import LocalFetcher
from terracat.transfer.s3 import S3Fetcher

__all__ = ["REPORT_COLUMNS", "DownloadInterrupted", "Transport", "download", "human_size"]

logger = logging.getLogger(__name__)

REPORT_COLUMNS = ("product", "kind", "href", "path", "bytes", "status", "error", "seconds")


def human_size(size: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: sizes in the confirmation prompt and the summary."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class DownloadInterrupted(KeyboardInterrupt):
    """The batch was interrupted (Ctrl-C); ``report`` holds what was done, partial files kept.

    Files under way stop at their next chunk (a second or two), not when they are complete:
    their rows say ``interrupted``, the ones never started ``cancelled``.
    """

    def __init__(self, report: pd.DataFrame) -> None:
        super().__init__("download interrupted; run again to resume the partial files")
        self.report = report


class _Progress:
    """A thread-safe byte counter over a tqdm bar (or nothing); also the batch's stop switch.

    Every fetcher reports each chunk here, so once :attr:`stop` is set the next chunk of every
    transfer raises :class:`Stopped` in its own thread.
    """

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.stop = threading.Event()
        self._bar = progress_bar(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not enabled,
            desc="download",
        )
        self._lock = threading.Lock()

    def __call__(self, count: int) -> None:
        if self.stop.is_set():
            raise Stopped
        with self._lock:
            self._bar.update(count)

    def close(self) -> None:
        self._bar.close()


class Transport:
    """The fetchers of one download batch, one per URL scheme, picked by an href's scheme.

    Parameters
    ----------
    session :
        the catalogue's pooled session, carrying its credentials (for http and https)
    config :
        timeouts, retries, chunk size, S3 endpoint and keys
    login_prefixes :
        URL prefixes whose redirect means "sign in first" (the configured authorization endpoint)
    link :
        make ``file://`` targets links instead of copies
    renew :
        renews the sign-in: a login redirect despite credentials is retried once after it
    """

    def __init__(
        self,
        session: requests.Session,
        config: CatalogueConfig,
        *,
        login_prefixes: Sequence[str] = (),
        link: bool = False,
        renew: Callable[[], Any] | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.link = link
        web = HttpFetcher(session, config, login_prefixes=login_prefixes, renew=renew)
        self.fetchers: Mapping[str, Fetcher] = {
            "http": web,
            "https": web,
            "s3": S3Fetcher(config),
            "file": LocalFetcher(config, link=link),
        }

    def fetcher(self, href: str) -> Fetcher:
        """The fetcher for ``href``'s scheme, or a ProductDownloadException naming the href."""
        found = self.fetchers.get(urlsplit(href).scheme.lower())
        if found is None:
            *others, last = self.fetchers
            raise ProductDownloadException(
                f"{public_href(href)} is not a downloadable href ({', '.join(others)} or {last})"
            )
        return found

    def fetch(
        self, task: FileTask, partial: Path | PartialFile, progress: Callable[[int], None]
    ) -> Fetched:
        """Fetch one ``task`` into ``partial`` (a path, opened and locked here, or an open file)."""
        if isinstance(partial, Path):
            with PartialFile(partial) as opened:
                return self.fetch(task, opened, progress)
        return self.fetcher(task.href).fetch(task, partial, progress)

    def close(self) -> None:
        """Close the fetchers' own connections (the catalogue's pool stays open)."""
        for fetcher in {id(f): f for f in self.fetchers.values()}.values():
            fetcher.close()

    def abort(self) -> None:
        """Stop every transfer under way now (an interrupt): a stalled server is not waited for."""
        for fetcher in {id(f): f for f in self.fetchers.values()}.values():
            fetcher.abort()


def _complete(task: FileTask, fetcher: Fetcher) -> bool:
    """Whether the target is already the file: a regular file of the catalogued size.

    A symbolic link counts only as what a linking fetcher makes (a ``link=True`` download of a
    ``file://`` href) pointing at its source; a link or directory anywhere else is never taken
    for a complete file.
    """
    try:
        found = os.lstat(task.target)
    except OSError:  # FileNotFoundError, or a name the filesystem refuses: not there
        return False
    if stat.S_ISLNK(found.st_mode):
        source = fetcher.link_source(task)
        return source is not None and task.target.resolve() == source.resolve()
    if not stat.S_ISREG(found.st_mode):
        return False
    return task.length is None or found.st_size == task.length


def _skipped(task: FileTask, row: dict[str, Any], progress: Callable[[int], None]) -> None:
    row["status"] = "skipped"  # bytes: what this run transferred, nothing here
    progress(task.length if task.length is not None else os.lstat(task.target).st_size)


def _fetch_one(
    task: FileTask,
    transport: Transport,
    progress: Callable[[int], None],
    overwrite: bool,
    checksum: Checksum | None = None,
    made: set[Path] | None = None,
) -> dict[str, Any]:
    began = time.perf_counter()
    row = _row(task)
    if task.problem is not None:
        raise ProductDownloadException(task.problem)
    fetcher = transport.fetcher(task.href)
    try:
        if not overwrite and _complete(task, fetcher):
            _skipped(task, row, progress)
        else:
            _make_directory(task.target.parent, made)
            check_name_fits(task.target)
            with PartialFile(partial_path(task.target)) as partial:
                _fill(task, fetcher, partial, progress, overwrite, row, checksum)
    except OSError as error:
        if isinstance(error, requests.RequestException):
            raise
        raise ProductDownloadException(_disk_message(task, error)) from error
    row["seconds"] = time.perf_counter() - began
    return row


def _make_directory(directory: Path, made: set[Path] | None) -> None:
    """Create ``directory`` as a file starts in it, noting it in ``made`` if this run made it."""
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True)
    if made is not None:
        made.add(directory)


def _remove_if_empty(made: set[Path]) -> None:
    """Remove the directories a batch made that hold nothing: every file in them failed (a
    refusal for sign-in) and nothing was kept, so the batch leaves the disk as it found it."""
    for directory in sorted(made, key=lambda d: len(d.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty (or gone): kept
            directory.rmdir()


def _fill(
    task: FileTask,
    fetcher: Fetcher,
    partial: PartialFile,
    progress: Callable[[int], None],
    overwrite: bool,
    row: dict[str, Any],
    checksum: Checksum | None = None,
) -> None:
    """Fetch ``task`` into its locked ``partial`` file and rename it complete (or fail).

    With a ``checksum`` the bytes are hashed as they are written (what a resumed partial file
    holds first) and a file whose digest differs is removed, partial and all: bytes known to be
    wrong must not be resumed from.
    """
    if not overwrite and _complete(task, fetcher):
        partial.discard_if_empty()  # another run completed it while this one waited
        _skipped(task, row, progress)
        return
    try:
        if overwrite and fetcher.resumes:
            partial.restart()  # what is on disk is not to be resumed from
        if checksum is not None and fetcher.appends:
            partial.hash_with(checksum.new_hash)
        fetched = fetcher.fetch(task, partial, progress)
    except BaseException:
        partial.discard_if_empty()  # nothing received: leave nothing behind
        raise
    if fetched.linked:  # the target is made already; the partial file was only the lock
        partial.discard_if_empty()
        return
    if checksum is not None:
        _verify(task, partial, checksum, hashed=fetcher.appends)
    partial.finish(task.target)
    row["status"] = "resumed" if fetched.resumed else "downloaded"
    row["bytes"] = fetched.written


def _verify(task: FileTask, partial: PartialFile, checksum: Checksum, *, hashed: bool) -> None:
    """Compare the written bytes with the catalogue's ``file:checksum``; remove them if wrong."""
    if not hashed:  # the fetcher wrote the file itself: hash it once, now
        partial.hash_with(checksum.new_hash)
    found = partial.hexdigest()
    if found != checksum.digest:
        partial.discard()
        raise ProductDownloadException(
            f"{task.target.name} from {public_href(task.href)} does not match the catalogue's "
            f"file:checksum: expected {checksum.name} {checksum.digest}, found {found}; "
            "the file was not kept"
        )


def _checksums(tasks: Sequence[FileTask]) -> list[Checksum | None]:
    """Each task's checksum to verify (None: none given, or one terracat cannot compute).

    The functions terracat cannot compute, and multihashes it cannot read, are named in one
    warning for the batch: those files download unverified.
    """
    found: list[Checksum | None] = []
    unverified: dict[str, None] = {}
    for task in tasks:
        checksum = None
        if task.checksum is not None:
            try:
                checksum = parse_multihash(task.checksum)
            except ValueError as error:
                unverified[f"unreadable multihash ({error})"] = None
            else:
                if not checksum.known:
                    unverified[f"hash function code {checksum.name}"] = None
                    checksum = None
        found.append(checksum)
    if unverified:
        warnings.warn(
            f"file:checksum with {', '.join(unverified)}: those files download unverified "
            f"(terracat verifies {', '.join(name for name, _ in HASH_FUNCTIONS.values())})",
            TerracatWarning,
            stacklevel=3,
        )
    return found


def _disk_message(task: FileTask, error: OSError) -> str:
    """A filesystem failure (a name refused, a full disk) as a message naming the file."""
    reason = error.strerror or type(error).__name__
    if error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        advice = "; free some space and run again to resume"
    elif error.errno == errno.ENAMETOOLONG:
        advice = "; choose a shorter target directory or file name"
    else:
        advice = ""
    where = (
        f" ({error.filename})" if error.filename and str(error.filename) != str(task.target) else ""
    )
    return f"cannot write {task.target}{where}: {reason}{advice}"


def download(
    tasks: Sequence[FileTask],
    transport: Transport,
    *,
    workers: int,
    progress: bool,
    overwrite: bool,
    raise_on_failure: bool,
    on_row: Callable[[int, dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Fetch ``tasks`` on ``workers`` threads; the report has one row per file, in task order.

    With ``raise_on_failure`` the first failure is raised once the transfers under way have
    ended (nothing half-written is left under a final name either way); without it, failures
    are rows with status ``failed`` and their error. A task with a ``problem`` (an unsafe id or
    file name) fails without stopping the others. ``on_row(index, row)`` hears of each task as
    it ends, in the calling thread: a sync records a product the moment its last file is done.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterParserException(f"workers must be a positive whole number, got {workers!r}")
    total = sum(t.length for t in tasks if t.length is not None) or None
    checksums = dict(zip(map(id, tasks), _checksums(tasks), strict=True))
    bar = _Progress(total, progress)
    failed = threading.Event()
    failures = _FailureLog()
    made: set[Path] = set()  # directories this batch created, removed at its end if empty

    def run(task: FileTask) -> dict[str, Any]:
        began = time.perf_counter()
        if failed.is_set() and raise_on_failure:
            return {**_row(task), "status": "cancelled", "seconds": 0.0}
        try:
            # a wait between two attempts ends when the batch is stopped, not after it
            with stop_when(bar.stop, Stopped):
                return _fetch_one(task, transport, bar, overwrite, checksums[id(task)], made)
        except (TerracatError, OSError) as error:
            if task.problem is None:  # a bad name was known before the batch: others still run
                failed.set()
            failures.log(task, error)
            return {
                **_row(task),
                "status": "failed",
                "error": str(error),
                "seconds": time.perf_counter() - began,
                "exception": error,
            }

    try:
        rows = _run_all(tasks, run, bar, workers, transport.abort, on_row)
    finally:
        bar.close()
        failures.close()
        _remove_if_empty(made)
    errors = [row.pop("exception") for row in rows if "exception" in row]
    if bar.stop.is_set():
        raise DownloadInterrupted(_report(rows))
    if errors and raise_on_failure:
        raise errors[0]
    return _report(rows)


class _FailureLog:
    """Logs each distinct failure of a batch once: a refusal every file meets (a sign-in the
    batch needs) is one warning, then one short line saying how many more files it stopped
    (the reason was said once already)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, int]] = {}  # reason: the first file's name, count
        self._lock = threading.Lock()

    def log(self, task: FileTask, error: BaseException) -> None:
        reason = str(error).replace(public_href(task.href), "<file>")
        with self._lock:
            name, count = self._seen.get(reason, (task.target.name, 0))
            self._seen[reason] = name, count + 1
        if not count:
            logger.warning("%s", error)
        else:
            logger.debug("%s", error)

    def close(self) -> None:
        for name, count in self._seen.values():
            if count > 1:
                logger.warning("%d more files failed the same way as %s", count - 1, name)


def _run_all(
    tasks: Sequence[FileTask],
    run: Callable[[FileTask], dict[str, Any]],
    bar: _Progress,
    workers: int,
    abort: Callable[[], None],
    on_row: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every task's row, in task order; an interrupt stops the transfers at their next chunk.

    The rows of an interrupted batch say what became of each file: done, ``interrupted`` (its
    partial file kept) or ``cancelled`` (never started), and ``bar.stop`` is set.
    """
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(tasks))))
    futures = {pool.submit(run, task): index for index, task in enumerate(tasks)}
    try:
        for future in as_completed(futures):  # waits interruptibly, unlike a pool's exit
            index = futures[future]
            rows[index] = future.result()
            if on_row is not None:
                on_row(index, rows[index])
    except (KeyboardInterrupt, Stopped):
        bar.stop.set()  # each transfer raises Stopped at its next chunk
        abort()  # or now, where a server stalls between chunks
        pool.shutdown(wait=True, cancel_futures=True)
        for future, index in futures.items():
            if future.cancelled():
                rows[index] = {**_row(tasks[index]), "status": "cancelled", "seconds": 0.0}
            elif future.exception() is not None:  # Stopped, or what a shut socket raised
                logger.debug("%s: %r", tasks[index].target, future.exception())
                rows[index] = {**_row(tasks[index]), "status": "interrupted", "seconds": 0.0}
            else:
                rows[index] = future.result()
    finally:
        pool.shutdown(wait=True)
    return [row for row in rows if row is not None]


def _report(rows: list[dict[str, Any]]) -> pd.DataFrame:
    report = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    report["bytes"] = report["bytes"].astype("int64")
    return report


def _row(task: FileTask) -> dict[str, Any]:
    return {
        "product": task.product,
        "kind": task.kind,
        "href": task.href,
        "path": str(task.target),
        "bytes": 0,
        "status": "downloaded",
        "error": None,
    }
