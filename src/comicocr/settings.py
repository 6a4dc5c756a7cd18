"""One settings model, built once at the CLI and passed down.

Precedence: command-line flags, then ``COMICOCR_*`` environment variables, then
``lithops.yaml`` (for what Lithops itself reads), then these defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from comicocr.contract import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from comicocr.locations import OBJECT_SCHEMES, object_address_problem, output_problem, scheme_of
from comicocr.queues.base import MAX_VISIBILITY_S

DEFAULT_LOCAL_QUEUE = "sqlite:///.comicocr/queue.sqlite3"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMICOCR_", extra="ignore", validate_assignment=True)

    # where work comes from and goes to
    queue: str | None = Field(None, description="SQS queue URL, sqs://name, or sqlite:///file (embedded)")
    dlq: str | None = Field(None, description="dead-letter queue; default <queue>-dlq")
    output: str = Field(
        "results",
        description="folder, s3://bucket/prefix, az://container/prefix (Azure Blob) or gs://bucket/prefix"
        " (GCS) for <id>_ocr.json",
    )

    # what to run
    method: str = Field(
        "", description="OCR engine; empty: the best installed one (paddleocr, else tesseract)"
    )
    lang: str = Field("en", pattern="^(en|fr|ja)$", description="page language: en, fr, ja")
    engine_options: dict[str, object] = Field(
        default_factory=dict, description='the engine\'s options, as JSON (e.g. {"psm": 11})'
    )
    reading_direction: str | None = Field(
        None, pattern="^(ltr|rtl)$", description="reading order: ltr or rtl; none: rtl for ja, else ltr"
    )
    gpu: bool = Field(False, description="use a GPU where the engine can")

    # Lithops
    lithops_config: Path | None = Field(
        None,
        description="Lithops config file; none: $LITHOPS_CONFIG_FILE, ./.lithops_config,"
        " ~/.lithops/config, /etc/lithops/config, ./lithops.yaml, else the packaged default (localhost)",
    )
    backend: str | None = Field(None, description="Lithops compute backend; none: the config's (localhost)")
    storage: str | None = Field(None, description="Lithops storage backend; none: the config's")
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=1000,
        description="parallel Lithops workers: localhost.worker_processes, else <backend>.max_workers",
    )
    local_images: bool = Field(
        True,
        description="images may be files on this machine; set off when Lithops' workers run elsewhere"
        " (a page naming a local file is then dead-lettered, saying so)",
    )

    # micro-batching and flow control
    batch_size: int = Field(
        0,
        ge=0,
        le=5000,
        description="N: the most pages one batch (one Lithops job) takes; 0: sized from the engine's"
        " page time, the visibility timeout and the job payload limit",
    )
    batch_window_s: float = Field(
        2.0,
        gt=0,
        le=300,
        description="T: while other batches run, a batch gathers pages at most this long after its first",
    )
    max_chunk: int = Field(
        0,
        ge=0,
        le=5000,
        description="the most pages one Lithops call takes; 0: a quarter of the task timeout's worth",
    )
    buffer_size: int = Field(200, ge=10, description="received but not yet dispatched: backpressure")
    max_inflight_batches: int = Field(2, ge=1, le=64, description="batches dispatched at once")
    poll_wait_s: float = Field(20.0, ge=0, le=20, description="long-poll wait of one receive")
    receivers: int = Field(1, ge=1, le=16, description="concurrent long polls (SQS spreads messages)")

    # reliability
    visibility_timeout_s: int = Field(
        900, ge=2, le=MAX_VISIBILITY_S, description="a received message stays hidden this long (extended)"
    )
    queue_gone_timeout_s: float = Field(
        120,
        ge=0,
        description="a queue URL that no longer exists: stop after this long (sqs://NAME is re-created)",
    )
    task_timeout_s: int = Field(600, ge=1, description="the most one Lithops call (a chunk of pages) may run")
    max_attempts: int = Field(3, ge=1, le=100, description="failed attempts before the DLQ")
    backoff_base_s: int = Field(15, ge=0, le=900, description="first retry's delay; doubles, capped at 900")
    max_image_bytes: int = Field(MAX_IMAGE_BYTES, ge=1024, description="larger images are dead-lettered")
    max_image_pixels: int = Field(MAX_IMAGE_PIXELS, ge=10_000, description="decompression-bomb guard")
    skip_existing: bool = Field(True, description="a page whose result exists is not redone")
    allowed_roots: list[str] = Field(
        default_factory=list,
        description="folders and s3://bucket[/prefix], az://container[/prefix], gs://bucket[/prefix] images"
        " may be read from; empty: anywhere (warned)",
    )
    allow_http: bool = Field(False, description="allow http(s):// image paths")
    allowed_output_roots: list[str] = Field(
        default_factory=list,
        description="folders and s3://, az://, gs:// prefixes a message's `output` may name; empty: none"
        " (results always go under `output`)",
    )
    event_ids_without_bucket: bool = Field(
        False,
        description="S3 events: a page's id is its key (extension kept) without the bucket: for"
        " one-bucket deployments; the same key in two buckets is then a collision",
    )

    # operating it
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve /healthz, /readyz and /metrics here (0: any free port)"
    )
    metrics_host: str = Field("127.0.0.1", description="address the metrics endpoint listens on")
    progress_every_s: float = Field(
        10.0, gt=0, description="off a terminal: a progress log line this often (run, enqueue)"
    )

    # vision-language models (qwen, gemma, deepseek, vlm)
    vlm_model: str | None = Field(None, description="model id, overriding the preset's")
    vlm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint (default OpenRouter)")
    vlm_requests_per_min: float = Field(20.0, gt=0, description="OpenRouter's free tier allows 20")
    vlm_tokens_per_min: int = Field(0, ge=0, description="0: no token limit")
    vlm_max_concurrent: int = Field(4, ge=1, le=256, description="VLM pages one worker keeps in flight")
    vlm_dispatch_lead_s: float = Field(
        2.0, ge=0, le=120, description="first slot no sooner than this: time for a Lithops call to start"
    )
    vlm_rate_store: str = Field(
        "",
        max_length=2000,
        description="where consumers of one API key share its VLM budget: redis://host:port/db (several"
        " machines), sqlite:///FILE or a file path (one machine); empty: each consumer paces itself",
    )
    vlm_rate_budget: str = Field(
        "",
        max_length=200,
        pattern=r"^[A-Za-z0-9._:-]*$",
        description="name of the shared VLM budget; empty: a hash of the API key and the base URL",
    )

    @field_validator("output")
    @classmethod
    def _served_output(cls, value: str) -> str:
        problem = output_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("allowed_roots")
    @classmethod
    def _sound_image_roots(cls, value: list[str]) -> list[str]:
        for root in value:  # an object root with '..' would allow what its text does not say
            problem = (
                object_address_problem(root, "allowed root") if scheme_of(root) in OBJECT_SCHEMES else None
            )
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("allowed_output_roots")
    @classmethod
    def _served_output_roots(cls, value: list[str]) -> list[str]:
        for root in value:
            problem = output_problem(root)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _best_method(self) -> Self:
        if not self.method:
            from comicocr.engines import best_installed  # engines load only when asked

            self.method = best_installed(self.lang)[0]
        return self

    @model_validator(mode="after")
    def _timeouts_fit(self) -> Self:
        # A page still being worked on must not reappear to another consumer.
        if self.visibility_timeout_s <= self.task_timeout_s:
            raise ValueError(
                f"visibility_timeout_s ({self.visibility_timeout_s}) must be longer than "
                f"task_timeout_s ({self.task_timeout_s})"
            )
        return self

    @property
    def queue_address(self) -> str:
        return self.queue or DEFAULT_LOCAL_QUEUE
