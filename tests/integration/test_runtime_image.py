"""The CPU (Tesseract) runtime image, run for real: Lithops' localhost backend executes a chunk of
real pages inside the image that ``runtimes/build cpu-tesseract`` makes (the AWS Lambda image:
the same layout, entry point and packages as deployed), through podman, and the results are
checked from outside.

The build is part of the test: the first one on a machine takes ~3 minutes (the Debian base
from debootstrap, then apt and pip), an unchanged image is reused in seconds, and a changed
source tree rebuilds only its last layers. The container sees the host's Lithops temp folder on
/tmp (lithops/localhost/utils.py ``docker_run_cmd``): pages go in, results come out, through it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from comicocr.contract import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, Chunk, ChunkSpec, EngineSpec, PageJob
from comicocr.scoring import Bag

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"
PAGES = {"en": "en_ep03_p02", "fr": "fr_ep03_p01", "ja": "ja_ep03_p07"}


@pytest.fixture(scope="module")
def podman_as_docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Lithops runs ``docker``, found first on PATH: a link to podman (the ``docker`` client
    installed on these machines has no engine), with this machine kind's podman settings."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("podman is not installed: run scripts/setup --dev")
    links = tmp_path_factory.mktemp("bin")
    (links / "docker").symlink_to(podman)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{links}{os.pathsep}{os.environ['PATH']}")
        mp.setenv(
            "CONTAINERS_CONF", os.environ.get("CONTAINERS_CONF", str(ROOT / "runtimes" / "containers.conf"))
        )
        yield


@pytest.fixture(scope="module")
def image(podman_as_docker: None) -> str:
    """The image, built now or reused (runtimes/build checks every image it builds inside itself)."""
    built = subprocess.run(
        [str(ROOT / "runtimes" / "build"), "cpu-tesseract"],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(f"runtimes/build cpu-tesseract failed (exit {built.returncode}):\n{built.stderr[-3000:]}")
    return built.stdout.split()[-1]


def test_lithops_runs_real_pages_inside_the_tesseract_image(image: str) -> None:
    from comicocr.lithops_adapter import LithopsDispatcher

    config: dict[str, Any] = {
        "lithops": {
            "backend": "localhost",
            "storage": "localhost",
            "log_level": "WARNING",
            "data_cleaner": False,
        },
        "localhost": {"version": 1, "runtime": image, "worker_processes": 2},
    }
    dispatcher = LithopsDispatcher(config, task_timeout_s=600)
    import lithops
    from lithops.constants import TEMP_DIR  # fixed when lithops was imported: read it after

    # A folder in the Lithops temp folder: TEMP_DIR/x on this side is /tmp/x in the container.
    host = Path(tempfile.mkdtemp(prefix="comicocr-image-", dir=TEMP_DIR))
    inside = f"/tmp/{host.name}"
    (host / "pages").mkdir()
    for name in PAGES.values():
        shutil.copyfile(REAL / f"{name}.jpg", host / "pages" / f"{name}.jpg")
    chunks = [
        Chunk(
            ChunkSpec(
                EngineSpec("tesseract", lang),
                f"{inside}/out",
                None,
                False,
                MAX_IMAGE_BYTES,
                MAX_IMAGE_PIXELS,
                (inside,),
                False,
            ),
            (PageJob("p", f"real/{name}", f"{inside}/pages/{name}.jpg"),),
        )
        for lang, name in PAGES.items()
    ]

    def where_it_runs() -> dict[str, object]:
        import os
        import sys

        import comicocr

        return {
            "container": os.path.exists("/run/.containerenv"),  # podman marks its containers so
            "python": sys.executable,
            "comicocr": comicocr.__file__,
            "omp_thread_limit": os.environ.get("OMP_THREAD_LIMIT"),
        }

    probe = lithops.FunctionExecutor(config=config, log_level=None)
    try:
        outcomes = dispatcher.run_chunks(chunks)
        where = probe.call_async(where_it_runs, ()).result()
    finally:
        dispatcher.close()
        probe.clean(clean_cloudobjects=True, force=True)

    # The calls ran in the image, on its own Python and its own installed comicocr.
    assert where == {
        "container": True,
        "python": "/opt/venv/bin/python3",
        "comicocr": "/opt/venv/lib/python3.11/site-packages/comicocr/__init__.py",
        "omp_thread_limit": "1",
    }
    for (lang, name), [outcome] in zip(PAGES.items(), outcomes, strict=True):
        assert outcome.kind == "done", (lang, outcome)
        assert outcome.result == f"{inside}/out/real/{name}_ocr.json"  # as the container saw it
        result = json.loads((host / "out" / "real" / f"{name}_ocr.json").read_text(encoding="utf-8"))
        assert result["source_image_path"] == f"{inside}/pages/{name}.jpg"
        assert result["ocr_method"] == "tesseract"
        assert result["engine"]["engine"] == "tesseract"
        assert result["num_regions"] == len(result["text_regions"]) > 0
        # The floors the Tesseract engine holds on these pages on the host (test_real_pages.py)
        got = Bag().add((REAL / f"{name}.txt").read_text(encoding="utf-8"), result["full_text"], lang)
        assert got.recall >= 0.55, (lang, f"{got.recall:.2f}/{got.precision:.2f}", result["full_text"])
        assert got.precision >= 0.75, (lang, f"{got.recall:.2f}/{got.precision:.2f}", result["full_text"])
    shutil.rmtree(host, ignore_errors=True)
