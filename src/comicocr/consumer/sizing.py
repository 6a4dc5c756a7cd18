"""How large a micro-batch and a chunk may grow, from what a page costs.

A batch is one Lithops job (~0.5 s to start on localhost, where jobs run one at a time) and a
chunk is one call of it (one engine load). The consumer does not fix their sizes: a batch takes
what is waiting when it is its turn, so it grows with the backlog and stays small on a
trickle (``batcher.next_batch``). What this module gives are the caps:

- a batch's work must fit well inside the visibility timeout: at most a quarter of it, spread
  over the workers;
- a chunk's work must fit well inside the task timeout (a quarter of it), so that a call is
  never cut off by Lithops because its chunk was too long;
- a batch's bodies must fit in Lithops' job payload limit (4 MiB by default): at most half of
  it, leaving room for the chunk specs and pickling;
- neither grows past ``MAX_PAGES``.

What a page costs starts from the engine's measured profile (``estimate.PROFILES``, one core,
a 1600x2400 page) and follows the worker's own figures (``Done.duration_s``) as pages finish.
``--batch-size`` (``COMICOCR_BATCH_SIZE``) and ``COMICOCR_MAX_CHUNK`` override the caps.
"""

from __future__ import annotations

from comicocr.estimate import PROFILES
from comicocr.settings import Settings

MAX_PAGES = 5000  # the most pages a batch or a chunk holds, however cheap they are
MAX_BATCH_BYTES = 2 * 1024 * 1024  # half of Lithops' default job payload limit (data_limit: 4 MiB)
UNKNOWN_PAGE_S = 3.0  # an engine without a profile (a plug-in) until its pages report
_SMOOTHING = 0.2  # weight of each new page in the moving average


class Sizing:
    """The caps of one consumer, learning each engine's page time as pages finish."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._page_s: dict[str, float] = {}

    def page_s(self, engine: str) -> float:
        """Seconds one page of ``engine`` takes on one worker: measured, else its profile."""
        if engine in self._page_s:
            return self._page_s[engine]
        profile = PROFILES.get(engine)
        return profile.cpu_s_per_page if profile else UNKNOWN_PAGE_S

    def observe(self, engine: str, seconds: float) -> None:
        """A page of ``engine`` took ``seconds`` in its worker."""
        before = self._page_s.get(engine)
        self._page_s[engine] = seconds if before is None else before + _SMOOTHING * (seconds - before)

    def batch_pages(self) -> int:
        """The most pages one batch takes (of the consumer's own engine)."""
        s = self.settings
        if s.batch_size:
            return s.batch_size
        work_s = s.visibility_timeout_s / 4 * s.workers
        return _pages_within(work_s, self.page_s(s.method))

    def chunk_pages(self, engine: str) -> int:
        """The most pages one call of ``engine`` takes."""
        if self.settings.max_chunk:
            return self.settings.max_chunk
        return _pages_within(self.settings.task_timeout_s / 4, self.page_s(engine))


def _pages_within(seconds: float, page_s: float) -> int:
    return max(1, min(MAX_PAGES, int(seconds / max(page_s, 1e-3))))
