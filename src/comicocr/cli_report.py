"""``comicocr view`` and ``comicocr export``: look at a results folder, or hand it to other tools.

Both read a local results folder only (the ``*_ocr.json`` files of a run, with ``/`` in
canonical ids as subfolders); cli.py registers them. The heavy modules (Pillow, the queue
adapters) load when a command runs, not when the CLI starts.
"""

from __future__ import annotations

import re
import sys
import webbrowser
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from comicocr.report import Failure, Loaded

EXIT_USAGE, EXIT_INCOMPLETE = 2, 3
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")  # s3://b/p arrives as the Path "s3:/b/p"

Results = Annotated[
    Path,
    typer.Argument(help="local results folder (the *_ocr.json files of a run)", show_default=False),
]


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    mokuro = "mokuro"


def _error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _local_folder(results: Path, what: str = "RESULTS") -> Path:
    """``results`` as an existing local folder, or one line saying why not (exit 2)."""
    if _URL.match(str(results)):
        raise _error(
            f"{what} must be a local folder, not a URL ({str(results).split(':', 1)[0]}://...):"
            " copy the results here first (e.g. aws s3 sync s3://bucket/prefix results)"
        )
    if not results.exists():
        raise _error(f"results folder not found: {results}")
    if not results.is_dir():
        raise _error(f"not a folder: {results} (give the folder that holds the *_ocr.json files)")
    return results


def _dead_letters(queue: str) -> list[Failure]:
    """The queue's dead letters, listed as ``redrive --dry-run`` lists them: nothing moves."""
    from comicocr.cli import _settings, _with_pipeline
    from comicocr.consumer.redrive import redrive
    from comicocr.report import Failure

    settings = _settings(queue=queue)
    report = _with_pipeline(settings, lambda pipeline: redrive(pipeline.queue, dry_run=True), create=False)
    return [
        Failure(item.canonical_id, f"dead letter [{item.error_class or 'unknown'}]", item.error)
        for item in report.listed
    ]


def view(
    results: Results,
    output: Annotated[
        Path | None, typer.Option(help="folder to write index.html into (default: RESULTS/report)")
    ] = None,
    open_: Annotated[bool, typer.Option("--open", help="open the report in the default browser")] = False,
    queue: Annotated[
        str | None,
        typer.Option(
            help="also list this queue's dead letters (SQS URL, sqs://NAME, sqlite:///FILE; none move)"
        ),
    ] = None,
) -> None:
    """Write an HTML report of a results folder: each page with its boxes, numbered in reading
    order, its text beside it, and what failed. One self-contained file; no network, no script."""
    from comicocr.report import write_report

    folder = _local_folder(results)
    if output is not None and _URL.match(str(output)):
        raise _error("--output must be a local folder")
    failures = _dead_letters(queue) if queue else []
    written = write_report(folder, output, failures)
    summary = (
        f"report: {written.pages} page{'' if written.pages == 1 else 's'}"
        if written.pages
        else "report: no results in this folder"
    )
    typer.echo(f"{summary}, {written.failures} failures listed", err=True)
    index = written.index
    typer.echo(str(index.resolve()))
    if open_:
        webbrowser.open(index.resolve().as_uri())


def _skipped(failures: list[Failure]) -> None:
    for failure in failures:
        typer.echo(f"skipped: {failure.canonical_id or '-'}: {failure.kind}: {failure.reason}", err=True)


def export(
    results: Results,
    format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (one result a line) or mokuro (.mokuro volumes)")
    ] = ExportFormat.jsonl,
    output: Annotated[
        Path | None,
        typer.Option(help="jsonl: the file to write (default: stdout); mokuro: the folder (required)"),
    ] = None,
) -> None:
    """Export a results folder: JSON Lines sorted by canonical id, or one .mokuro volume per
    folder of pages for mokuro's manga reader. Exit 3 when some result file could not be read."""
    from comicocr.export import mokuro_volumes, write_jsonl, write_mokuro
    from comicocr.report import load_results

    folder = _local_folder(results)
    if output is not None and _URL.match(str(output)):
        raise _error("--output must be a local path")
    loaded: list[Loaded]
    loaded, failures = load_results(folder)
    if format is ExportFormat.jsonl:
        if output is None:
            count = write_jsonl(loaded, sys.stdout)
            sys.stdout.flush()
        else:
            try:
                with output.open("w", encoding="utf-8") as handle:
                    count = write_jsonl(loaded, handle)
            except OSError as exc:
                raise _error(f"cannot write {output}: {exc.strerror or exc}") from None
        typer.echo(f"exported {count} results" + (f" to {output}" if output else ""), err=True)
    else:
        if output is None:
            raise _error("--format mokuro needs --output DIR (one .mokuro file per volume goes there)")
        default = folder.resolve().name or "volume"
        volumes, left_out = mokuro_volumes(loaded, default)
        failures += left_out
        try:
            written = write_mokuro(volumes, output)
        except ValueError as exc:
            raise _error(str(exc)) from None
        for path in written:
            typer.echo(str(path))
        pages = sum(len(v["pages"]) for v in volumes.values())
        typer.echo(f"exported {pages} pages in {len(written)} volumes to {output}", err=True)
    _skipped(failures)
    if failures:
        raise typer.Exit(EXIT_INCOMPLETE)
