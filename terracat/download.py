"""The downloader: the files behind product rows, fetched concurrently, exactly and safely.

Every file is written under a partial name in its target directory and renamed only once its
size matches the server's; an interrupted transfer resumes with a Range request from the bytes
already on disk; a complete file is skipped. Names derived from ids and hrefs are checked to
stay inside the target directory. http(s) goes through the catalogue's pooled session (redirects
followed by hand: a login page is an error, another host gets no credentials), ``s3://``
through boto3 and ``file://`` (Terrascope's ``accessedFrom="MEP"`` paths) by copy or link.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import pandas as pd
import requests
from tqdm.auto import tqdm

from terracat._http import TRANSIENT_ERRORS, make_session, sleep_before_retry
from terracat.config import CatalogueConfig
from terracat.exceptions import ParameterParserException, ProductDownloadException, TerracatError

__all__ = [
    "REPORT_COLUMNS",
    "FileTask",
    "Transport",
    "download",
    "file_tasks",
    "human_size",
    "product_directory",
]

logger = logging.getLogger(__name__)

FILE_KINDS = ("data", "related", "previews", "alternates")
REPORT_COLUMNS = ("product", "kind", "href", "path", "bytes", "status", "error", "seconds")
PARTIAL_SUFFIX = ".terracat-partial"
MAX_REDIRECTS = 5
LOGIN_MARKERS = ("/protocol/openid-connect/auth", "/login", "/oauth2/authorize")


@dataclass(frozen=True)
class FileTask:
    """One file to fetch: where from, where to, and the size the catalogue announced."""

    product: str
    kind: str
    href: str
    length: int | None
    target: Path


def human_size(size: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: sizes in the confirmation prompt and the summary."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _safe_name(name: str, what: str) -> str:
    """``name`` if it is one harmless path component, else a ProductDownloadException."""
    decoded = unquote(name)
    bad = (
        not name
        or name in (".", "..")
        or decoded in (".", "..")
        or any(sep in decoded for sep in ("/", "\\", "\x00"))
        or any(ord(c) < 32 for c in decoded)
        or os.path.isabs(name)
    )
    if bad:
        raise ProductDownloadException(
            f"{what} {name!r} cannot be used as a file or directory name: it could write outside "
            "the target directory"
        )
    return name


def product_directory(product_id: str) -> str:
    """The directory name of a product: its id after the last ``:``, as the reference lays out."""
    return _safe_name(product_id.rsplit(":", 1)[-1], "product id")


def _file_name(href: str) -> str:
    path = urlsplit(href).path if "://" in href else href
    return _safe_name(path.rstrip("/").rsplit("/", 1)[-1], "file name in href")


def _inside(root: Path, target: Path) -> Path:
    resolved_root = root.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(resolved_root):
        raise ProductDownloadException(f"{target} resolves outside the target directory {root}")
    return target


def file_tasks(
    rows: Iterable[tuple[str, dict[str, Sequence[dict[str, Any]]]]],
    root: Path,
    kinds: Sequence[str],
    *,
    flat: bool = False,
) -> list[FileTask]:
    """The files of ``(product id, {kind: links})`` rows, laid out as ``root/<product>/<file>``.

    ``flat`` puts files straight into ``root`` (the reference's ``download_file``).
    """
    tasks = []
    targets: set[Path] = set()  # a file listed twice (a repeated row) is fetched once
    for product, links in rows:
        directory = root if flat else root / product_directory(product)
        for kind in kinds:
            for link in links.get(kind) or ():
                href = link.get("href")
                if not href:
                    continue
                target = _inside(root, directory / _file_name(href))
                if target in targets:
                    continue
                targets.add(target)
                length = link.get("length")
                tasks.append(
                    FileTask(
                        product, kind, href, int(length) if length is not None else None, target
                    )
                )
    return tasks


class _Progress:
    """A thread-safe byte counter over a tqdm bar (or nothing)."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self._bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not enabled,
            desc="download",
        )
        self._lock = threading.Lock()

    def __call__(self, count: int) -> None:
        with self._lock:
            self._bar.update(count)

    def close(self) -> None:
        self._bar.close()


class Transport:
    """Moves one file's bytes from its href into a partial file; one per download batch.

    Parameters
    ----------
    session :
        the catalogue's pooled session, carrying its credentials
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
        self.login_prefixes = tuple(p for p in login_prefixes if p)
        self.link = link
        self.renew = renew
        self._anonymous: requests.Session | None = None
        self._anonymous_lock = threading.Lock()

    def _session_elsewhere(self) -> requests.Session:
        """A session of its own, without credentials, for hosts a download redirects to."""
        with self._anonymous_lock:
            if self._anonymous is None:
                self._anonymous = make_session(self.config, pool_size=4)
            return self._anonymous

    def close(self) -> None:
        """Close the connections to other hosts (the catalogue's own pool stays open)."""
        if self._anonymous is not None:
            self._anonymous.close()

    # ---- http ----------------------------------------------------------------------------------

    def _is_login(self, url: str) -> bool:
        return url.startswith(self.login_prefixes) or any(
            marker in urlsplit(url).path for marker in LOGIN_MARKERS
        )

    def _open(self, href: str, start: int) -> requests.Response:
        """GET ``href`` from byte ``start``, following redirects by hand."""
        url, session, renewed = href, self.session, False
        origin = urlsplit(href).netloc
        for _ in range(MAX_REDIRECTS + 2):
            headers = {"Range": f"bytes={start}-"} if start else {}
            response = session.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=self.config.download_timeout,
            )
            if not response.is_redirect:
                return response
            location = urljoin(url, response.headers["Location"])
            response.close()
            if self._is_login(location) and self.renew is not None and not renewed:
                self.renew()  # the token was refused before its time: renew it, ask again
                url, session, renewed = href, self.session, True
                continue
            if self._is_login(location):
                raise ProductDownloadException(
                    f"{_public(href)} needs a signed-in user: the catalogue redirected to its login "
                    "page. Sign in first with Catalogue.authenticate() or authenticate_non_interactive()."
                )
            url = location
            if urlsplit(location).netloc != origin:
                session = self._session_elsewhere()  # credentials stay with the catalogue's host
        raise ProductDownloadException(f"{_public(href)}: more than {MAX_REDIRECTS} redirects")

    def fetch_http(
        self, task: FileTask, partial: Path, progress: Callable[[int], None]
    ) -> tuple[int, bool]:
        """Fetch into ``partial``, resuming from what it holds; (bytes written now, resumed?)."""
        written_now, resumed = 0, False
        for attempt in range(self.config.retries + 1):
            start = partial.stat().st_size if partial.exists() else 0
            try:
                with self._open(task.href, start) as response:
                    total = self._check(task, response, start)
                    if response.status_code == 416:
                        return written_now, resumed
                    if response.status_code == 200 and start:
                        start = 0  # the server ignored the range: start over
                    resumed = resumed or start > 0
                    mode = "ab" if start else "wb"
                    with open(partial, mode) as out:
                        # read1 hands over what has arrived, so a cut loses no received byte
                        while chunk := response.raw.read1(self.config.http_download_chunk_size):
                            out.write(chunk)
                            written_now += len(chunk)
                            progress(len(chunk))
                    size = partial.stat().st_size
                    if total is not None and size != total:
                        raise requests.exceptions.ChunkedEncodingError(
                            f"got {size} of {total} bytes"
                        )
                    return written_now, resumed
            except TRANSIENT_ERRORS as error:
                if attempt == self.config.retries:
                    raise ProductDownloadException(
                        f"{_public(task.href)}: transfer failed after {attempt + 1} attempts ({error})"
                    ) from None
                logger.info("%s: %s; resuming", _public(task.href), type(error).__name__)
                sleep_before_retry(attempt)
        raise AssertionError("unreachable")

    def _check(self, task: FileTask, response: requests.Response, start: int) -> int | None:
        """The file's full size from the answer's headers, or an error for a refusal."""
        status = response.status_code
        if status == 416:
            whole = response.headers.get("Content-Range", "").rpartition("/")[2]
            if whole.isdigit() and int(whole) == start:
                return start  # the partial file is already complete
            raise requests.exceptions.ChunkedEncodingError(f"range from {start} refused")
        if status in (401, 403):
            raise ProductDownloadException(
                f"{_public(task.href)}: HTTP {status}, not authorised. Sign in with "
                "Catalogue.authenticate() or authenticate_non_interactive()."
            )
        if status not in (200, 206):
            raise ProductDownloadException(f"{_public(task.href)}: HTTP {status} {response.reason}")
        if status == 206:
            whole = response.headers.get("Content-Range", "").rpartition("/")[2]
            total = int(whole) if whole.isdigit() else None
        else:
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None and length.isdigit() else None
        if total is not None and task.length is not None and total != task.length:
            logger.warning(
                "%s: the catalogue says %d bytes, the server %d; trusting the server",
                _public(task.href),
                task.length,
                total,
            )
        return total

    # ---- file and s3 ---------------------------------------------------------------------------

    def fetch_file(self, task: FileTask, partial: Path, progress: Callable[[int], None]) -> int:
        source = Path(url2pathname(urlsplit(task.href).path))
        if not source.is_file():
            raise ProductDownloadException(f"{task.href}: no such file on this machine")
        if self.link:
            os.symlink(source, partial)
            return 0
        shutil.copyfile(source, partial)
        size = partial.stat().st_size
        progress(size)
        return size

    def fetch_s3(self, task: FileTask, partial: Path, progress: Callable[[int], None]) -> int:
        from terracat._s3 import s3_download

        return s3_download(task.href, partial, self.config, on_bytes=progress)


def _public(href: str) -> str:
    """An href fit for a log line or a message: its query string (presigned secrets) dropped."""
    parts = urlsplit(href)
    return parts._replace(query="", fragment="").geturl() if parts.query else href


def _complete(task: FileTask) -> bool:
    if not task.target.exists():
        return False
    return task.length is None or task.target.stat().st_size == task.length


def _fetch_one(
    task: FileTask, transport: Transport, progress: Callable[[int], None], overwrite: bool
) -> dict[str, Any]:
    began = time.perf_counter()
    row = _row(task)
    if not overwrite and _complete(task):
        row["status"] = "skipped"  # bytes: what this run transferred, nothing here
        progress(task.target.stat().st_size)
        row["seconds"] = time.perf_counter() - began
        return row
    partial = task.target.with_name(task.target.name + PARTIAL_SUFFIX)
    task.target.parent.mkdir(parents=True, exist_ok=True)
    scheme = urlsplit(task.href).scheme.lower()
    if scheme in ("http", "https"):
        if overwrite and partial.exists():
            partial.unlink()
        written, resumed = transport.fetch_http(task, partial, progress)
        row["status"] = "resumed" if resumed else "downloaded"
    else:
        partial.unlink(missing_ok=True)
        if scheme == "file":
            written = transport.fetch_file(task, partial, progress)
        elif scheme == "s3":
            written = transport.fetch_s3(task, partial, progress)
        else:
            raise ProductDownloadException(
                f"{_public(task.href)} is not a downloadable href (http, https, s3 or file)"
            )
    os.replace(partial, task.target)
    row["bytes"] = written
    row["seconds"] = time.perf_counter() - began
    return row


def download(
    tasks: Sequence[FileTask],
    transport: Transport,
    *,
    workers: int,
    progress: bool,
    overwrite: bool,
    raise_on_failure: bool,
) -> pd.DataFrame:
    """Fetch ``tasks`` on ``workers`` threads; the report has one row per file, in task order.

    With ``raise_on_failure`` the first failure is raised once the transfers under way have
    ended (nothing half-written is left under a final name either way); without it, failures
    are rows with status ``failed`` and their error.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterParserException(f"workers must be a positive whole number, got {workers!r}")
    total = sum(t.length for t in tasks if t.length is not None) or None
    bar = _Progress(total, progress)
    failed = threading.Event()

    def run(task: FileTask) -> dict[str, Any]:
        began = time.perf_counter()
        if failed.is_set() and raise_on_failure:
            return {**_row(task), "status": "cancelled", "seconds": 0.0}
        try:
            return _fetch_one(task, transport, bar, overwrite)
        except (TerracatError, OSError) as error:
            failed.set()
            logger.warning("%s", error)
            return {
                **_row(task),
                "status": "failed",
                "error": str(error),
                "seconds": time.perf_counter() - began,
                "exception": error,
            }

    try:
        if workers == 1 or len(tasks) <= 1:
            rows = [run(task) for task in tasks]
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
                rows = list(pool.map(run, tasks))
    finally:
        bar.close()
    errors = [row.pop("exception") for row in rows if "exception" in row]
    if errors and raise_on_failure:
        raise errors[0]
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
