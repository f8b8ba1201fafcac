"""The http(s) fetcher: one file through the catalogue's pooled session, resumed, checked.

An interrupted transfer resumes with a Range request from the bytes already on disk; a partial
file that cannot be right (longer than the file, or answered with a range that does not start
where it ends) is discarded and the transfer starts over. The file's own bytes are asked for
(``Accept-Encoding: identity``); a server that encodes anyway is decoded, and a resumed range of
an encoded body starts over. Redirects are followed by hand: a login page is an error, a host
outside the token's scope gets no credentials (``TokenScope.of(config)`` decides which session a
request goes out on), a non-http(s) location is refused. Retries take one budget per file,
shared with urllib3's own.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from terracat._http import (
    TRANSIENT_ERRORS,
    check_stopped,
    make_session,
    retry_budget,
    sleep_before_retry,
)
from terracat.auth import TokenScope
from terracat.config import CatalogueConfig
from terracat.exceptions import ProductDownloadException
from terracat.transfer.base import Fetched, Fetcher, PartialFile, Progress, Stopped
from terracat.transfer.layout import FileTask, public_href

__all__ = ["FOLLOWED_SCHEMES", "SIGN_IN_ADVICE", "HttpFetcher"]

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
SIGN_IN_ADVICE = "Catalogue.authenticate() or authenticate_non_interactive()"
"""How a refusal for sign-in says to sign in, from Python; the command line says it its way."""
LOGIN_MARKERS = ("/protocol/openid-connect/auth", "/login", "/oauth2/authorize")
FOLLOWED_SCHEMES = ("http", "https")
IDENTITY_ENCODINGS = ("", "identity")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_QUERY = re.compile(r"\?[^\s'\"()]*")


class _StartOver(Exception):
    """What the partial file holds cannot be the start of the file: discard it, ask again."""


class HttpFetcher(Fetcher):
    """Fetches http(s) hrefs into partial files, resuming; one per download batch.

    Parameters
    ----------
    session :
        the catalogue's pooled session, carrying its credentials
    config :
        timeouts, retries, chunk size and the token's scope
    login_prefixes :
        URL prefixes whose redirect means "sign in first" (the configured authorization endpoint)
    renew :
        renews the sign-in: a login redirect despite credentials is retried once after it
    """

    resumes = True

    def __init__(
        self,
        session: requests.Session,
        config: CatalogueConfig,
        *,
        login_prefixes: Sequence[str] = (),
        renew: Callable[[], Any] | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.login_prefixes = tuple(p for p in login_prefixes if p)
        self.renew = renew
        self.scope = TokenScope.of(config)
        self._anonymous: requests.Session | None = None
        self._anonymous_lock = threading.Lock()
        self._live: set[requests.Response] = set()  # bodies being read, for abort()
        self._aborted = False

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

    def abort(self) -> None:
        """Shut the sockets of the bodies being read: their threads stop now, not at a stalled
        server's next byte (or its read timeout)."""
        self._aborted = True
        with self._anonymous_lock:  # a body leaves the set (under the lock) before it closes
            for response in self._live:
                _shut(response)

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
                    f"{public_href(href)} needs a signed-in user: the catalogue redirected to its login "
                    f"page. Sign in first with {SIGN_IN_ADVICE}."
                )
            url = location
        raise ProductDownloadException(f"{public_href(href)}: more than {MAX_REDIRECTS} redirects")

    def fetch(self, task: FileTask, partial: PartialFile, progress: Progress) -> Fetched:
        """Fetch into ``partial``, resuming from what it holds: the bytes written now, resumed?"""
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
                if self._aborted:
                    raise Stopped
                check_stopped()  # the batch was stopped during the wait before this attempt
                start = _resume_point(task, partial)
                try:
                    resumed = self._transfer(task, partial, start, count) or resumed
                    return Fetched(written, resumed)
                except _StartOver as reason:
                    restarts += 1
                    if restarts > self.config.retries + 1:
                        raise ProductDownloadException(
                            f"{public_href(task.href)}: {reason}, again after starting over"
                        ) from None
                    logger.warning("%s: %s; starting over", public_href(task.href), reason)
                    partial.restart()
                except TRANSIENT_ERRORS as error:
                    if self._aborted:  # the socket was shut under it: an interrupt
                        raise Stopped from None
                    if not budget.take():
                        raise ProductDownloadException(
                            f"{public_href(task.href)}: transfer failed after {budget.attempts} "
                            f"attempts ({_scrubbed(error)}); the partial file {partial.path} is "
                            "kept for a later run to resume"
                        ) from None
                    logger.info("%s: %s; resuming", public_href(task.href), type(error).__name__)
                    sleep_before_retry(budget.spent - 1)
                except requests.RequestException as error:  # not worth retrying: a bad URL
                    raise ProductDownloadException(
                        f"{public_href(task.href)}: {type(error).__name__} ({_scrubbed(error)})"
                    ) from None

    def _transfer(
        self, task: FileTask, partial: PartialFile, start: int, count: Callable[[int], None]
    ) -> bool:
        """One request: append the answer to ``partial``; whether it resumed a partial file."""
        with self._open(task.href, start) as response, self._reading(response):
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
                        f"{public_href(task.href)}: the server sent more than the {expected} bytes "
                        "the file has; nothing saved"
                    )
                partial.append(chunk)
                count(len(chunk))
            size = partial.size()
            if expected is not None and size != expected:
                raise requests.exceptions.ChunkedEncodingError(f"got {size} of {expected} bytes")
            return start > 0

    @contextlib.contextmanager
    def _reading(self, response: requests.Response) -> Iterator[None]:
        """``response``'s body is being read: :meth:`abort` may shut its socket meanwhile."""
        with self._anonymous_lock:
            self._live.add(response)
        try:
            yield
        finally:
            with self._anonymous_lock:
                self._live.discard(response)
        if self._aborted:
            raise Stopped

    def _check(self, task: FileTask, response: requests.Response, start: int) -> int | None:
        """The file's full size the answer declares (None: unknown), or an error for a refusal.

        Raises ``_StartOver`` when the answer shows the partial file cannot be right.
        """
        status = response.status_code
        if status == 416:
            return _refused_range(task, response, start)
        if status in (401, 403):
            raise ProductDownloadException(
                f"{public_href(task.href)}: HTTP {status}, not authorised. Sign in with "
                f"{SIGN_IN_ADVICE}."
            )
        if status not in (200, 206):
            raise ProductDownloadException(
                f"{public_href(task.href)}: HTTP {status} {response.reason}"
            )
        if status == 206:
            total = _partial_content(task, response, start)
        elif _encoding(response) in IDENTITY_ENCODINGS:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
        else:
            total = None  # Content-Length counts the encoded bytes, not the file's
        if total is not None and task.length is not None and total != task.length:
            raise ProductDownloadException(
                f"{public_href(task.href)}: the catalogue says {task.length} bytes, the server "
                f"{total}; a file that matches neither cannot be checked, so it is not saved"
            )
        return total


def _shut(response: requests.Response) -> None:
    """Shut the socket a body is read from, waking the thread blocked reading it.

    The connection object gives the socket up once an answer says ``Connection: close`` (the
    body's file keeps it), so the body's descriptor is used: a socket object over it, shut,
    then detached so that the descriptor stays the body's to close.
    """
    with contextlib.suppress(OSError, ValueError):  # closed meanwhile (the file ended)
        sock = socket.socket(fileno=response.raw.fileno())
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.detach()


def _check_followed(href: str, location: str) -> None:
    """Refuse a redirect off http(s): a ``file://`` or ``ftp://`` location is not a download."""
    scheme = urlsplit(location).scheme.lower()
    if scheme not in FOLLOWED_SCHEMES:
        raise ProductDownloadException(
            f"{public_href(href)} redirected to a {scheme or 'scheme-less'} URL; only http and "
            "https redirects are followed, nothing was saved"
        )


def _resume_point(task: FileTask, partial: PartialFile) -> int:
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
    raise ProductDownloadException(f"{public_href(task.href)}: HTTP 416 for the whole file")


def _partial_content(task: FileTask, response: requests.Response, start: int) -> int | None:
    """The file's size from a 206's Content-Range, which must start where the partial ends."""
    first, total = _content_range(response.headers.get("Content-Range", ""))
    if first == start:
        return total
    if start:
        raise _StartOver(f"asked for bytes from {start}, the server sent them from {first}")
    raise ProductDownloadException(
        f"{public_href(task.href)}: a partial answer (206) to a request for the whole file"
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
            f"{public_href(task.href)}: the server encoded the file as {encoding!r}, which terracat "
            "cannot decode (it asked for identity)"
        )
    return True


def _scrubbed(error: BaseException) -> str:
    """An error's text with every URL query string dropped (requests quotes the URL it asked)."""
    return _QUERY.sub("?...", str(error))
