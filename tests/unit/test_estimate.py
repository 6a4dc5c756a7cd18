import pytest

from comicocr.estimate import LAMBDA_FULL_VCPU_GB, PROFILES, estimate


def test_estimate_scales_with_pages_and_workers() -> None:
    small = estimate(1000, "tesseract", workers=10)
    big = estimate(100_000, "tesseract", workers=10)
    wide = estimate(100_000, "tesseract", workers=100)
    assert big.lambda_usd == pytest.approx(small.lambda_usd * 100, rel=0.01)
    assert wide.wall_s == pytest.approx(big.wall_s / 10, rel=0.01)
    assert wide.cpu_hours == pytest.approx(100_000 * PROFILES["tesseract"].cpu_s_per_page / 3600)
    assert small.lambda_memory_gb >= LAMBDA_FULL_VCPU_GB
    assert small.calls == 40


def test_unknown_engine_says_so() -> None:
    with pytest.raises(KeyError, match="no profile"):
        estimate(10, "qwen", 1)
