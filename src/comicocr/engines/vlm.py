"""Vision-language models over the OpenAI-compatible chat-completions API (aiohttp).

OpenRouter by default; any server speaking the same API (vLLM, llama.cpp's server, a
gateway) through ``base_url`` / ``COMICOCR_VLM_BASE_URL``. The page goes as a base64
JPEG data URL, downscaled so its longest side is ``max_side``; the model is asked for
JSON regions in reading order, with boxes where it can give them.

Failures keep their meaning: 429 is retried here honouring ``Retry-After`` /
``X-RateLimit-Reset`` a few times, then handed back as *throttled* (retried later, no
attempt counted), and pauses the engine's dispatch for the wait the server asked;
402 (credits ran out) is throttled too and pauses dispatch for 5 minutes; 5xx and
timeouts are retried, then retryable; other 4xx are permanent; an empty or unparseable
answer is retryable, never an empty success. Every request sent is
counted on the page's ``meter()``, with the usage of its answer (billed even when unusable).

The API key comes from the worker's environment (``OPENROUTER_API_KEY`` by default),
never from the message, the Lithops payload or the result, and never appears in errors.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import random
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from PIL import Image
from pydantic import Field

from comicocr.contract import DEFAULT_VLM_BASE_URL, Region
from comicocr.engines.base import Engine, EngineOptions, Recognition, meter
from comicocr.engines.vlm_json import Unparseable, parse_regions
from comicocr.errors import ConfigError, PermanentError, RetryableError, ThrottledError
from comicocr.redact import register_secret

DEFAULT_BASE_URL = DEFAULT_VLM_BASE_URL
# Vision-capable models per preset (OpenRouter ids); --model or the `model` option overrides.
PRESETS = {
    "qwen": "qwen/qwen2.5-vl-72b-instruct",
    "gemma": "google/gemma-3-27b-it",
    "deepseek": "deepseek/deepseek-vl2",
}
PROMPT = (
    "Transcribe all the text on this {kind} page: speech balloons, thought bubbles, captions and sound "
    "effects, in the order a reader reads them ({direction}). Answer with JSON only, no prose: "
    '{{"regions": [{{"text": "...", "bbox": [x, y, width, height]}}]}} with bbox in pixels of this '
    "image ({width}x{height}); leave bbox out if unsure. If there is no text, answer "
    '{{"regions": []}}. Keep each balloon\'s text as one region; do not translate.'
)


class VLMOptions(EngineOptions):
    model: str = Field("", max_length=200, description="model id; default: the preset's")
    base_url: str = Field("", max_length=500, description="OpenAI-compatible endpoint")
    api_key_env: str = Field("OPENROUTER_API_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$")
    max_side: int = Field(1600, ge=256, le=8192, description="downscale the page to this longest side")
    max_tokens: int = Field(2048, ge=64, le=32768)
    timeout_s: float = Field(120, gt=0, le=900)
    max_retries: int = Field(4, ge=0, le=20, description="in-worker retries of 429/5xx")
    max_wait_s: float = Field(60, ge=0, le=900, description="longest in-worker wait for one retry")
    json_mode: bool = Field(False, description='send response_format {"type": "json_object"}')


_PROMPT_TOKENS = 300
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "cost")  # what a result keeps


class VLMEngine(Engine[VLMOptions]):
    name: ClassVar[str] = "vlm"
    preset: ClassVar[str] = ""
    languages: ClassVar[tuple[str, ...]] = ("en", "fr", "ja")
    supports_gpu: ClassVar[bool] = False  # the GPU is the server's
    paced: ClassVar[bool] = True  # the consumer's token bucket meters it
    keeps_order: ClassVar[bool] = True  # the model answers in reading order
    operator_options: ClassVar[frozenset[str]] = frozenset({"base_url", "api_key_env"})
    Options: ClassVar[type[EngineOptions]] = VLMOptions

    @classmethod
    def request_tokens(cls, options: VLMOptions) -> int:
        """A page's worst case: image tokens (one per 28x28 patch of a 2:3 page at ``max_side``),
        the prompt, and the whole output allowance."""
        image_tokens = int(options.max_side * options.max_side * 2 / 3 / (28 * 28))
        return image_tokens + _PROMPT_TOKENS + options.max_tokens

    @classmethod
    def check_ready(cls, options: VLMOptions, lang: str) -> None:
        if not (options.model or os.environ.get("COMICOCR_VLM_MODEL") or PRESETS.get(cls.preset)):
            raise ConfigError("the vlm engine needs a model: set --model or the `model` option")
        base = options.base_url or os.environ.get("COMICOCR_VLM_BASE_URL") or DEFAULT_BASE_URL
        if "openrouter.ai" in base and not os.environ.get(options.api_key_env):
            raise ConfigError(
                f"no API key for {urlsplit(base).hostname}: set {options.api_key_env} (or --api-key)"
                " for the consumer and its workers"
            )

    def __init__(self, options: VLMOptions, lang: str, gpu: bool) -> None:
        super().__init__(options, lang, gpu)
        self.model = options.model or os.environ.get("COMICOCR_VLM_MODEL") or PRESETS.get(self.preset, "")
        if not self.model:
            raise ConfigError("the vlm engine needs a model: set --model or the `model` option")
        base = options.base_url or os.environ.get("COMICOCR_VLM_BASE_URL") or DEFAULT_BASE_URL
        self.url = base.rstrip("/") + "/chat/completions"
        self._key = os.environ.get(options.api_key_env, "")
        register_secret(self._key)  # whatever its variable is called, it never reaches a log
        if not self._key and "openrouter.ai" in self.url:
            raise PermanentError(f"no API key: set {options.api_key_env} for the consumer and its workers")

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "version": "openai-chat", "model": self.model}

    def recognize(self, image: Image.Image) -> Recognition:
        sent, scale = self._encode(image)
        kind = "manga" if self.lang == "ja" else "comic"
        direction = "right to left, top to bottom" if self.lang == "ja" else "left to right, top to bottom"
        prompt = PROMPT.format(kind=kind, direction=direction, width=sent[1], height=sent[2])
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": self.options.max_tokens,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": prompt},
                        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{sent[0]}"}},
                    ],
                }
            ],
        }
        if self.options.json_mode:
            body["response_format"] = {"type": "json_object"}
        answer, usage = asyncio.run(self._post(body))
        try:
            items = parse_regions(answer)
        except Unparseable as exc:
            raise RetryableError(f"{self.model}: {exc}") from None
        regions = []
        for item in items:
            box = item["bbox"]
            bbox = (0, 0, image.width, image.height) if box is None else tuple(round(v / scale) for v in box)
            extra: dict[str, object] = {} if box is not None else {"bbox_estimated": True}
            conf = item["confidence"] if item["confidence"] is not None else 1.0
            regions.append(Region(item["text"], conf, bbox, extra=extra))
        return Recognition(regions, usage={"model": self.model, **usage})

    def _encode(self, image: Image.Image) -> tuple[tuple[str, int, int], float]:
        scale = min(1.0, self.options.max_side / max(image.width, image.height))
        if scale < 1.0:
            image = image.resize(
                (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
            )
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "JPEG", quality=90)
        return (base64.b64encode(buf.getvalue()).decode("ascii"), image.width, image.height), scale

    async def _post(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        import aiohttp

        headers = {"Content-Type": "application/json", "X-Title": "comicocr"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        timeout = aiohttp.ClientTimeout(total=self.options.timeout_s)
        last = ""
        sent = meter()
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(self.options.max_retries + 1):
                wait = min(self.options.max_wait_s, 2.0**attempt + random.uniform(0, 1))
                answered = False
                try:
                    async with session.post(self.url, json=body, headers=headers) as resp:
                        answered = True
                        sent.requests += 1
                        if resp.status == 200:
                            data = await resp.json(content_type=None)
                            return self._answer(data)
                        last = f"HTTP {resp.status}"
                        if resp.status == 429:
                            wait = min(self.options.max_wait_s, _retry_after(resp.headers, wait))
                            if attempt == self.options.max_retries:
                                # The key is over its limit: every consumer of it holds back for
                                # as long as the server asked (its pacer's pause; none for 0 s).
                                pause = "rate_limited" if wait > 0 else None
                                raise ThrottledError(f"{self.model}: still throttled (429)", wait, pause)
                        elif resp.status == 402:
                            raise ThrottledError(
                                f"{self.model}: payment required (402): credits ran out",
                                300.0,
                                pause="payment_required",
                            )
                        elif 400 <= resp.status < 500 and resp.status not in (408, 409):
                            detail = (await resp.text())[:200]
                            raise PermanentError(f"{self.model}: HTTP {resp.status}: {detail}")
                except aiohttp.ClientConnectorError as exc:  # never reached the server: nothing sent
                    last = type(exc).__name__
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if not answered:  # sent, no answer (a timeout, a dropped connection): it may be billed
                        sent.requests += 1
                    last = type(exc).__name__
                if attempt < self.options.max_retries:
                    await asyncio.sleep(wait)
        raise RetryableError(f"{self.model}: {last} after {self.options.max_retries + 1} tries")

    def _answer(self, data: Any) -> tuple[str, dict[str, Any]]:
        usage = data.get("usage") if isinstance(data, dict) else None
        kept = {k: usage[k] for k in _USAGE_KEYS if k in usage} if isinstance(usage, dict) else {}
        if kept:  # billed, whatever the answer holds: counted even when it cannot be used
            meter().usage = {"model": self.model, **kept}
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise RetryableError(f"{self.model}: the response has no message") from None
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content or ""), kept


def _retry_after(headers: Any, default: float) -> float:
    """Seconds to wait from ``Retry-After`` (seconds) or ``X-RateLimit-Reset`` (epoch ms or s)."""
    try:
        if "Retry-After" in headers:
            return max(0.0, float(headers["Retry-After"]))
        if "X-RateLimit-Reset" in headers:
            reset = float(headers["X-RateLimit-Reset"])
            reset = reset / 1000 if reset > 1e11 else reset
            return max(0.0, reset - time.time())
    except ValueError:
        pass
    return default


class QwenEngine(VLMEngine):
    name: ClassVar[str] = "qwen"
    preset: ClassVar[str] = "qwen"


class GemmaEngine(VLMEngine):
    name: ClassVar[str] = "gemma"
    preset: ClassVar[str] = "gemma"


class DeepSeekEngine(VLMEngine):
    name: ClassVar[str] = "deepseek"
    preset: ClassVar[str] = "deepseek"
