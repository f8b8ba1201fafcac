"""The one interface every transfer speaks: a fetcher per URL scheme, one result type.

A :class:`Fetcher` moves one file's bytes from its href into a :class:`PartialFile` and says
what it did in a :class:`Fetched`; the batch runner (``batch.py``) picks the fetcher by the
href's scheme and owns everything around the transfer (skipping complete files, the lock,
the rename, the report), so it knows no scheme and a fetcher knows no batch. httpx's transports
(one ``handle_request`` per transport class) are the model.

The partial file is opened without following a symbolic link and locked (``flock``) while it is
written, so two runs downloading into the same directory at once take turns instead of writing
one file together.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from terracat.exceptions import ProductDownloadException
from terracat.transfer.layout import FileTask

try:  # POSIX: a partial file is locked while one run writes it
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs there do not take turns
    fcntl = None  # type: ignore[assignment]

__all__ = ["Fetched", "Fetcher", "PartialFile", "Progress", "Stopped"]

logger = logging.getLogger(__name__)

HASH_READ_SIZE = 1 << 20  # a resumed partial file is hashed in pieces of this size
PARTIAL_OPEN_ATTEMPTS = 10  # a partial name another run keeps renaming or relinking
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

Progress = Callable[[int], None]
"""Called with each number of bytes received (negative: bytes taken back); thread-safe."""


class Stopped(BaseException):
    """Raised in a transfer's thread once its batch is interrupted (Ctrl-C).

    A BaseException, as KeyboardInterrupt is: no retry loop or error handler takes it for a
    failure, and the partial file is kept for resuming.
    """


@dataclass(frozen=True)
class Fetched:
    """What one fetch did: the bytes it wrote now, whether it resumed, whether it linked.

    ``linked`` means the fetcher made the target itself (a symbolic link to a local file) and
    the partial file holds nothing to rename.
    """

    written: int
    resumed: bool = False
    linked: bool = False


class Fetcher:
    """Moves one file's bytes from an href of its scheme into a partial file.

    Subclasses implement :meth:`fetch`; the defaults suit a fetcher that writes every byte
    itself from the start.
    """

    appends: bool = True
    """Whether every byte goes through :meth:`PartialFile.append` (so a checksum is computed
    while writing); a fetcher that writes the file itself has it hashed once it is done."""

    resumes: bool = False
    """Whether :meth:`fetch` continues from what the partial file holds (``overwrite`` then
    empties it first); a fetcher that does not resume starts the file over itself."""

    def fetch(self, task: FileTask, partial: PartialFile, progress: Progress) -> Fetched:
        """Write ``task``'s file into the open, locked ``partial``; errors are terracat errors."""
        raise NotImplementedError

    def link_source(self, task: FileTask) -> Path | None:
        """The local file ``task.target`` is made a link to, or None: this fetcher copies bytes.

        A symbolic link at the target counts as complete only when it points there.
        """
        return None

    def close(self) -> None:
        """Release what the fetcher holds (connections); the default holds nothing."""

    def abort(self) -> None:
        """Stop the transfers under way now (their threads raise :class:`Stopped`), from
        another thread; the default relies on the next chunk's progress call stopping them."""


class PartialFile:
    """A partial file opened for writing: a regular file (never a link followed), locked.

    The lock (``flock``, exclusive) is held from opening until the file is renamed to its final
    name or left for a later resume, so a second run writing the same file at the same time
    waits and then finds the file complete. Use as a context manager.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._new_hash: Callable[[], Any] | None = None
        self._hash: Any = None
        self._hashed = 0  # bytes the hash has seen, from the start of the file

    def __enter__(self) -> PartialFile:
        self._file = _open_locked(self.path)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def file(self) -> IO[bytes]:
        if self._file is None:
            raise RuntimeError(f"{self.path} is not open: use PartialFile as a context manager")
        return self._file

    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def append(self, data: bytes) -> None:
        """Write ``data`` at the end; a short write (a filling disk) writes the rest or raises."""
        self.file.seek(0, os.SEEK_END)
        if self._hash is not None and self._hashed == self.file.tell():
            self._hash.update(data)  # hashed as written: no second read of the file
            self._hashed += len(data)
        view = memoryview(data)
        while view:
            view = view[self.file.write(view) or 0 :]

    def restart(self) -> None:
        """Discard every byte: what the file holds cannot be part of the file."""
        self.file.seek(0)
        self.file.truncate(0)
        if self._new_hash is not None:
            self._hash, self._hashed = self._new_hash(), 0

    def hash_with(self, new_hash: Callable[[], Any]) -> None:
        """Hash every byte of the file from now on, starting with what it holds (a resume).

        ``new_hash`` makes a fresh ``hashlib`` object; :meth:`hexdigest` then gives the digest
        of the whole file without reading again what :meth:`append` wrote.
        """
        self._new_hash = new_hash
        self._hash, self._hashed = new_hash(), 0
        self._catch_up()

    def _catch_up(self) -> None:
        """Hash what the file holds beyond what the hash has seen (a partial being resumed, or
        bytes a fetcher wrote without :meth:`append`)."""
        self.file.seek(self._hashed)
        while chunk := self.file.read(HASH_READ_SIZE):
            self._hash.update(chunk)
            self._hashed += len(chunk)

    def hexdigest(self) -> str:
        """The hex digest of the whole file under the function given to :meth:`hash_with`."""
        if self._hash is None:
            raise RuntimeError(f"{self.path}: hash_with() was not called")
        if self._hashed > self.size():  # shortened behind the hash's back: start again
            self._hash, self._hashed = self._new_hash(), 0  # type: ignore[misc]
        self._catch_up()
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Remove the partial file whatever it holds: its bytes are known to be wrong."""
        if self._file is not None:
            self.path.unlink(missing_ok=True)

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
