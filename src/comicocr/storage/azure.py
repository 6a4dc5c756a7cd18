"""Azure Blob Storage through azure-storage-blob: ``az://container/key``.

Credentials, the Azure CLI's way: ``AZURE_STORAGE_CONNECTION_STRING`` (an account key or
SAS, and the endpoint: Azurite, sovereign clouds), else ``AZURE_STORAGE_ACCOUNT`` (the
account name) with azure-identity's DefaultAzureCredential (a managed identity, workload
identity, ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET``, ``az login``).
Neither value is ever quoted in an error.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from comicocr.errors import ConfigError, PageError, PermanentError, RetryableError
from comicocr.storage.objects import http_status_error

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, BlobServiceClient

_PAGE = 1000  # keys per listing request, as S3 and GCS give


@functools.cache
def service() -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient, ExponentialRetry

    # The SDK's default waits 15 s, 45 s... between tries: a worker or a probe at a dead
    # endpoint would sit for minutes. A few quick tries; the pipeline retries the page later.
    options: dict[str, Any] = {
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3),
        "connection_timeout": 20,
        "read_timeout": 60,
    }
    connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "").strip()
    if connection:
        try:
            return BlobServiceClient.from_connection_string(connection, **options)
        except ValueError:
            raise ConfigError(
                "AZURE_STORAGE_CONNECTION_STRING is not a storage connection string"
            ) from None
    account = os.environ.get("AZURE_STORAGE_ACCOUNT", "").strip()
    if not account:
        raise ConfigError(
            "az:// needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT (the account"
            " name) with Azure credentials (a managed identity, AZURE_CLIENT_ID..., az login)"
        )
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise ConfigError(
            "az:// with AZURE_STORAGE_ACCOUNT needs the azure-identity package:"
            " pip install 'comicocr[azure]'"
        ) from None
    url = f"https://{account}.blob.core.windows.net"
    return BlobServiceClient(url, credential=DefaultAzureCredential(), **options)


def _blob(bucket: str, key: str) -> BlobClient:
    return service().get_blob_client(bucket, key)


class AzureBlobStore:
    def size(self, bucket: str, key: str) -> int | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return int(_blob(bucket, key).get_blob_properties().size)
        except ResourceNotFoundError:  # no such blob, or no such container
            return None

    def read(self, bucket: str, key: str, length: int) -> bytes:
        # A ranged GET: a blob grown since its size was checked is still read only this far.
        return _blob(bucket, key).download_blob(offset=0, length=length, max_concurrency=1).readall()

    def write(self, bucket: str, key: str, data: bytes, content_type: str, overwrite: bool) -> bool:
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.storage.blob import ContentSettings

        try:
            # One Put Blob (results are far below the SDK's single-put size): whole or nothing.
            # overwrite=False sends If-None-Match: * and the service refuses an existing blob.
            _blob(bucket, key).upload_blob(
                data, overwrite=overwrite, content_settings=ContentSettings(content_type=content_type)
            )
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True

    def delete(self, bucket: str, key: str) -> None:
        _blob(bucket, key).delete_blob()

    def list_from(self, bucket: str, prefix: str, first: str) -> Iterator[list[str]]:
        container = service().get_container_client(bucket)
        listing = container.walk_blobs(
            name_starts_with=prefix, delimiter="/", start_from=first, results_per_page=_PAGE
        )
        for page in listing.by_page():
            yield [item.name for item in page]  # blobs, and sub-prefixes ending in "/"

    def error(self, exc: Exception, what: str) -> PageError:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        if isinstance(exc, ClientAuthenticationError) and exc.response is None:
            # raised by the credential itself, before any request: none could be found
            return PermanentError(f"{what}: no usable Azure credentials ({type(exc).__name__})")
        if isinstance(exc, HttpResponseError) and exc.status_code:
            # the storage SDK sets error_code (BlobNotFound, AuthenticationFailed...) on its
            # errors, as a StorageErrorCode (a str enum) or a plain string
            code = getattr(exc, "error_code", None)
            return http_status_error(exc.status_code, str(getattr(code, "value", code) or ""), what)
        return RetryableError(f"{what}: {type(exc).__name__}")


STORE = AzureBlobStore()
