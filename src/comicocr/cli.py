"""The ``comicocr`` command line: builds Settings once and passes them down.

Exit codes: 0 every page has a result; 1 unexpected error; 2 bad usage or
configuration; 3 some page ended in the dead-letter queue (or, after ``run``, has no result);
4 some manifest row was rejected (and no page was dead-lettered); 130 ``run`` was interrupted
(SIGINT/SIGTERM) before every page was done (``consume`` exits 0 after a graceful stop:
that is its normal end).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import structlog
import typer
from pydantic import ValidationError

from comicocr import archives, logs, storage
from comicocr.cli_report import export, view
from comicocr.errors import ConfigError, PageError
from comicocr.settings import Settings

if TYPE_CHECKING:
    from comicocr.consumer import Consumer, Stats
    from comicocr.consumer.redrive import Redriven
    from comicocr.manifest import RejectedRow
    from comicocr.messages import PageMessage
    from comicocr.pipeline import Pipeline
    from comicocr.producer import EnqueueReport
    from comicocr.producer.pages import ManifestPages
    from comicocr.producer.todo import Counts
    from comicocr.progress import Progress, Reading

T = TypeVar("T")
log = structlog.get_logger("comicocr.cli")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DEAD_LETTERED, EXIT_REJECTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Streaming OCR for comic and manga pages.",
    epilog=(
        "Start here:\n\n\b\n  comicocr run --manifest examples/manifest.csv --output results"
        "\n  comicocr COMMAND --help"
    ),
    rich_markup_mode=None,  # help texts hold brackets (s3://bucket[/prefix]), not markup
    pretty_exceptions_enable=False,  # main() turns errors into one line; locals may hold secrets
)

_EXAMPLES = {
    "run": [
        "comicocr run --manifest examples/manifest.csv --output results",
        "comicocr run --manifest pages.csv --method paddleocr --lang ja --workers 4",
        "comicocr run --manifest pages.csv --output s3://my-bucket/ocr --queue sqs://pages",
    ],
    "enqueue": [
        "comicocr enqueue --queue sqs://pages --manifest pages.csv --output s3://my-bucket/ocr",
        "comicocr enqueue --queue sqs://pages --canonical-id series/001/p01 --image s3://scans/p01.png",
    ],
    "consume": [
        "comicocr consume --queue sqs://pages --output s3://my-bucket/ocr --allow-root s3://scans",
        "comicocr consume --queue sqlite:///.comicocr/queue.sqlite3 --until-idle --output results",
    ],
    "redrive": [
        "comicocr redrive --queue sqs://pages --dry-run",
        "comicocr redrive --queue sqs://pages --error-class retries_exhausted --method paddleocr --max 100",
    ],
    "estimate": [
        "comicocr estimate --pages 100000 --method paddleocr --workers 200",
        "comicocr estimate --manifest pages.csv --method qwen",
    ],
    "status": [
        "comicocr status --queue sqs://pages",
        "comicocr status --queue sqlite:///.comicocr/queue.sqlite3 --json",
    ],
    "view": [
        "comicocr view results --open",
        "comicocr view results --queue sqs://pages --output /tmp/report",
    ],
    "export": [
        "comicocr export results --format jsonl --output results.jsonl",
        "comicocr export results --format mokuro --output manga/",
    ],
    "notify": [
        "comicocr notify --bucket my-scans --prefix incoming/ --queue sqs://pages",
        "comicocr notify --bucket my-scans --queue https://sqs.eu-west-1.amazonaws.com/123456789012/pages"
        " --dry-run",
    ],
}


def _examples(command: str) -> str:
    """A command's examples, one per line as written (click rewraps a paragraph without \\b)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in _EXAMPLES[command])


def _version(value: bool) -> None:
    if value:
        from comicocr import __version__

        typer.echo(f"comicocr {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_version, help="print the version and exit")
    ] = False,
) -> None:
    """Streaming OCR for comic and manga pages: comicocr run --manifest pages.csv --output results"""


# Options shared by several commands (None = not given: env or default applies).
Queue = Annotated[
    str | None, typer.Option(help="SQS queue URL, sqs://NAME, or sqlite:///FILE (embedded queue)")
]
Method = Annotated[
    str | None,
    typer.Option(
        help="OCR engine: paddleocr, tesseract, easyocr, qwen, gemma, deepseek, vlm, null"
        " (default: paddleocr when installed, else tesseract)"
    ),
]
Lang = Annotated[str | None, typer.Option(help="page language: en, fr, ja")]
Output = Annotated[
    str | None, typer.Option(help="results folder, s3://bucket/prefix, az://container/prefix or gs://bucket/prefix")
]
OutputBucket = Annotated[str | None, typer.Option(help="S3 bucket for results (seed flag)")]
OutputPrefix = Annotated[str | None, typer.Option(help="key prefix inside --output-bucket")]
Workers = Annotated[int | None, typer.Option(min=1, help="parallel Lithops workers")]
Backend = Annotated[
    str | None, typer.Option(help="Lithops compute backend (aws_lambda, k8s, ...); default: the config's")
]
LithopsConfig = Annotated[
    Path | None,
    typer.Option(
        help="Lithops config file (default: $LITHOPS_CONFIG_FILE, ~/.lithops/config, ./lithops.yaml,"
        " as Lithops resolves it; else localhost)"
    ),
]
LithopsStorage = Annotated[
    str | None, typer.Option("--storage", help="Lithops storage backend (aws_s3, ...); default: the config's")
]
Gpu = Annotated[bool, typer.Option("--gpu", help="use a GPU where the engine can")]
ApiKey = Annotated[
    str | None,
    typer.Option(
        help="VLM API key (default: $OPENROUTER_API_KEY); given to local workers through their environment"
    ),
]
Model = Annotated[
    str | None, typer.Option(help="VLM model id, overriding the preset's (qwen, gemma, deepseek)")
]
Direction = Annotated[
    str | None, typer.Option(help="reading order: ltr or rtl (default: rtl for --lang ja, else ltr)")
]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="more detail: debug lines, Lithops' and botocore's own")
]
MetricsPort = Annotated[
    int | None,
    typer.Option(min=0, max=65535, help="serve /healthz, /readyz, /metrics on this port (0: any free one)"),
]
MetricsHost = Annotated[str | None, typer.Option(help="address for --metrics-port (default 127.0.0.1)")]
VlmRateStore = Annotated[
    str | None,
    typer.Option(
        help="share the VLM budget with every consumer of the key: redis://host:port/db, or a file"
        " (one machine); default: this consumer paces itself"
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(min=0, help="the most pages one micro-batch takes (0: sized from the engine's page time)"),
]
BatchWindow = Annotated[
    float | None, typer.Option(help="while other batches run, a batch gathers at most this long (s)")
]
ImagePrefix = Annotated[str | None, typer.Option(help="prefix for relative image paths in the manifest")]
AllowRoot = Annotated[
    list[str] | None,
    typer.Option(
        help="folder, s3://bucket[/prefix], az://container[/prefix] or gs://bucket[/prefix] images may"
        " come from (repeatable)"
    ),
]
AllowOutputRoot = Annotated[
    list[str] | None,
    typer.Option(
        help="folder or s3://, az://, gs:// prefix a message's `output` may name (repeatable; default: none)"
    ),
]


def _use_api_key(api_key: str | None) -> None:
    """Hand --api-key to the engines the way they read it: the environment, which Lithops'
    localhost workers inherit. It is never put in a message, a payload or a result."""
    if api_key:
        os.environ["OPENROUTER_API_KEY"] = api_key


def _settings(
    *,
    output_bucket: str | None = None,
    output_key_prefix: str | None = None,
    extra_roots: list[str] | None = None,
    **flags: Any,  # Settings fields, each of its own type
) -> Settings:
    """The one Settings of a command: its flags (None or False: not given, so the environment
    or the default applies), with ``extra_roots`` allowed before any configured ones."""
    if output_bucket:
        flags["output"] = f"s3://{output_bucket}/{(output_key_prefix or '').strip('/')}".rstrip("/")
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None and v is not False})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        why = str(err["msg"]).removeprefix("Value error, ")  # pydantic's prefix for a validator's words
        raise ConfigError(f"{where + ': ' if where else ''}{why}") from None
    if extra_roots:
        settings = settings.model_copy(update={"allowed_roots": [*extra_roots, *settings.allowed_roots]})
    if "method" in flags and not flags["method"] and not os.environ.get("COMICOCR_METHOD"):
        from comicocr.engines import best_installed

        notice = best_installed(settings.lang)[1]
        if notice:
            log.info("engine.chosen", method=settings.method, notice=notice)
    return settings


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _with_pipeline(settings: Settings, work: Callable[[Pipeline], Awaitable[T]], create: bool = True) -> T:
    """Open the command's queue once, run ``work`` with it, close it."""
    from comicocr.pipeline import Pipeline

    async def main() -> T:
        async with Pipeline(settings, create=create) as pipeline:
            return await work(pipeline)

    return asyncio.run(main())


def _manifest_roots(manifest: Path, image_path_prefix: str | None) -> list[str]:
    """Where a manifest's images may come from without --allow-root: its folder and the prefix."""
    return [str(manifest.resolve().parent), *([image_path_prefix] if image_path_prefix else [])]


def _manifest_source(
    manifest: Path, settings: Settings, image_path_prefix: str | None, method: str | None
) -> ManifestPages:
    """A manifest's pages as a stream; each rejected row is printed with its line number as
    it is met (a file that cannot be read at all is a ConfigError now, before anything)."""
    from comicocr.producer.pages import ManifestPages

    def report(bad: RejectedRow) -> None:
        typer.echo(f"manifest line {bad.line}: rejected: {bad.reason}", err=True)

    return ManifestPages(
        manifest,
        image_path_prefix,
        settings.allowed_roots,
        settings.allow_http,
        method,
        report,
        local_images=settings.local_images,
    )


def _preflight(settings: Settings) -> Settings:
    """Before anything is enqueued or received: engine, Lithops config and output (preflight.py).
    Returns the settings as the Lithops config completes them."""
    from comicocr.lithops_config import PACKAGED, find_config
    from comicocr.preflight import before_consuming

    settings = before_consuming(settings)
    source = find_config(settings.lithops_config)
    if source.found_by not in ("./lithops.yaml", PACKAGED, "--lithops-config"):
        # found the Lithops way, outside this folder (LITHOPS_CONFIG_FILE, ~/.lithops/config): say so
        typer.echo(f"comicocr: Lithops config {source} (from {source.found_by})", err=True)
    if settings.metrics_port:  # a busy port found now, not after the pages were enqueued
        import socket

        with socket.socket(socket.AF_INET6 if ":" in settings.metrics_host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.metrics_host, settings.metrics_port))
            except OSError as exc:
                raise ConfigError(
                    f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc.strerror}"
                ) from None
    return settings


def _warn_before_consuming(settings: Settings) -> None:
    if settings.gpu:
        from comicocr.engines import engine_class

        if not engine_class(settings.method).supports_gpu:
            log.warning("engine.no_gpu", method=settings.method, hint="it runs on the CPU")
    if not settings.allowed_roots:
        log.warning(
            "consumer.no_allowed_roots",
            hint="messages may name any file or bucket this process can read: set"
            " COMICOCR_ALLOWED_ROOTS or --allow-root",
        )


async def _showing(progress: Progress, read: Reading, work: Awaitable[T]) -> T:
    """Await ``work`` while ``progress`` shows what ``read`` says."""
    shown = asyncio.create_task(progress.follow(read))
    try:
        return await work
    finally:
        shown.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await shown


def _progress(what: str, total: int, settings: Settings) -> Progress:
    from comicocr.progress import Progress

    return Progress(what, total, settings.progress_every_s)


@app.command(epilog=_examples("run"))
def run(
    manifest: Annotated[
        Path,
        typer.Option(help="CSV with header canonical_id,absolute_image_path (an image, a .cbz or a folder)"),
    ],
    method: Method = None,
    lang: Lang = None,
    output: Output = None,
    output_bucket: OutputBucket = None,
    output_key_prefix: OutputPrefix = None,
    workers: Workers = None,
    queue: Queue = None,
    backend: Backend = None,
    lithops_storage: LithopsStorage = None,
    lithops_config: LithopsConfig = None,
    image_path_prefix: ImagePrefix = None,
    allow_root: AllowRoot = None,
    batch_size: BatchSize = None,
    batch_window_s: BatchWindow = None,
    reading_direction: Direction = None,
    api_key: ApiKey = None,
    model: Model = None,
    gpu: Gpu = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = None,
    vlm_rate_store: VlmRateStore = None,
    retry_dead: Annotated[
        bool,
        typer.Option(
            "--retry-dead", help="send pages again that are in the dead-letter queue for a permanent reason"
        ),
    ] = False,
    verbose: Verbose = False,
) -> None:
    """The main job: enqueue a manifest, consume until every page is done or dead-lettered."""
    logs.configure(verbose, quiet=sys.stderr.isatty())  # on a terminal the progress bar says the rest
    _use_api_key(api_key)
    settings = _settings(
        method=method,
        lang=lang,
        output=output,
        output_bucket=output_bucket,
        output_key_prefix=output_key_prefix,
        workers=workers,
        queue=queue,
        backend=backend,
        storage=lithops_storage,
        lithops_config=lithops_config,
        allowed_roots=allow_root,
        extra_roots=_manifest_roots(manifest, image_path_prefix),
        batch_size=batch_size,
        batch_window_s=batch_window_s,
        reading_direction=reading_direction,
        vlm_model=model,
        gpu=gpu,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        vlm_rate_store=vlm_rate_store,
    )
    settings = _preflight(settings)
    from comicocr.producer.todo import Counts, todo_blocks

    source = _manifest_source(manifest, settings, image_path_prefix, None)
    counts = Counts()
    if storage.is_object(settings.output) or source.rows >= 1000:
        typer.echo(f"comicocr: checking which pages have results in {settings.output}", err=True)
    blocks = todo_blocks(source, settings.output, counts)
    first = next(blocks, None)
    if first is None:  # nothing to do: no queue to open, nothing to wait for
        typer.echo(
            f"done: {counts.already} of {counts.pages} pages have results in {_where(settings.output)}"
            f" (0 new, {counts.already} already there)"
        )
        raise typer.Exit(EXIT_REJECTED if source.rejected else EXIT_OK)
    _warn_before_consuming(settings)

    async def enqueue_then_consume(pipeline: Pipeline) -> tuple[EnqueueReport, Stats, list[Redriven]]:
        from comicocr.consumer.redrive import dead_for_good, source_key
        from comicocr.idset import IdSet
        from comicocr.producer import EnqueueReport

        # A page a re-run would only dead-letter again (a missing image, a poison id) is
        # reported from the dead-letter queue instead; --retry-dead sends it anyway.
        dead_index = {} if retry_dead else await dead_for_good(pipeline.queue)
        dead: list[Redriven] = []
        # Done once this manifest's pages are settled: messages a killed run left in flight
        # (the same pages, hidden for the visibility timeout) are not waited out.
        wanted = IdSet()
        report = EnqueueReport()

        async def send_all() -> None:
            block: list[PageMessage] | None = first
            while block is not None:
                sending = []
                for page in block:
                    hit = dead_index.get((page.canonical_id, source_key(page.image_path, page.member)))
                    if hit is None:
                        sending.append(page)
                    else:
                        dead.append(hit)
                failed_before = len(report.failed)
                await pipeline.enqueue(sending, report)
                not_sent = set(report.failed[failed_before:])
                for page in sending:
                    if page.canonical_id not in not_sent:
                        wanted.add(page.canonical_id)
                # the next block's reading and listing, off the event loop
                block = await asyncio.to_thread(_next_block, blocks)

        progress = _progress("enqueue", source.rows, settings)  # rows: about the pages (archives: more)
        await _showing(progress, lambda: (report.handled + counts.already + len(dead), 0), send_all())
        typer.echo(
            f"comicocr: {counts.pages - counts.already} pages to OCR with {settings.method}"
            f" ({counts.already} already done) -> {settings.output}",
            err=True,
        )
        ocr = _progress("ocr", len(wanted), settings)

        def follow(consumer: Consumer) -> Awaitable[None]:
            return ocr.follow(lambda: (consumer.stats.settled_well, len(consumer.stats.dead)))

        return report, await pipeline.consume(until_idle=True, wanted=wanted, sidecars=[follow]), dead

    report, stats, dead = _with_pipeline(settings, enqueue_then_consume)
    raise typer.Exit(_run_summary(settings, source, counts, report, stats, dead))


def _run_summary(
    settings: Settings,
    source: ManifestPages,
    counts: Counts,
    report: EnqueueReport,
    stats: Stats,
    dead_before: list[Redriven],
) -> int:
    """Print what ``run`` did; return its exit code."""
    todo = counts.pages - counts.already
    n_missing, missing = _without_results_at_end(settings.output, source, stats, report)
    done = todo - n_missing - stats.watched_dead - len(dead_before)
    # Another run (or consumer) on the same queue may have written some of them meanwhile.
    by_others = max(0, done - stats.outcomes["done"])
    typer.echo(
        f"done: {done + counts.already} of {counts.pages} pages have results in {_where(settings.output)}"
        f" ({done} new, {counts.already} already there"
        + (f"; {by_others} of the new ones written by another consumer)" if by_others else ")")
    )
    typer.echo(
        f"time: {stats.elapsed_s:.1f} s, {stats.outcomes['done'] / max(stats.elapsed_s, 1e-9):.2f} pages/s"
    )
    if stats.vlm_requests:  # every request sent: answers, errors, throttling, retries in the workers
        without = stats.vlm_requests - stats.vlm_answered
        typer.echo(
            f"vlm: {stats.vlm_requests} requests ({stats.vlm_answered} answered with a result,"
            f" {without} without), {stats.vlm_tokens} tokens ({stats.tokens_per_min:.0f}/min)"
        )
    _print_what_went_wrong(stats, report, source.rejected, dead_before)
    if stats.fatal:
        typer.echo(f"error: {stats.fatal}", err=True)
        return EXIT_ERROR
    if stats.interrupted and done < todo:
        typer.echo("interrupted: the pages not done are back on the queue; run again to finish them")
        return EXIT_INTERRUPTED
    if stats.dead or report.failed or dead_before:
        return EXIT_DEAD_LETTERED
    # Neither done nor dead-lettered here: another consumer dead-lettered it, or an SQS FIFO
    # queue dropped its message as a repeat of one sent in the last 5 minutes. Never exit 0.
    for cid in missing[:20]:
        typer.echo(f"not done: {cid} (look in the dead-letter queue: comicocr redrive --dry-run)")
    if n_missing:
        if n_missing > 20:
            typer.echo(f"not done: {n_missing - 20} more")
        return EXIT_DEAD_LETTERED
    if source.rejected:
        return EXIT_REJECTED
    return EXIT_OK


def _without_results_at_end(
    output: str, source: ManifestPages, stats: Stats, report: EnqueueReport
) -> tuple[int, list[str]]:
    """How many of the pages neither settled here nor dead before have no result now (another
    run or consumer may have written some meanwhile), and the first 20 of their ids. The
    manifest is read again for their names, only when some are left (an interruption)."""
    from comicocr.producer.todo import batched

    waiting, failed = stats.waiting, set(report.failed)
    if not failed and not waiting:
        return 0, []
    left = (
        p.canonical_id
        for p in source
        if p.canonical_id in failed or (waiting is not None and p.canonical_id in waiting)
    )
    missing: list[str] = []
    n_missing = 0
    for block in batched(left, 5000):
        there = storage.existing_results(output, block)
        for cid in block:
            if cid not in there:
                n_missing += 1
                if len(missing) < 20:
                    missing.append(cid)
    return n_missing, missing


def _print_what_went_wrong(
    stats: Stats, report: EnqueueReport, rejected: int, dead_before: list[Redriven]
) -> None:
    for ident, error_class, reason in stats.dead:
        typer.echo(f"dead-lettered: {ident} [{error_class}] {reason}")
    for d in dead_before:
        typer.echo(f"dead-lettered before, not sent again: {d.canonical_id} [{d.error_class}] {d.error}")
    if dead_before:
        typer.echo(
            f"to retry those {len(dead_before)}: fix them, then comicocr redrive (or run --retry-dead)"
        )
    if report.already_queued:
        typer.echo(f"not sent again: {report.already_queued} pages already waiting in the queue")
    for cid in report.failed:
        typer.echo(f"not enqueued: {cid}")
    if rejected:
        typer.echo(f"rejected manifest rows: {rejected} (see messages above)")


def _next_block(blocks: Iterator[list[PageMessage]]) -> list[PageMessage] | None:
    return next(blocks, None)


def _one_page(canonical_id: str, image: str | None, method: str | None) -> tuple[list[PageMessage], int]:
    """``enqueue --canonical-id --image``: the page (an archive's or folder's pages) and how
    many of its members were refused (each printed)."""
    from comicocr.messages import PageMessage

    if not image:
        raise _fail("--canonical-id needs --image")
    try:
        PageMessage(canonical_id=canonical_id, image_path=image)  # the id and path are sane
        found, refused = archives.expand(canonical_id, image)
    except ValidationError as exc:
        raise _fail(f"invalid page: {exc.errors()[0]['msg']}") from None
    except PageError as exc:
        raise _fail(f"{image[:200]}: {exc}") from None
    for r in refused:
        typer.echo(f"rejected: {image[:200]}: {r.where!r}: {r.reason}", err=True)
    from comicocr.producer.pages import page_message

    return [page_message(page, method) for page in found], len(refused)


def _where(output: str) -> str:
    return output if storage.is_object(output) else str(Path(output).resolve())


@app.command(epilog=_examples("enqueue"))
def enqueue(
    queue: Annotated[str, typer.Option(help="SQS queue URL, sqs://NAME, or sqlite:///FILE")],
    manifest: Annotated[Path | None, typer.Option(help="CSV manifest (backfill)")] = None,
    canonical_id: Annotated[str | None, typer.Option(help="one page: its id")] = None,
    image: Annotated[
        str | None,
        typer.Option(help="one page: its image path or s3://, az://, gs:// URI (a .cbz or folder: pages)"),
    ] = None,
    image_path_prefix: ImagePrefix = None,
    allow_root: AllowRoot = None,
    method: Method = None,
    output: Annotated[
        str | None,
        typer.Option(
            help="the consumers' results folder or s3://, az://, gs:// prefix: pages with a result there"
            " are skipped"
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Send a manifest (backfill) or one page (continuous ingestion) to the queue.

    A page still waiting in the embedded queue (or, on an SQS FIFO queue, sent in the last 5
    minutes) is not sent twice; with --output, pages that already have a result are skipped."""
    logs.configure(verbose)
    from comicocr.producer.todo import BLOCK, batched

    if (manifest is None) == (canonical_id is None):
        raise _fail("give either --manifest or --canonical-id with --image")
    roots = _manifest_roots(manifest, image_path_prefix) if manifest is not None else None
    settings = _settings(queue=queue, output=output, allowed_roots=allow_root, extra_roots=roots)
    if method is not None:  # the consumers' machines are not this one: only what is checkable here
        from comicocr.preflight import check_engine

        check_engine(settings, method, on_this_machine=False)
    from comicocr.producer.todo import Counts, todo_blocks

    pages: Iterable[PageMessage]
    rows: int  # for the progress display: about the pages (an archive's pages are more)
    rejected = 0
    source: ManifestPages | None = None
    if manifest is not None:
        source = _manifest_source(manifest, settings, image_path_prefix, method)
        pages, rows = source, source.rows
    else:
        pages, rejected = _one_page(canonical_id or "", image, method)
        rows = len(pages)

    counts = Counts()
    # With --output, the pages that have a result there are skipped, a block at a time.
    blocks = todo_blocks(pages, settings.output, counts) if output is not None else batched(pages, BLOCK)

    async def send(pipeline: Pipeline) -> EnqueueReport:
        from comicocr.producer import EnqueueReport

        report = EnqueueReport()

        async def send_all() -> None:
            # the reading (and listing) of each block off the event loop
            while (block := await asyncio.to_thread(_next_block, blocks)) is not None:
                await pipeline.enqueue(block, report)

        progress = _progress("enqueue", rows, settings)
        await _showing(progress, lambda: (report.handled + counts.already, 0), send_all())
        return report

    report = _with_pipeline(settings, send)
    skipped = counts.already
    if source is not None:
        rejected = source.rejected
    typer.echo(
        f"enqueued {report.sent} page{'' if report.sent == 1 else 's'} to {queue}"
        + (f"; {skipped} already have results in {_where(settings.output)}" if skipped else "")
        + (
            f"; not sent again: {report.already_queued} already waiting in the queue"
            if report.already_queued
            else ""
        )
    )
    for cid in report.failed:
        typer.echo(f"not enqueued: {cid}")
    if report.failed:
        raise typer.Exit(EXIT_ERROR)
    if rejected:
        raise typer.Exit(EXIT_REJECTED)


@app.command(epilog=_examples("consume"))
def consume(
    queue: Queue = None,
    method: Method = None,
    lang: Lang = None,
    output: Output = None,
    output_bucket: OutputBucket = None,
    output_key_prefix: OutputPrefix = None,
    workers: Workers = None,
    backend: Backend = None,
    lithops_storage: LithopsStorage = None,
    lithops_config: LithopsConfig = None,
    allow_root: AllowRoot = None,
    allow_output_root: AllowOutputRoot = None,
    batch_size: BatchSize = None,
    batch_window_s: BatchWindow = None,
    until_idle: Annotated[bool, typer.Option("--until-idle", help="drain the queue, then exit")] = False,
    reading_direction: Direction = None,
    api_key: ApiKey = None,
    model: Model = None,
    gpu: Gpu = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = None,
    vlm_rate_store: VlmRateStore = None,
    verbose: Verbose = False,
) -> None:
    """The long-running service: consume pages until SIGTERM (or until idle)."""
    logs.configure(verbose)
    _use_api_key(api_key)
    settings = _settings(
        queue=queue,
        method=method,
        lang=lang,
        output=output,
        output_bucket=output_bucket,
        output_key_prefix=output_key_prefix,
        workers=workers,
        backend=backend,
        storage=lithops_storage,
        lithops_config=lithops_config,
        allowed_roots=allow_root,
        allowed_output_roots=allow_output_root,
        batch_size=batch_size,
        batch_window_s=batch_window_s,
        reading_direction=reading_direction,
        vlm_model=model,
        gpu=gpu,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        vlm_rate_store=vlm_rate_store,
    )
    settings = _preflight(settings)
    _warn_before_consuming(settings)
    stats = _with_pipeline(settings, lambda pipeline: pipeline.consume(until_idle))
    typer.echo(
        json.dumps({"received": stats.received, **stats.outcomes, "seconds": round(stats.elapsed_s, 1)})
    )
    if stats.fatal:
        typer.echo(f"error: {stats.fatal}", err=True)
        raise typer.Exit(EXIT_ERROR)
    if stats.dead:
        raise typer.Exit(EXIT_DEAD_LETTERED)


@app.command(epilog=_examples("redrive"))
def redrive(
    queue: Queue = None,
    dlq: Annotated[str | None, typer.Option(help="dead-letter queue (default <queue>-dlq)")] = None,
    error_class: Annotated[
        list[str] | None,
        typer.Option(help="only this error class: permanent, poison, retries_exhausted (repeatable)"),
    ] = None,
    id_prefix: Annotated[str | None, typer.Option(help="only canonical ids starting with this")] = None,
    method: Method = None,
    options: Annotated[
        str | None, typer.Option(help='engine options as JSON, replacing the pages\' own (e.g. {"psm": 11})')
    ] = None,
    max_messages: Annotated[
        int | None, typer.Option("--max", min=1, help="move (or with --dry-run list) at most this many")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would move; move nothing")] = False,
) -> None:
    """Move dead-lettered pages back to the queue, optionally to another engine."""
    from comicocr.consumer.redrive import redrive as do_redrive
    from comicocr.consumer.redrive import retarget

    try:
        new_options = None if options is None else json.loads(options)
    except json.JSONDecodeError as exc:
        raise _fail(f"--options is not JSON: {exc.msg}") from None
    if new_options is not None and not isinstance(new_options, dict):
        raise _fail('--options must be a JSON object, such as {"psm": 11}')
    target = retarget(method, new_options)  # a bad engine or options: exit 2 before the queue is touched
    settings = _settings(queue=queue, dlq=dlq)
    report = _with_pipeline(
        settings,
        lambda pipeline: do_redrive(
            pipeline.queue,
            error_classes=set(error_class or []),
            id_prefix=id_prefix,
            method=method,
            options=new_options,
            max_messages=max_messages,
            dry_run=dry_run,
        ),
        create=False,
    )
    verb = "would move" if dry_run else "moved"
    for item in report.listed:
        typer.echo(f"{verb}: {item.canonical_id or '-'} [{item.error_class}] {item.error}")
    if target.changes_body:
        line = _options_line(report.dropped_options, len(report.listed), target.method, new_options, dry_run)
        typer.echo(line)
    typer.echo(f"{verb} {len(report.listed) if dry_run else report.moved} messages ({report.via})")


def _options_line(
    dropped: dict[str, int], pages: int, method: str | None, options: dict[str, object] | None, dry_run: bool
) -> str:
    """One line saying what became of the redriven pages' engine options."""
    if options is not None:
        verb = "would be replaced" if dry_run else "replaced"
        return f"options: {verb} with {json.dumps(options)} on {pages} pages"
    if not dropped:
        return f"options: none dropped (engine {method!r} takes every option the pages set)"
    names = ", ".join(f"{k} ({n} pages)" for k, n in sorted(dropped.items()))
    return f"options: {'would drop' if dry_run else 'dropped'} {names}: engine {method!r} does not take them"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    hours, rest = divmod(seconds, 3600)
    return f"{int(hours)} h {rest / 60:.0f} min" if hours else f"{rest / 60:.0f} min"


@app.command(epilog=_examples("estimate"))
def estimate(
    pages: Annotated[
        int | None, typer.Option(min=1, help="how many pages (default: the manifest's rows)")
    ] = None,
    manifest: Annotated[Path | None, typer.Option(help="count the pages of this manifest")] = None,
    method: Method = None,
    workers: Annotated[int, typer.Option(min=1, help="parallel workers (Lambda concurrency, pods...)")] = 100,
    pages_per_call: Annotated[int, typer.Option(min=1, help="pages per Lithops call")] = 25,
) -> None:
    """Time and AWS Lambda cost of a run, from measured engine profiles (bench/cost.py)."""
    from comicocr.estimate import estimate as model

    settings = _settings(method=method)
    if pages is None:
        if manifest is None:
            raise _fail("give --pages or --manifest")
        from comicocr.manifest import scan_manifest

        scan = scan_manifest(manifest)
        pages = scan.rows - len(scan.rejected)
    from comicocr.engines import engine_class

    if engine_class(settings.method).paced:
        from comicocr.estimate import estimate_vlm

        wall, tokens = estimate_vlm(pages, settings.vlm_requests_per_min)
        typer.echo(
            f"{pages} pages with {settings.method} at {settings.vlm_requests_per_min:g} requests/min:\n"
            f"  time:   ~{wall / 3600:.1f} h (the request rate binds, not the workers)\n"
            f"  tokens: at most ~{tokens:,} (image + prompt + output allowance):"
            " multiply by your model's price"
        )
        return
    try:
        e = model(pages, settings.method, workers, pages_per_call)
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None
    typer.echo(
        f"{e.pages} pages with {e.method} on {e.workers} workers ({e.calls} Lithops calls):\n"
        f"  time:  ~{_duration(e.wall_s)} wall, {e.cpu_hours:.1f} CPU-hours\n"
        f"  AWS Lambda ({e.lambda_memory_gb:.2f} GB per worker): ~${e.lambda_usd:.2f}"
        f" (${e.usd_per_1000_pages:.3f} per 1,000 pages)"
    )


@app.command(epilog=_examples("status"))
def status(
    queue: Queue = None,
    dlq: Annotated[str | None, typer.Option(help="dead-letter queue")] = None,
    as_json: Annotated[
        bool | None,
        typer.Option("--json/--table", help="one JSON object, or a table (default: a table on a terminal)"),
    ] = None,
) -> None:
    """Waiting, in flight, delayed, dead-lettered (by error class), the oldest message's age and
    pages per minute over the last 1, 5 and 15 minutes; n/a (null) where the queue cannot say."""
    from comicocr import queue_status

    settings = _settings(queue=queue, dlq=dlq)
    address = settings.queue_address
    stats = asyncio.run(queue_status.read_stats(address, settings.dlq, settings.visibility_timeout_s))
    # Not on a terminal (a script, a pipe) JSON stays the default: status printed only JSON before.
    if not sys.stdout.isatty() if as_json is None else as_json:
        typer.echo(json.dumps(queue_status.as_json(address, stats)))
    else:
        typer.echo(queue_status.table(address, stats))


@app.command(epilog=_examples("notify"))
def notify(
    bucket: Annotated[str, typer.Option(help="the bucket whose new images become pages (its name)")],
    queue: Annotated[
        str | None, typer.Option(help="SQS queue URL or sqs://NAME (the embedded queue gets no S3 events)")
    ] = None,
    prefix: Annotated[str, typer.Option(help="only keys starting with this, e.g. incoming/")] = "",
    suffix: Annotated[
        list[str] | None,
        typer.Option(
            help="only keys ending in this (repeatable; S3 matches case; default: each image suffix the"
            " consumer reads, in lower and upper case)"
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="print the queue policy and bucket notification as JSON; change nothing"
        ),
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Continuous ingestion: S3 sends the bucket's new images to the queue, one page each.

    Sets the bucket's ObjectCreated notification to the queue and the queue policy that lets S3
    send, merged into what is there (other statements and configurations are kept); running it
    again changes nothing."""
    logs.configure(verbose)
    from comicocr.producer import notify as s3_notify

    address = _settings(queue=queue).queue_address
    if address.startswith("sqlite:"):  # anything else that is no SQS address: notify.plan says so
        raise _fail(
            f"{address[:200]} cannot receive S3 events (only SQS can): give --queue sqs://NAME or"
            " an SQS queue URL"
        )
    suffixes = s3_notify.checked_suffixes(suffix) if suffix else s3_notify.default_suffixes()
    found, aws = s3_notify.plan(bucket, address, prefix, suffixes)
    if dry_run:
        typer.echo(json.dumps(found.as_json(), indent=2))
        return
    s3_notify.apply(found, aws)
    for line in s3_notify.summary(found, address):
        typer.echo(line)


app.command(epilog=_examples("view"))(view)  # cli_report.py: the report and export commands
app.command(epilog=_examples("export"))(export)


def main() -> None:
    try:
        # Without standalone mode click returns typer.Exit's code instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except ConfigError as exc:
        for line in str(exc).splitlines():  # one line per problem
            typer.echo(f"error: {line}", err=True)
        sys.exit(EXIT_USAGE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # typer's own click: usage errors (exit 2), with suggestions
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # the unexpected: one line, no traceback, no secret
        from comicocr.redact import redact

        typer.echo(f"error: {type(exc).__name__}: {redact(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
