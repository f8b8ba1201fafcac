"""The downloader: the files behind product rows, fetched concurrently, exactly and safely.

Every file is written under a partial name in its target directory and renamed only once its
size matches the catalogue's length (or, when the catalogue gives none, the server's); an
interrupted transfer resumes with a Range request from the bytes already on disk; a complete
file (a regular file of the right size) is skipped. The partial file is opened without following
a symbolic link and locked (``flock``) while it is written, so two runs downloading into the same
directory at once take turns instead of writing one file together; a partial file that cannot be
right (longer than the file, or answered with a range that does not start where it ends) is
discarded and the transfer starts over. Names derived from ids and hrefs are checked to stay
inside the target directory; one that cannot be used fails its own row only. http(s) goes
through the catalogue's pooled session (redirects followed by hand: a login page is an error,
a host outside the token's scope gets no credentials, a non-http(s) location is refused), ``s3://`` through boto3
and ``file://`` (Terrascope's ``accessedFrom="MEP"`` paths) by copy or link.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import pandas as pd
import requests
from tqdm.auto import tqdm

from terracat import _defaults
from terracat._http import TRANSIENT_ERRORS, make_session, retry_budget, sleep_before_retry
from terracat.auth import TokenScope
from terracat.config import CatalogueConfig
from terracat.exceptions import ParameterParserException, ProductDownloadException, TerracatError

try:  # POSIX: a partial file is locked while one run writes it
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs there do not take turns
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "REPORT_COLUMNS",
    "FileTask",
    "Transport",
    "download",
    "file_tasks",
    "human_size",
    "partial_path",
    "product_directory",
]

logger = logging.getLogger(__name__)

FILE_KINDS = ("data", "related", "previews", "alternates")
REPORT_COLUMNS = ("product", "kind", "href", "path", "bytes", "status", "error", "seconds")
PARTIAL_SUFFIX = ".terracat-partial"
LINK_SUFFIX = ".link" + PARTIAL_SUFFIX  # where a link=True symlink is made before its rename
MAX_REDIRECTS = 5
LOGIN_MARKERS = ("/protocol/openid-connect/auth", "/login", "/oauth2/authorize")
FOLLOWED_SCHEMES = ("http", "https")
PARTIAL_DIGEST_CHARS = 16  # of a long name's sha256: tells shortened names apart
PARTIAL_OPEN_ATTEMPTS = 10  # a partial name another run keeps renaming or relinking
IDENTITY_ENCODINGS = ("", "identity")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_QUERY = re.compile(r"\?[^\s'\"()]*")


@dataclass(frozen=True)
class FileTask:
    """One file to fetch: where from, where to, and the size the catalogue announced.

    ``problem`` says why the file cannot be fetched at all (an id or a file name that cannot be
    made a safe path): such a task is reported as a failed row without touching the disk, so one
    bad product does not stop a batch.
    """

    product: str
    kind: str
    href: str
    length: int | None
    target: Path
    problem: str | None = None


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


def _target(root: Path, product: str, href: str, flat: bool) -> Path:
    directory = root if flat else root / product_directory(product)
    return _inside(root, directory / _file_name(href))


def file_tasks(
    rows: Iterable[tuple[str, dict[str, Sequence[dict[str, Any]]]]],
    root: Path,
    kinds: Sequence[str],
    *,
    flat: bool = False,
) -> list[FileTask]:
    """The files of ``(product id, {kind: links})`` rows, laid out as ``root/<product>/<file>``.

    ``flat`` puts files straight into ``root`` (the reference's ``download_file``). A file whose
    product id or name cannot be made a safe path becomes a task with a ``problem`` (its target
    is ``root``): the downloader reports it as failed and fetches the others.
    """
    tasks = []
    seen: set[object] = set()  # a file listed twice (a repeated row) is fetched once
    for product, links in rows:
        for kind in kinds:
            for link in links.get(kind) or ():
                href = link.get("href")
                if not href:
                    continue
                try:
                    target, problem = _target(root, product, href, flat), None
                except ProductDownloadException as error:
                    target, problem = root, str(error)
                key = (product, href) if problem else target
                if key in seen:
                    continue
                seen.add(key)
                length = link.get("length")
                tasks.append(
                    FileTask(
                        product,
                        kind,
                        href,
                        int(length) if length is not None else None,
                        target,
                        problem,
                    )
                )
    return tasks


# ---- partial files -------------------------------------------------------------------------


def _name_max(directory: Path) -> int:
    """The longest file name (in bytes) ``directory``'s filesystem takes."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such directory yet, or no pathconf
        return _defaults.FILE_NAME_MAX


def partial_path(target: Path, suffix: str = PARTIAL_SUFFIX) -> Path:
    """The partial name of ``target``: ``<name><suffix>``, shortened to fit the filesystem.

    A name too long for the suffix keeps its head (cut on a character boundary) and gains a
    hash of the whole name, so two long names sharing a head still get distinct partial files
    and the name still ends in ``suffix``.
    """
    name = target.name + suffix
    limit = _name_max(target.parent)
    if len(os.fsencode(name)) <= limit:
        return target.with_name(name)
    encoded = os.fsencode(target.name)
    digest = hashlib.sha256(encoded).hexdigest()[:PARTIAL_DIGEST_CHARS]
    room = max(limit - len(suffix) - len(digest) - 1, 0)
    head = encoded[:room].decode("utf-8", "ignore")  # never half a character
    while len(os.fsencode(head)) > room:  # names that are not UTF-8 (surrogate escapes)
        head = head[:-1]
    return target.with_name(f"{head}-{digest}{suffix}")


class _PartialFile:
    """A partial file opened for writing: a regular file (never a link followed), locked.

    The lock (``flock``, exclusive) is held from opening until the file is renamed to its final
    name or left for a later resume, so a second run writing the same file at the same time
    waits and then finds the file complete. Use as a context manager.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def __enter__(self) -> _PartialFile:
        self._file = _open_locked(self.path)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def file(self) -> IO[bytes]:
        if self._file is None:
            raise RuntimeError(f"{self.path} is not open: use _PartialFile as a context manager")
        return self._file

    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def append(self, data: bytes) -> None:
        """Write ``data`` at the end; a short write (a filling disk) writes the rest or raises."""
        self.file.seek(0, os.SEEK_END)
        view = memoryview(data)
        while view:
            view = view[self.file.write(view) or 0 :]

    def restart(self) -> None:
        """Discard every byte: what the file holds cannot be part of the file."""
        self.file.seek(0)
        self.file.truncate(0)

    def discard_if_empty(self) -> None:
        """Remove the partial file when it holds nothing worth resuming from."""
        if self._file is not None and self.size() == 0:
            self.path.unlink(missing_ok=True)

    def finish(self, target: Path) -> None:
        """Rename to ``target``, still under the lock: a waiting run then sees it complete."""
        os.replace(self.path, target)


def _open_locked(path: Path) -> IO[bytes]:
    """``path`` opened read-write without following a link, a regular file, locked for us.

    A symbolic link planted at the partial name is removed, never written through. Once the lock
    is ours the name must still be our file: the run that held the lock may have renamed it to
    its final name meanwhile, and then a new partial file is opened.
    """
    for _ in range(PARTIAL_OPEN_ATTEMPTS):
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o666)
        except OSError as error:
            if not path.is_symlink():
                raise
            logger.warning("%s is a symbolic link (%s): removed, not followed", path, error.errno)
            path.unlink(missing_ok=True)
            continue
        opened = os.fdopen(descriptor, "r+b", buffering=0)  # a size is what is on disk
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise ProductDownloadException(
                    f"{path} is in the way of a download and is not a regular file: remove it"
                )
            _lock(opened, path)
            if os.path.samestat(os.fstat(descriptor), os.lstat(path)):
                return opened
        except FileNotFoundError:
            pass  # renamed to its final name by the run we waited for
        except BaseException:
            opened.close()
            raise
        opened.close()
    raise ProductDownloadException(
        f"{path}: keeps being replaced while terracat opens it; is something else writing there?"
    )


def _lock(opened: IO[bytes], path: Path) -> None:
    if fcntl is None:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(opened.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        logger.info("%s: another download is writing it; waiting for it to end", path)
        fcntl.flock(opened.fileno(), fcntl.LOCK_EX)


class _StartOver(Exception):
    """What the partial file holds cannot be the start of the file: discard it, ask again."""


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
        self.scope = TokenScope.of(config)
        self._anonymous: requests.Session | None = None
        self._anonymous_lock = threading.Lock()

    def _session_elsewhere(self) -> requests.Session:
        """A session of its own, without credentials, for hosts outside the token's scope."""
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
        url, renewed = href, False
        for _ in range(MAX_REDIRECTS + 2):
            # the token only where it belongs: a file on another host, or a redirect there, is
            # asked for without credentials (the signer would withhold them too)
            covered = self.scope.covers(url)
            session = self.session if covered else self._session_elsewhere()
            # the file's own bytes: a compressed answer would be saved compressed, and a range
            # of an encoded body counts encoded bytes, which the partial file does not hold
            headers = {"Accept-Encoding": "identity"}
            if start:
                headers["Range"] = f"bytes={start}-"
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
            _check_followed(href, location)
            if self._is_login(location) and covered and self.renew is not None and not renewed:
                self.renew()  # the token was refused before its time: renew it, ask again
                url, renewed = href, True
                continue
            if self._is_login(location):
                raise ProductDownloadException(
                    f"{_public(href)} needs a signed-in user: the catalogue redirected to its login "
                    "page. Sign in first with Catalogue.authenticate() or authenticate_non_interactive()."
                )
            url = location
        raise ProductDownloadException(f"{_public(href)}: more than {MAX_REDIRECTS} redirects")

    def fetch_http(
        self, task: FileTask, partial: Path | _PartialFile, progress: Callable[[int], None]
    ) -> tuple[int, bool]:
        """Fetch into ``partial``, resuming from what it holds; (bytes written now, resumed?).

        ``partial`` is a path (opened and locked here) or a partial file already open.
        """
        if isinstance(partial, Path):
            with _PartialFile(partial) as opened:
                return self.fetch_http(task, opened, progress)
        written = 0

        def count(size: int) -> None:
            nonlocal written
            written += size
            progress(size)

        resumed, restarts = False, 0
        # one budget for the file, shared with urllib3's own retries of each request: Retries = 1
        # means two attempts at most, whichever layer makes them
        with retry_budget(self.config.retries) as budget:
            while True:
                start = _resume_point(task, partial)
                try:
                    resumed = self._transfer(task, partial, start, count) or resumed
                    return written, resumed
                except _StartOver as reason:
                    restarts += 1
                    if restarts > self.config.retries + 1:
                        raise ProductDownloadException(
                            f"{_public(task.href)}: {reason}, again after starting over"
                        ) from None
                    logger.warning("%s: %s; starting over", _public(task.href), reason)
                    partial.restart()
                except TRANSIENT_ERRORS as error:
                    if not budget.take():
                        raise ProductDownloadException(
                            f"{_public(task.href)}: transfer failed after {budget.attempts} "
                            f"attempts ({_scrubbed(error)}); the partial file {partial.path} is "
                            "kept for a later run to resume"
                        ) from None
                    logger.info("%s: %s; resuming", _public(task.href), type(error).__name__)
                    sleep_before_retry(budget.spent - 1)
                except requests.RequestException as error:  # not worth retrying: a bad URL
                    raise ProductDownloadException(
                        f"{_public(task.href)}: {type(error).__name__} ({_scrubbed(error)})"
                    ) from None

    def _transfer(
        self, task: FileTask, partial: _PartialFile, start: int, count: Callable[[int], None]
    ) -> bool:
        """One request: append the answer to ``partial``; whether it resumed a partial file."""
        with self._open(task.href, start) as response:
            declared = self._check(task, response, start)
            if response.status_code == 416:
                return False  # the partial file is the whole file already
            encoded = _encoded(task, response)
            if response.status_code == 200 and start:
                partial.restart()  # the server ignored the range: start over
                start = 0
            expected = task.length if task.length is not None else declared
            size = start
            # read1 hands over what has arrived, so a cut loses no received byte
            chunk_size = self.config.http_download_chunk_size
            while chunk := response.raw.read1(chunk_size, decode_content=encoded):
                size += len(chunk)
                if expected is not None and size > expected:
                    partial.restart()
                    raise ProductDownloadException(
                        f"{_public(task.href)}: the server sent more than the {expected} bytes "
                        "the file has; nothing saved"
                    )
                partial.append(chunk)
                count(len(chunk))
            size = partial.size()
            if expected is not None and size != expected:
                raise requests.exceptions.ChunkedEncodingError(f"got {size} of {expected} bytes")
            return start > 0

    def _check(self, task: FileTask, response: requests.Response, start: int) -> int | None:
        """The file's full size the answer declares (None: unknown), or an error for a refusal.

        Raises ``_StartOver`` when the answer shows the partial file cannot be right.
        """
        status = response.status_code
        if status == 416:
            return _refused_range(task, response, start)
        if status in (401, 403):
            raise ProductDownloadException(
                f"{_public(task.href)}: HTTP {status}, not authorised. Sign in with "
                "Catalogue.authenticate() or authenticate_non_interactive()."
            )
        if status not in (200, 206):
            raise ProductDownloadException(f"{_public(task.href)}: HTTP {status} {response.reason}")
        if status == 206:
            total = _partial_content(task, response, start)
        elif _encoding(response) in IDENTITY_ENCODINGS:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
        else:
            total = None  # Content-Length counts the encoded bytes, not the file's
        if total is not None and task.length is not None and total != task.length:
            raise ProductDownloadException(
                f"{_public(task.href)}: the catalogue says {task.length} bytes, the server "
                f"{total}; a file that matches neither cannot be checked, so it is not saved"
            )
        return total

    # ---- file and s3 ---------------------------------------------------------------------------

    def fetch_file(
        self, task: FileTask, partial: _PartialFile, progress: Callable[[int], None]
    ) -> int:
        """Copy a ``file://`` href into ``partial``; with ``link``, the caller links instead."""
        source = _source(task)
        partial.restart()
        with open(source, "rb") as copied:
            while chunk := copied.read(self.config.http_download_chunk_size):
                partial.append(chunk)
                progress(len(chunk))
        return partial.size()

    def link_file(self, task: FileTask) -> None:
        """Make ``task.target`` a symbolic link to the ``file://`` href (``link=True``)."""
        source = _source(task)
        made = partial_path(task.target, LINK_SUFFIX)
        made.unlink(missing_ok=True)
        os.symlink(source, made)
        os.replace(made, task.target)

    def fetch_s3(
        self, task: FileTask, partial: _PartialFile, progress: Callable[[int], None]
    ) -> int:
        from terracat._s3 import s3_download

        return s3_download(task.href, partial.path, self.config, on_bytes=progress)


def _check_followed(href: str, location: str) -> None:
    """Refuse a redirect off http(s): a ``file://`` or ``ftp://`` location is not a download."""
    scheme = urlsplit(location).scheme.lower()
    if scheme not in FOLLOWED_SCHEMES:
        raise ProductDownloadException(
            f"{_public(href)} redirected to a {scheme or 'scheme-less'} URL; only http and "
            "https redirects are followed, nothing was saved"
        )


def _resume_point(task: FileTask, partial: _PartialFile) -> int:
    """Where to resume: the partial file's size, or 0 once a too-long partial is discarded."""
    size = partial.size()
    if task.length is not None and size > task.length:
        logger.warning(
            "%s holds %d bytes, more than the file's %d: starting over",
            partial.path,
            size,
            task.length,
        )
        partial.restart()
        return 0
    return size


def _refused_range(task: FileTask, response: requests.Response, start: int) -> int:
    """A 416: the partial file is complete (its size is the file's), or it cannot be right."""
    _, total = _content_range(response.headers.get("Content-Range", ""))
    if start and total == start:
        return start
    if start:
        raise _StartOver(f"the server refused a range from byte {start} (the file has {total})")
    raise ProductDownloadException(f"{_public(task.href)}: HTTP 416 for the whole file")


def _partial_content(task: FileTask, response: requests.Response, start: int) -> int | None:
    """The file's size from a 206's Content-Range, which must start where the partial ends."""
    first, total = _content_range(response.headers.get("Content-Range", ""))
    if first == start:
        return total
    if start:
        raise _StartOver(f"asked for bytes from {start}, the server sent them from {first}")
    raise ProductDownloadException(
        f"{_public(task.href)}: a partial answer (206) to a request for the whole file"
    )


def _content_range(value: str) -> tuple[int | None, int | None]:
    """``bytes 10-19/100`` -> ``(10, 100)``; ``bytes */100`` -> ``(None, 100)``; else Nones."""
    matched = _CONTENT_RANGE.fullmatch(value.strip())
    if matched:
        total = matched.group(3)
        return int(matched.group(1)), int(total) if total.isdigit() else None
    whole = value.rpartition("/")[2].strip()
    return None, int(whole) if whole.isdigit() else None


def _encoding(response: requests.Response) -> str:
    return response.headers.get("Content-Encoding", "").strip().lower()


def _encoded(task: FileTask, response: requests.Response) -> bool:
    """Whether the body must be decoded (asked for identity, a server may encode anyway)."""
    encoding = _encoding(response)
    if encoding in IDENTITY_ENCODINGS:
        return False
    if response.status_code == 206:
        # the range counts encoded bytes: they cannot continue the decoded partial file
        raise _StartOver(f"the server encoded a resumed range ({encoding})")
    decoders = getattr(response.raw, "CONTENT_DECODERS", ())
    if any(part.strip() not in decoders for part in encoding.split(",")):
        raise ProductDownloadException(
            f"{_public(task.href)}: the server encoded the file as {encoding!r}, which terracat "
            "cannot decode (it asked for identity)"
        )
    return True


def _source(task: FileTask) -> Path:
    source = Path(url2pathname(urlsplit(task.href).path))
    if not source.is_file():
        raise ProductDownloadException(f"{task.href}: no such file on this machine")
    return source


def _public(href: str) -> str:
    """An href fit for a log line or a message: its query string (presigned secrets) dropped."""
    parts = urlsplit(href)
    return parts._replace(query="", fragment="").geturl() if parts.query else href


def _scrubbed(error: BaseException) -> str:
    """An error's text with every URL query string dropped (requests quotes the URL it asked)."""
    return _QUERY.sub("?...", str(error))


def _complete(task: FileTask, link: bool) -> bool:
    """Whether the target is already the file: a regular file of the catalogued size.

    A symbolic link counts only as a ``link=True`` download of a ``file://`` href pointing at
    its source; a link or directory anywhere else is never taken for a complete file.
    """
    try:
        found = os.lstat(task.target)
    except OSError:  # FileNotFoundError, or a name the filesystem refuses: not there
        return False
    if stat.S_ISLNK(found.st_mode):
        linked = link and urlsplit(task.href).scheme.lower() == "file"
        return linked and task.target.resolve() == _source(task).resolve()
    if not stat.S_ISREG(found.st_mode):
        return False
    return task.length is None or found.st_size == task.length


def _skipped(task: FileTask, row: dict[str, Any], progress: Callable[[int], None]) -> None:
    row["status"] = "skipped"  # bytes: what this run transferred, nothing here
    progress(task.length if task.length is not None else os.lstat(task.target).st_size)


def _fetch_one(
    task: FileTask, transport: Transport, progress: Callable[[int], None], overwrite: bool
) -> dict[str, Any]:
    began = time.perf_counter()
    row = _row(task)
    if task.problem is not None:
        raise ProductDownloadException(task.problem)
    scheme = urlsplit(task.href).scheme.lower()
    if scheme not in (*FOLLOWED_SCHEMES, "s3", "file"):
        raise ProductDownloadException(
            f"{_public(task.href)} is not a downloadable href (http, https, s3 or file)"
        )
    try:
        if not overwrite and _complete(task, transport.link):
            _skipped(task, row, progress)
        else:
            task.target.parent.mkdir(parents=True, exist_ok=True)
            _check_name_fits(task.target)
            with _PartialFile(partial_path(task.target)) as partial:
                _fill(task, transport, partial, progress, overwrite, row)
    except OSError as error:
        if isinstance(error, requests.RequestException):
            raise
        raise ProductDownloadException(_disk_message(task, error)) from error
    row["seconds"] = time.perf_counter() - began
    return row


def _check_name_fits(target: Path) -> None:
    """Refuse a final name the filesystem cannot hold before any byte is fetched for it."""
    if len(os.fsencode(target.name)) > _name_max(target.parent):
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target))


def _fill(
    task: FileTask,
    transport: Transport,
    partial: _PartialFile,
    progress: Callable[[int], None],
    overwrite: bool,
    row: dict[str, Any],
) -> None:
    """Fetch ``task`` into its locked ``partial`` file and rename it complete (or fail)."""
    if not overwrite and _complete(task, transport.link):
        partial.discard_if_empty()  # another run completed it while this one waited
        _skipped(task, row, progress)
        return
    scheme = urlsplit(task.href).scheme.lower()
    try:
        if scheme in FOLLOWED_SCHEMES:
            if overwrite:
                partial.restart()
            written, resumed = transport.fetch_http(task, partial, progress)
            row["status"] = "resumed" if resumed else "downloaded"
        elif scheme == "file" and transport.link:
            transport.link_file(task)
            partial.discard_if_empty()
            return
        elif scheme == "file":
            written = transport.fetch_file(task, partial, progress)
        else:
            written = transport.fetch_s3(task, partial, progress)
    except BaseException:
        partial.discard_if_empty()  # nothing received: leave nothing behind
        raise
    partial.finish(task.target)
    row["bytes"] = written


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
) -> pd.DataFrame:
    """Fetch ``tasks`` on ``workers`` threads; the report has one row per file, in task order.

    With ``raise_on_failure`` the first failure is raised once the transfers under way have
    ended (nothing half-written is left under a final name either way); without it, failures
    are rows with status ``failed`` and their error. A task with a ``problem`` (an unsafe id or
    file name) fails without stopping the others.
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
            if task.problem is None:  # a bad name was known before the batch: others still run
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
