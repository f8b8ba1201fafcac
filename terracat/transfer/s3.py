"""The s3:// fetcher: one file from an S3-compatible object store into a partial file.

One fetcher among three (beside ``http.py`` and ``local.py``). boto3 is an optional extra
(``pip install 'terracat[s3]'``), imported only when an ``s3://`` href is downloaded, and its
client is expensive to build: one client per endpoint and credentials is cached for the
process and shared by every download thread (botocore clients are thread-safe once built; the
building is not, so it happens under a lock).

Catalogues answer ``s3://`` hrefs for ``accessedFrom=S3`` (CreoDIAS and similar object stores),
whose bucket names are not always DNS-valid (``EODATA``, ``project:bucket``): like the reference
client, botocore's bucket-name check is switched off, on this module's own botocore session
only, and requests use path-style addressing so the bucket never has to be a host name.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

from terracat import _defaults
from terracat.config import CatalogueConfig
from terracat.exceptions import ProductDownloadException
from terracat.transfer.base import Fetched, Fetcher, PartialFile, Progress
from terracat.transfer.layout import FileTask

# boto3 is optional and untyped (its stubs are a separate package): a client is an ``Any``.
S3Client: TypeAlias = Any

__all__ = ["S3Fetcher", "close_clients", "s3_download"]

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
"""The signing region when neither the environment nor ``~/.aws/config`` names one.

S3-compatible stores (CreoDIAS, Ceph, MinIO) accept any region in a signature; boto3 needs one.
"""


_MISSING_BOTO3 = (
    "Downloading s3:// hrefs needs boto3, which is not installed: pip install 'terracat[s3]'."
)

# Settings a client is built from -> the client. The secret is part of the key only so that
# configurations with different credentials never share a client; it is never logged.
_ClientKey = tuple[str, str, str, int, float, bool, int]
_clients: dict[_ClientKey, S3Client] = {}
_clients_lock = threading.Lock()


class S3Fetcher(Fetcher):
    """Fetches ``s3://`` hrefs with the configuration's endpoint and keys; one per batch.

    Each fetch writes the whole object (boto3's ranged GETs are retried inside it), so it does
    not resume a partial file; the clients are shared by the process, so closing holds nothing.
    """

    appends = False  # boto3 writes the file itself: a checksum is computed once it is done

    def __init__(self, config: CatalogueConfig) -> None:
        self.config = config

    def fetch(self, task: FileTask, partial: PartialFile, progress: Progress) -> Fetched:
        return Fetched(s3_download(task.href, partial.path, self.config, on_bytes=progress))


def s3_download(
    href: str,
    partial: Path,
    config: CatalogueConfig,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> int:
    """Download s3://bucket/key into `partial` (created or overwritten), return the bytes written.

    The endpoint and credentials come from ``config`` (``[S3] EndpointUrl``, ``AccessKey`` and
    ``SecretKey``, or the ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` environment
    variables); retries and the read timeout from its ``[HTTP]`` section.

    Parameters
    ----------
    href : str
        the object, ``s3://<bucket>/<key>``; the bucket need not be a DNS-valid name
    partial : pathlib.Path
        the file to write; its directory is created when missing. On failure it may be left
        incomplete: the caller owns it
    config : CatalogueConfig
        the S3 endpoint and credentials, ``retries`` and ``download_timeout``
    on_bytes : callable, optional
        called with the number of bytes received as they arrive, from boto3's transfer threads
        (so it must be thread-safe); a negative number takes back bytes whose ranged GET was
        retried, so the calls always sum to the bytes in the file

    Returns
    -------
    int
        the size of ``partial`` once written

    Raises
    ------
    ProductDownloadException
        when ``href`` is not ``s3://bucket/key``, the S3 configuration is incomplete, boto3 is
        not installed, the store answers an error (no such key or bucket, access denied) or the
        transfer fails after its retries; the message names the href, never a secret

    Examples
    --------
    >>> config = CatalogueConfig.from_file("creodias.ini")  # doctest: +SKIP
    >>> s3_download("s3://EODATA/Sentinel-2/a.jp2", Path("a.jp2.part"), config)  # doctest: +SKIP
    1048576
    """
    bucket, key = _split(href)
    _check_config(href, config)
    try:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError
        from s3transfer.exceptions import RetriesExceededError
    except ImportError as error:
        raise ProductDownloadException(_MISSING_BOTO3) from error

    client = _client(config)
    transfer = TransferConfig(
        max_concurrency=_defaults.S3_PART_WORKERS,
        num_download_attempts=config.retries + 1,
        # The CRT transfer client would build its own connection from the environment and
        # ignore this client's endpoint, credentials and addressing style.
        preferred_transfer_client="classic",
    )
    logger.debug("Downloading %s from %s to %s", href, config.s3_endpoint_url, partial)
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as out:
            client.download_fileobj(bucket, key, out, Callback=on_bytes, Config=transfer)
            out.flush()
            written = os.fstat(out.fileno()).st_size
    except ClientError as error:
        raise _answered(href, config, error) from error
    except (BotoCoreError, RetriesExceededError) as error:
        cause = _scrub(str(error), config)
        raise ProductDownloadException(
            f"Downloading {href} from {config.s3_endpoint_url} failed: {cause}."
        ) from error
    except OSError as error:
        raise ProductDownloadException(
            f"Downloading {href}: cannot write {partial}: {error.strerror or error}."
        ) from error
    logger.debug("Downloaded %s (%d bytes)", href, written)
    return written


def close_clients() -> None:
    """Close and forget every cached S3 client (their pooled connections with them).

    The next download builds a fresh client; useful after credentials changed, and in tests.

    Examples
    --------
    >>> close_clients()
    """
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _split(href: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``, kept raw: keys may hold ``?``, ``#`` or ``%``."""
    scheme, separator, rest = href.partition("://") if isinstance(href, str) else ("", "", "")
    bucket, _, key = rest.partition("/")
    if scheme.lower() != "s3" or not separator or not bucket or not key:
        raise ProductDownloadException(
            f"{href!r} is not an S3 object href: expected s3://<bucket>/<key>."
        )
    return bucket, key


def _check_config(href: str, config: CatalogueConfig) -> None:
    settings = {
        "[S3] EndpointUrl": config.s3_endpoint_url,
        "[S3] AccessKey": config.s3_access_key,
        "[S3] SecretKey": config.s3_secret_key,
    }
    missing = [name for name, value in settings.items() if not value]
    if missing:
        raise ProductDownloadException(
            f"Downloading {href} needs S3 access, but the configuration has no "
            f"{', '.join(missing)}. Set [S3] EndpointUrl, AccessKey and SecretKey in the "
            "catalogue configuration file, or the keys in the AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY environment variables."
        )


def _client(config: CatalogueConfig) -> S3Client:
    """The shared client for the configuration's endpoint and credentials, built once."""
    key: _ClientKey = (
        config.s3_endpoint_url,
        config.s3_access_key,
        config.s3_secret_key,
        config.retries,
        config.download_timeout,
        config.verify_tls,
        config.download_workers,
    )
    client = _clients.get(key)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _build_client(config)
    return client


def _build_client(config: CatalogueConfig) -> S3Client:
    try:
        import boto3.session
        import botocore.config
        import botocore.handlers
        import botocore.session
    except ImportError as error:
        raise ProductDownloadException(_MISSING_BOTO3) from error

    logger.debug("Creating an S3 client for %s", config.s3_endpoint_url)
    # A session of our own: the reference client unregisters the check on boto3's *default*
    # session, which changes the behaviour of every other boto3 user in the process.
    core = botocore.session.Session()
    core.unregister("before-parameter-build.s3", botocore.handlers.validate_bucket_name)
    session = boto3.session.Session(botocore_session=core)
    settings = botocore.config.Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": config.retries + 1, "mode": "standard"},
        read_timeout=config.download_timeout,
        # every download thread may run _defaults.S3_PART_WORKERS ranged GETs on this one client
        max_pool_connections=max(10, config.download_workers * _defaults.S3_PART_WORKERS),
    )
    return session.client(
        "s3",
        endpoint_url=config.s3_endpoint_url,
        aws_access_key_id=config.s3_access_key,
        aws_secret_access_key=config.s3_secret_key,
        region_name=session.region_name or DEFAULT_REGION,
        verify=config.verify_tls,
        config=settings,
    )


def _answered(href: str, config: CatalogueConfig, error: Any) -> ProductDownloadException:
    """A store's error answer (a botocore ClientError) as a message a user can act on."""
    response = getattr(error, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(response.get("Error", {}).get("Code", "") or "")
    text = _scrub(str(response.get("Error", {}).get("Message", "") or ""), config)
    # A HEAD request (boto3 asks the size first) has no body: its code is the bare status.
    answer = f"HTTP {status}" + (f" {code}" if code and code != str(status) else "")
    if text and text not in {code, "Not Found", "Forbidden"}:
        answer += f": {text}"
    if status == 404 or code in {"NoSuchKey", "NoSuchBucket"}:
        hint = "no such object or bucket"
    elif status == 403 or code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        hint = "access denied; check [S3] AccessKey and SecretKey (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    else:
        hint = "the store refused the request"
    return ProductDownloadException(
        f"Cannot download {href} from {config.s3_endpoint_url}: {hint} ({answer})."
    )


def _scrub(text: str, config: CatalogueConfig) -> str:
    """A store's or botocore's text with the secret key blanked, should it ever echo it."""
    secret = config.s3_secret_key
    return text.replace(secret, "***") if secret else text
