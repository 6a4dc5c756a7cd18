"""Fresh containers (Azure Blob, on Azurite) and buckets (GCS, on fake-gcs-server) for tests,
with the SDK calls a test makes around the code under test. The emulators' addresses come
from the standard variables tests/integration/conftest.py sets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

SCHEMES = ("az", "gs")


@dataclass
class Bucket:
    scheme: str
    name: str
    put: Callable[[str, bytes], None]
    get: Callable[[str], bytes]
    keys: Callable[[], list[str]]

    @property
    def root(self) -> str:
        return f"{self.scheme}://{self.name}"


def make_bucket(scheme: str) -> Bucket:
    name = f"t-{uuid.uuid4().hex[:12]}"
    return _azure(name) if scheme == "az" else _gcs(name)


def _azure(name: str) -> Bucket:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    container = service.create_container(name)

    def put(key: str, data: bytes) -> None:
        container.upload_blob(key, data, overwrite=True)

    return Bucket(
        "az",
        name,
        put=put,
        get=lambda key: container.download_blob(key).readall(),
        keys=lambda: sorted(b.name for b in container.list_blobs()),
    )


def _gcs(name: str) -> Bucket:
    from google.cloud import storage

    client = storage.Client()
    bucket = client.create_bucket(name)
    return Bucket(
        "gs",
        name,
        put=lambda key, data: bucket.blob(key).upload_from_string(data),
        get=lambda key: bucket.blob(key).download_as_bytes(),
        keys=lambda: sorted(b.name for b in client.list_blobs(name)),
    )
