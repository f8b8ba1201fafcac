"""STAC's :class:`~terracat.frame.builder.Decoder`: whole items into rows, fast.

A batch's items, joined into the very buffer of the frame's ``properties`` text column, go to
Arrow's JSON reader in the background thread with a narrow schema learned from the search's
first items (:mod:`terracat.protocols.stac.arrow_rows`), once the calling thread has checked
that the schema names every key the frame takes of them. A batch that does not fit, or that
Arrow refuses, takes the general path (:mod:`terracat.protocols.stac.rows`) and teaches the
schema what it lacked, for the batches submitted after it.

Its own module because it joins the two paths, and the fast one imports the general one's
rules (file kinds, tiles, aliases).
"""

from __future__ import annotations

from collections.abc import Sequence

from terracat.exceptions import ParameterParserException
from terracat.frame import DecodedRows
from terracat.frame.background import submit
from terracat.frame.jsonlines import text_views
from terracat.protocols.stac.arrow_rows import ItemSchema, batch_columns, parse_batch
from terracat.protocols.stac.rows import HREF_MODES, alternate_names, stac_rows

__all__ = ["StacDecoder"]


class StacDecoder:
    """A :class:`~terracat.frame.builder.Decoder` for STAC items (one per search).

    ``href_mode``: ``""`` takes the assets' hrefs, ``"MEP"`` their ``alternate.local`` (2026)
    or ``alternate.MEP`` (2023) hrefs where an asset has one (``accessedFrom="MEP"``).
    ``alternates``: the names of other alternates whose hrefs are taken where an asset has one
    (``[Catalogue] Alternate``, ``("https",)`` for the Data Space), after the local ones.
    ``arrow=False`` flattens every batch by the general path (to compare the two).
    """

    def __init__(
        self, *, href_mode: str = "", alternates: Sequence[str] = (), arrow: bool = True
    ) -> None:
        if href_mode not in HREF_MODES:
            raise ParameterParserException(
                f"href_mode must be one of {HREF_MODES} (accessedFrom MEP or not), not {href_mode!r}"
            )
        self.href_mode = href_mode
        self.alternates = alternate_names(href_mode, alternates)
        self.schema = ItemSchema(usable=arrow, alternates=self.alternates)

    def decode(self, properties: Sequence[bytes]) -> _Decoding:
        """Start decoding a batch of whole items (each a JSON object)."""
        if self.schema.type is None and self.schema.usable:
            self.schema.learn(properties[: ItemSchema.SAMPLE])
        return _Decoding(properties, self.schema, self.alternates)


class _Decoding:
    """A batch whose items Arrow is parsing in the background (when they fit the schema)."""

    def __init__(
        self, items: Sequence[bytes], schema: ItemSchema, alternates: tuple[str, ...]
    ) -> None:
        self.items = items
        self.schema = schema
        self.alternates = alternates
        self.tried = schema.current() is not None
        fits = self.tried and schema.fits(items)
        self.taught = self.tried and not fits
        if self.taught:  # known now, so the batches submitted next fit whatever it lacked
            schema.learn(items)
        read = schema.current() if fits else None
        self._parsed = submit(parse_batch, text_views(items), read)

    def done(self) -> bool:
        return self._parsed.done()

    def rows(self) -> DecodedRows:
        """The batch's rows; a batch the fast path could not take teaches the schema."""
        parsed = self._parsed.result()
        found = None if parsed.table is None else batch_columns(parsed.table, self.alternates)
        if found is None:
            if self.tried and not self.taught:
                self.schema.learn(self.items)
            columns, lists = stac_rows(self.items, self.alternates)
            files = lists.table()
        else:
            columns, files = found
        del self.items, self._parsed  # the page bodies and the parsed table
        return DecodedRows(parsed.text, columns, files, found is not None)
