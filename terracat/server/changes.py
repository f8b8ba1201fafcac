"""Products added, reprocessed and removed while the local catalogue serves.

``terracat sync`` is tested against a catalogue that changes between two runs, as Terrascope's
does: new products appear, old ones are reprocessed (new bytes, or new file names) or withdrawn.
:class:`Changes` makes those edits on a running catalogue (``LocalCatalogue.add_product`` and
friends delegate here): it builds the new feature, splices it into the store
(:meth:`Store.splice`, which swaps new objects in) and has every face follow, all under the
store's lock, so that a request running meanwhile answers from the old state or the new one,
never a mix.

Change times come from one :class:`Clock`: milliseconds, strictly increasing, and never before
the call began nor after it returned, so that "changed since t" is exact whenever ``t`` is read.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from terracat.server.store import DOWNLOAD_PREFIX, CollectionEntry, iter_files
from terracat.stacio.from_opensearch import stac_item_id

if TYPE_CHECKING:
    from terracat.server.app import CatalogueApp

__all__ = ["Changes", "Clock"]

MILLISECOND = dt.timedelta(milliseconds=1)
MAX_WAIT = 1.0
"""Seconds a change waits at most for the wall clock to pass its stamp (see :class:`Clock`)."""

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_REVISION = re.compile(r"(.*)_R(\d+)")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _floor_ms(instant: dt.datetime) -> dt.datetime:
    return instant.replace(microsecond=instant.microsecond - instant.microsecond % 1000)


def _parsed(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        instant = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if instant.tzinfo is not None:
        instant = instant.astimezone(dt.UTC).replace(tzinfo=None)
    return instant


def _format(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


class Clock:
    """Times of changes, written as the store writes times but to the millisecond.

    A stamp is the current time rounded up to the millisecond, moved on past the previous stamp
    and past ``after`` (a product's previous ``updated``) when it would not be later; the call
    then waits until the wall clock is a millisecond past it (at most :data:`MAX_WAIT`). So a
    time read before a change is at or before its stamp, one read after it returns is later
    even at millisecond precision, and two changes in one millisecond still differ. Not
    thread-safe by itself: :class:`Changes` calls it under the store's lock.
    """

    def __init__(self) -> None:
        self._last: dt.datetime | None = None

    def stamp(self, after: str | None = None) -> str:
        now = _utcnow()
        stamp = now + dt.timedelta(microseconds=-now.microsecond % 1000)
        earlier = _parsed(after)
        for floor in (self._last, _floor_ms(earlier) if earlier is not None else None):
            if floor is not None and stamp <= floor:
                stamp = floor + MILLISECOND
        self._last = stamp
        while 0 < (wait := (stamp + MILLISECOND - _utcnow()).total_seconds()) <= MAX_WAIT:
            time.sleep(wait)
        return _format(stamp)


def _file_name(href: str) -> str:
    return href.rpartition("/")[2]


def _copied_href(href: str, old: str, new: str) -> str:
    """A file of product ``old`` as the same file of product ``new``: its name in the path
    replaced, and the file name made the new product's when it did not hold the old one's."""
    head, _, name = href.rpartition("/")
    renamed = name.replace(old, new)
    if renamed == name:
        renamed = f"{new}_{name}"
    return f"{head.replace(old, new)}/{renamed}"


def _revised_href(href: str, taken: set[str]) -> str:
    """The next ``_R<n>`` name of a file (``a.tif`` -> ``a_R2.tif`` -> ``a_R3.tif``), unused."""
    head, _, name = href.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    match = _REVISION.fullmatch(stem)
    base, number = (match.group(1), int(match.group(2))) if match else (stem, 1)
    while True:
        number += 1
        candidate = f"{head}/{base}_R{number}{dot}{extension}"
        if candidate not in taken:
            return candidate


class Changes:
    """Edits of a running catalogue's products; see ``LocalCatalogue.add_product`` and friends."""

    def __init__(self, app: CatalogueApp) -> None:
        self.app = app
        self.store = app.store
        self.clock = Clock()

    # ---- the three changes ---------------------------------------------------------------------

    def add_product(
        self, collection: str, *, like: str, id: str, updated: str | None = None
    ) -> dict[str, Any]:
        with self.store.lock:
            entry = self._collection(collection)
            position = self._position(entry, like)
            source = entry.products[position]
            new_id = self._new_id(entry, source, id)
            feature = copy.deepcopy(source)
            old, new = stac_item_id(source), new_id.rsplit(":", 1)[-1]
            feature["id"] = new_id
            properties = feature["properties"]
            properties["identifier"], properties["title"] = new_id, new
            properties["published"] = properties["updated"] = updated or self.clock.stamp()
            for _, link in iter_files(feature):
                if not str(link.get("href", "")).startswith(DOWNLOAD_PREFIX):
                    continue  # not served here: left as the copied product has it
                link["href"] = _copied_href(link["href"], old, new)
                if link["href"] in self.store.files:
                    raise ValueError(
                        f"product {new_id!r} would serve {link['href']}, a file another product "
                        "has; choose another id"
                    )
            self._apply(entry.id, position + 1, 0, [feature])
            return copy.deepcopy(feature)

    def reprocess_product(
        self,
        collection: str,
        product_id: str,
        files: Iterable[str] | None = None,
        *,
        rename: bool = False,
    ) -> dict[str, Any]:
        with self.store.lock:
            entry = self._collection(collection)
            position = self._position(entry, product_id)
            source = entry.products[position]
            names = self._names(source, files)
            feature = copy.deepcopy(source)
            feature["properties"]["updated"] = self.clock.stamp(
                after=source["properties"].get("updated")
            )
            revisions: dict[str, int] = {}
            taken = set(self.store.files)
            for _, link in iter_files(feature):
                href = str(link.get("href", ""))
                if _file_name(href) not in names:
                    continue
                if rename:
                    link["href"] = _revised_href(href, taken)
                    taken.add(link["href"])
                else:
                    current = self.store.files.get(href)
                    revisions[href] = (current.revision if current is not None else 0) + 1
            self._apply(entry.id, position, 1, [feature], revisions)
            return copy.deepcopy(feature)

    def remove_product(self, collection: str, product_id: str) -> None:
        with self.store.lock:
            entry = self._collection(collection)
            self._apply(entry.id, self._position(entry, product_id), 1, [])

    # ---- helpers -----------------------------------------------------------------------------

    def _apply(
        self,
        collection: str,
        position: int,
        removed: int,
        added: list[dict[str, Any]],
        revisions: dict[str, int] | None = None,
    ) -> None:
        changed = self.store.splice(collection, position, removed, added, revisions)
        self.app.opensearch.changed(collection)
        self.app.stac.splice(collection, position, removed, len(added))
        self.app.discard(changed)

    def _collection(self, collection: str) -> CollectionEntry:
        """The collection by its id or its STAC id (a KeyError naming it if neither)."""
        name = self.app.stac.by_stac_id.get(collection, collection)
        if name not in self.store.collections:
            raise KeyError(
                f"collection {collection!r} is not served here; known: {sorted(self.store.collections)}"
            )
        return self.store.collections[name]

    @staticmethod
    def _position(entry: CollectionEntry, product_id: str) -> int:
        """Where a product is, by its id or its item id (a KeyError naming it if neither)."""
        for by in (lambda f: f["id"], stac_item_id):
            for position, feature in enumerate(entry.products):
                if by(feature) == product_id:
                    return position
        raise KeyError(f"product {product_id!r} is not in collection {entry.id!r}")

    def _new_id(self, entry: CollectionEntry, source: dict[str, Any], id: str) -> str:
        """The full id of a new product: ``id`` as given when it holds a ``:``, else in place of
        the last part of the copied product's id (its item id, the store's convention)."""
        name = str(id).rsplit(":", 1)[-1]
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"product id {id!r}: its name {name!r} goes into file paths; use letters, digits, "
                "'.', '_' and '-'"
            )
        prefix, colon, _ = str(source["id"]).rpartition(":")
        new_id = str(id) if ":" in str(id) or not colon else f"{prefix}:{id}"
        taken = {p["id"] for p in entry.products} | {stac_item_id(p) for p in entry.products}
        if new_id in taken or name in taken:
            raise ValueError(f"product {new_id!r} is in collection {entry.id!r} already")
        return new_id

    @staticmethod
    def _names(feature: dict[str, Any], files: Iterable[str] | None) -> set[str]:
        """The file names to reprocess: those given, each the product's, else its first data."""
        present = {_file_name(str(link.get("href", ""))) for _, link in iter_files(feature)}
        if files is None:
            data = next((link for kind, link in iter_files(feature) if kind == "data"), None)
            if data is None:
                raise ValueError(
                    f"product {feature['id']!r} has no data file; name the files to reprocess"
                )
            return {_file_name(str(data.get("href", "")))}
        names = {files} if isinstance(files, str) else set(files)
        missing = names - present
        if missing:
            raise KeyError(
                f"file(s) {sorted(missing)} not in product {feature['id']!r}; "
                f"its files: {sorted(present)}"
            )
        return names
