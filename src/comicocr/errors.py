"""The error taxonomy every page outcome is classified into.

Workers never raise for a single bad page: they turn the exception into an
outcome carrying one of these classes, and the consumer's acker decides from it
whether to delete, back off, or dead-letter the message.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    """Why a page did not produce a result."""

    RETRYABLE = "retryable"  # throttling, timeouts, 5xx, worker crash: try again later
    PERMANENT = "permanent"  # missing/corrupt image, unsafe path, 4xx: DLQ at once
    POISON = "poison"  # unparseable message body: DLQ, never retried
    EXHAUSTED = "retries_exhausted"  # retryable too many times: DLQ


class PageError(Exception):
    """Base for errors that carry their class; message text must hold no secrets."""

    error_class: ErrorClass = ErrorClass.PERMANENT


class PermanentError(PageError):
    error_class = ErrorClass.PERMANENT


class RetryableError(PageError):
    error_class = ErrorClass.RETRYABLE


class PoisonMessage(PageError):
    error_class = ErrorClass.POISON


class ConfigError(Exception):
    """A setting or flag is wrong; the CLI prints it and exits non-zero."""
