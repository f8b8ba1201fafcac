"""The catalogue protocols terracat speaks, one subpackage each, behind one interface.

Each protocol encodes a search, walks its answer's pages and turns its products into the
protocol-neutral rows :mod:`terracat.frame` builds frames from. Nothing here imports the facade
(``catalogue``, ``client``, ``accessor``, ``dask``, ``cli``).
"""
