"""The consumer side never loads what only workers need: engines, images, layout, storage."""

import json
import subprocess
import sys

CONSUMER_SIDE = [
    "comicocr.consumer",
    "comicocr.consumer.planner",
    "comicocr.consumer.redrive",
    "comicocr.contract",
    "comicocr.lithops_adapter",
    "comicocr.producer",
    "comicocr.queues.local",
    "comicocr.queues.sqs",
    "comicocr.remote",
]
WORKER_ONLY = [
    "comicocr.engines",
    "comicocr.images",
    "comicocr.layout",
    "comicocr.storage",
    "comicocr.worker",
]


def test_consumer_side_imports_no_worker_module() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {CONSUMER_SIDE!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    assert set(CONSUMER_SIDE) <= loaded  # the probe itself worked
    assert sorted(m for m in loaded for w in WORKER_ONLY if m == w or m.startswith(w + ".")) == []
    assert {"PIL", "numpy", "lithops"}.isdisjoint(loaded)  # lithops loads when an executor starts
