"""Keep secrets out of logs, results, DLQ messages and exception text."""

from __future__ import annotations

import os
import re

# CONNECTION_STRING: AZURE_STORAGE_CONNECTION_STRING holds an account key or a SAS.
_SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL|CONNECTION_STRING)", re.IGNORECASE)
# Bearer tokens and common API-key shapes, should one arrive in an error message; an Azure
# account key or SAS in a connection string, and a SAS or signed URL's signature.
_SECRET_SHAPES = re.compile(
    r"(Bearer\s+[A-Za-z0-9._\-]{8,}|sk-[A-Za-z0-9_\-]{8,}"
    r"|(?<=AccountKey=)[^;\s]{8,}|(?<=SharedAccessSignature=)[^;\s]{8,}"
    r"|(?<=[?&]sig=)[^&\s]{8,}|(?<=X-Amz-Signature=)[0-9a-f]{16,})"
)


_REGISTERED: set[str] = set()  # secret values this process holds, whatever their variable's name


def register_secret(value: str) -> None:
    """Redact ``value`` from now on in this process (an API key read from a custom variable)."""
    if len(value) >= 4:
        _REGISTERED.add(value)


def redact(text: str, extra_secrets: tuple[str, ...] = ()) -> str:
    """Replace secret values (registered, found in the environment, or given) with ``***``."""
    secrets = [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8]
    secrets += [s for s in (*extra_secrets, *_REGISTERED) if s and len(s) >= 4]
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _SECRET_SHAPES.sub("***", text)


def redacted(error: object, limit: int = 200) -> str:
    """An error (or any text) made safe and short for a log line or a queue attribute."""
    return redact(str(error))[:limit]
