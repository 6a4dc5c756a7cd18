"""Time and cost of a run before it starts, from per-engine profiles measured by bench/cost.py.

The model: a page costs its engine's CPU-seconds on one core; Lithops calls carry
``CALL_OVERHEAD_S`` each and hold ``pages_per_call`` pages; ``workers`` calls run at once.
On AWS Lambda a function gets one full vCPU at 1,769 MB, so each worker is sized to at
least that (and to the engine's peak memory), and is billed per GB-second and per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# us-east-1 x86 prices, November 2026 (aws.amazon.com/lambda/pricing).
LAMBDA_USD_PER_GB_S = 0.0000166667
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_FULL_VCPU_GB = 1.769
CALL_OVERHEAD_S = 0.4  # a Lithops localhost job end to end (bench/efficiency.py); cold starts add more


@dataclass(frozen=True)
class Profile:
    cpu_s_per_page: float  # one thread, 1600x2400 synthetic comic page
    peak_memory_gb: float  # worker RSS with the engine loaded
    load_s: float = 0.0  # loading the engine in a fresh worker process: once per Lithops call


# Measured with bench/cost.py on the development machine kind (2-core x86_64); see BENCHMARKS.md.
PROFILES = {
    "null": Profile(0.005, 0.1),
    "tesseract": Profile(0.37, 0.23, 0.04),
    "paddleocr": Profile(1.39, 1.61, 4.1),
    "easyocr": Profile(15.6, 1.84, 4.8),
}


@dataclass(frozen=True)
class Estimate:
    pages: int
    method: str
    workers: int
    calls: int
    wall_s: float
    cpu_hours: float
    lambda_memory_gb: float
    lambda_usd: float

    @property
    def usd_per_1000_pages(self) -> float:
        return self.lambda_usd / max(self.pages, 1) * 1000


def estimate_vlm(pages: int, requests_per_min: float) -> tuple[float, int]:
    """A VLM run is bound by its request rate: (wall seconds, worst-case tokens at the
    default options). The price per token is the provider's; multiply."""
    from comicocr.engines.vlm import VLMEngine, VLMOptions

    return pages / requests_per_min * 60, pages * VLMEngine.request_tokens(VLMOptions.model_validate({}))


def estimate(pages: int, method: str, workers: int, pages_per_call: int = 25) -> Estimate:
    """Estimate ``pages`` with ``method`` on ``workers`` parallel workers."""
    if method not in PROFILES:
        raise KeyError(f"no profile for {method!r}; known: {', '.join(sorted(PROFILES))}")
    profile = PROFILES[method]
    calls = math.ceil(pages / max(pages_per_call, 1))
    busy_s = pages * profile.cpu_s_per_page + calls * (CALL_OVERHEAD_S + profile.load_s)
    wall_s = busy_s / max(1, min(workers, calls))
    memory = max(profile.peak_memory_gb, LAMBDA_FULL_VCPU_GB)
    usd = busy_s * memory * LAMBDA_USD_PER_GB_S + calls * LAMBDA_USD_PER_REQUEST
    return Estimate(pages, method, workers, calls, wall_s, pages * profile.cpu_s_per_page / 3600, memory, usd)
