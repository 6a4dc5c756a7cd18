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


class ThrottledError(RetryableError):
    """The service said "slow down" (429) and kept saying it: retry later, count no attempt."""

    def __init__(self, message: str, retry_after_s: float = 30.0, pause: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.pause = pause  # e.g. "payment_required": stop dispatching to this engine for a while


class ConfigError(Exception):
    """A setting or flag is wrong; the CLI prints it and exits non-zero."""
