"""One log stream on stderr: readable on a terminal, JSON lines otherwise.

structlog renders our events; Lithops, botocore and the other libraries that log through the
standard library go through the same renderer (``ProcessorFormatter``), so a log reader sees
one format. Levels: INFO by default (one line per page: ``page.done``, ``page.retry``,
``page.dead_lettered``), ``quiet`` for WARNING (``run`` on a terminal, where the progress bar
says the rest), ``verbose`` for DEBUG and the libraries' INFO lines.

stderr is looked up at each line, not once: while rich draws a progress bar it replaces
``sys.stderr`` so that log lines print above the bar.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from comicocr.redact import redact

# Libraries that log through the standard library; below --verbose only their warnings show
# (Lithops logs every job at INFO).
_LIBRARIES = ("lithops", "botocore", "aiobotocore", "boto3", "urllib3", "paddlex", "paddleocr", "aiohttp")


class _Stderr:
    """A file that is whatever ``sys.stderr`` is when a line is written."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stdlib handler on the current ``sys.stderr`` (see ``_Stderr``)."""

    def __init__(self) -> None:
        super().__init__(_Stderr())


def _redact_event(_logger: object, _name: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """A library's message or any traceback may quote a URL or a variable with a key in it:
    never let one through (our own fields are redacted where they are made)."""
    for key in ("event", "exception"):
        if isinstance(event.get(key), str):
            event[key] = redact(event[key])
    return event


def level_for(verbose: bool, quiet: bool = False) -> int:
    if verbose:
        return logging.DEBUG
    return logging.WARNING if quiet else logging.INFO


def configure(verbose: bool = False, quiet: bool = False, stream: TextIO | None = None) -> None:
    """Set up structlog and the standard library's logging for this process."""
    level = level_for(verbose, quiet)
    out = stream or sys.stderr
    renderer: structlog.types.Processor = (
        # plain tracebacks: rich's would print local variables, which may hold secrets
        structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
        if out.isatty()
        else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _redact_event, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler: logging.Handler = logging.StreamHandler(stream) if stream else _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)  # Python warnings too, as "py.warnings" lines
    for name in _LIBRARIES:
        library = logging.getLogger(name)
        library.setLevel(logging.INFO if verbose else logging.WARNING)
        library.handlers = []  # Lithops adds its own plain-text handler; ours renders instead
        library.propagate = True
