"""Lithops' config, the Lithops way: where it is found, what the installed Lithops reads, and
every problem found before a page is enqueued (one line each, with the fix)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from comicocr.errors import ConfigError
from comicocr.lithops_adapter import check_config, load_config
from comicocr.lithops_config import (
    Source,
    apply_flags,
    find_config,
    memory_needed_mb,
    read_config,
    unknown_keys,
    workers_run_here,
)

ROOT = Path(__file__).resolve().parents[2]
LAMBDA = {
    "lithops": {"backend": "aws_lambda", "storage": "aws_s3"},
    "aws": {"region": "us-east-1", "access_key_id": "AKIDEXAMPLE", "secret_access_key": "x"},
    "aws_lambda": {
        "execution_role": "arn:aws:iam::123456789012:role/lithops",
        "runtime": "comicocr-cpu:0.1.0",
        "runtime_memory": 3008,
        "runtime_timeout": 900,
    },
    "aws_s3": {"storage_bucket": "lithops-data"},
}


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder and home with no Lithops config in them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LITHOPS_CONFIG_FILE", raising=False)
    return tmp_path


def write(path: Path, config: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def test_resolution_follows_lithops_then_the_repo_file(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_config() == Source(None, "the packaged default")
    write(nowhere / "lithops.yaml", {"lithops": {}})
    assert find_config().path == Path("lithops.yaml")
    home = write(nowhere / "home/.lithops/config", LAMBDA)
    assert find_config().path == home  # ~/.lithops/config before the repo's lithops.yaml
    env = write(nowhere / "env.yaml", LAMBDA)
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(env))
    assert find_config() == Source(env, "LITHOPS_CONFIG_FILE")
    assert find_config(Path("given.yaml")) == Source(Path("given.yaml"), "--lithops-config")


def test_same_file_as_lithops_itself_finds(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our order is Lithops' own (lithops.config.get_default_config_filename) where it has one."""
    import lithops.constants
    from lithops.config import get_default_config_filename

    home = write(nowhere / "home/.lithops/config", LAMBDA)
    monkeypatch.setattr(lithops.constants, "CONFIG_FILE", str(home))  # fixed when lithops was imported
    assert Path(get_default_config_filename()) == find_config().path
    local = write(nowhere / ".lithops_config", LAMBDA)
    assert Path(get_default_config_filename()) == find_config().path.resolve() == local.resolve()
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(home))
    assert Path(get_default_config_filename()) == find_config().path


def test_an_aws_lambda_config_from_the_environment_is_the_one_used(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(write(nowhere / "lambda.yaml", LAMBDA)))
    config = load_config(None, workers=200)
    assert config["lithops"]["backend"] == "aws_lambda"
    assert config["aws_lambda"]["max_workers"] == 200  # the limit Lithops 3.8 reads
    assert "max_workers" not in config["lithops"]
    assert not workers_run_here(config)


def test_localhost_gets_only_the_measured_defaults(nowhere: Path) -> None:
    config = load_config(None, workers=3)
    assert config["localhost"]["version"] == 1
    assert Path(config["localhost"]["runtime"]).is_absolute()
    assert config["localhost"]["worker_processes"] == 3
    assert workers_run_here(config)
    image = apply_flags({"lithops": {}, "localhost": {"runtime": "comicocr-cpu:0.1.0"}}, None, None, 2)
    assert image["localhost"]["runtime"] == "comicocr-cpu:0.1.0"  # the user's container image is kept
    assert not workers_run_here(image)  # a container does not see this machine's files


def test_flags_switch_backend_and_storage(nowhere: Path) -> None:
    config = load_config(write(nowhere / "c.yaml", LAMBDA), backend="k8s", storage="minio")
    assert (config["lithops"]["backend"], config["lithops"]["storage"]) == ("k8s", "minio")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("lithops: [1, 2", "not valid YAML"),
        ("- a\n- b\n", "not a mapping of sections"),
        ("lithops: {backend: localhost}\naws_lambda: 3\n", "section 'aws_lambda' is not a mapping"),
    ],
)
def test_unreadable_configs_are_one_line(nowhere: Path, text: str, says: str) -> None:
    path = nowhere / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=says) as caught:
        read_config(find_config(path))
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read"):
        read_config(find_config(nowhere / "missing.yaml"))


def test_misspelt_keys_and_sections_are_named_with_a_suggestion() -> None:
    config = {
        "lithops": {"backend": "aws_lambda", "storge": "aws_s3", "max_workers": 100},
        "aws_lambda": {"runtime_memroy": 3008, "execution_role": "arn"},
        "aws_s3": {"endpoint": "http://127.0.0.1:4566"},  # Lithops 3.8's aws_s3 has no endpoint key
        "awslambda": {},
    }
    problems = unknown_keys(config, "3.8.0")
    assert any("lithops.storge" in p and "'storage'" in p for p in problems)
    assert any("aws_lambda.runtime_memroy" in p and "'runtime_memory'" in p for p in problems)
    assert any("aws_s3.endpoint" in p for p in problems)
    assert any("'awslambda'" in p and "'aws_lambda'" in p for p in problems)
    assert any("lithops.max_workers" in p and "--workers" in p for p in problems)  # 3.8 never reads it
    assert len(problems) == 5


def test_the_shipped_configs_are_clean() -> None:
    for path in [ROOT / "lithops.yaml", *sorted((ROOT / "runtimes").glob("lithops.*.yaml"))]:
        assert unknown_keys(yaml.safe_load(path.read_text()), "3.8.0") == [], path
    assert unknown_keys(LAMBDA, "3.8.0") == []


def test_a_good_lambda_config_passes() -> None:
    assert check_config(LAMBDA, "paddleocr", 600) == []


def test_lambda_defaults_that_would_cut_work_short_are_refused() -> None:
    config = {**LAMBDA, "aws_lambda": {"execution_role": "arn:aws:iam::123456789012:role/l"}}
    problems = check_config(config, "paddleocr", 600)
    # Lambda's default 180 s would silently end a 600 s task; its 256 MB would kill PaddleOCR
    assert any("runtime_timeout is 180 s" in p and "runtime_timeout: 600" in p for p in problems)
    need = memory_needed_mb(1.61)
    assert any("runtime_memory is 256 MB" in p and f"runtime_memory: {need}" in p for p in problems)
    assert check_config(
        {**LAMBDA, "aws_lambda": {**LAMBDA["aws_lambda"], "runtime_timeout": 1200}}, "null", 1000
    )
    assert 2048 <= need <= 2304


def test_what_lithops_itself_refuses_comes_first_and_whole() -> None:
    no_section = {"lithops": {"backend": "aws_lambda", "storage": "aws_s3"}, "aws": {"region": "us-east-1"}}
    (problem,) = check_config(no_section, "tesseract", 600)
    assert "Lithops 3.8.0 refuses it" in problem
    assert "aws_lambda" in problem
    local_storage = {**LAMBDA, "lithops": {"backend": "aws_lambda", "storage": "localhost"}}
    (problem,) = check_config(local_storage, "tesseract", 600)
    assert "Localhost storage backend cannot be used" in problem
    assert "--storage" in problem


def test_missing_aws_credentials_are_said_before_anything_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    keyless = {**LAMBDA, "aws": {"region": "us-east-1"}}
    (problem,) = check_config(keyless, "tesseract", 600)
    assert "no AWS credentials" in problem
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert check_config(keyless, "tesseract", 600) == []


def test_localhost_default_passes(nowhere: Path) -> None:
    assert check_config(load_config(None, workers=2), "paddleocr", 600) == []


def test_every_example_config_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """runtimes/lithops.<backend>.yaml: valid keys, timeouts and memory for PaddleOCR, and what
    Lithops' own loader asks (the k8s one needs the kubernetes client: the dev extra has it)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    examples = sorted((ROOT / "runtimes").glob("lithops.*.yaml"))
    assert {p.name for p in examples} >= {f"lithops.{b}.yaml" for b in ("aws_lambda", "aws_ec2", "k8s")}
    for path in examples:
        assert check_config(yaml.safe_load(path.read_text()), "paddleocr", 600) == [], path.name


def test_a_missing_backend_library_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "kubernetes", None)  # import kubernetes -> ModuleNotFoundError
    for name in [m for m in sys.modules if m.startswith("lithops.serverless.backends.k8s")]:
        monkeypatch.delitem(sys.modules, name)
    config = yaml.safe_load((ROOT / "runtimes" / "lithops.k8s.yaml").read_text())
    (problem,) = check_config(config, "tesseract", 600)
    assert "pip install kubernetes" in problem


# ---- hostile and careless configs (red-team pass): one line each, exit 2, never a traceback ----


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a: &a [x, x]\nb: &b [*a, *a]\nlithops: {backend: localhost}\n", "aliases (*name) are not allowed"),
        ("1: {a: 2}\nlithops: {backend: localhost}\n", "section name 1 is not a word"),
        ("lithops: {backend: 5}\n", "lithops.backend 5 is not a backend name"),
        ("lithops: {backend: null, storage: '../x'}\n", "lithops.storage '../x' is not a backend name"),
    ],
)
def test_hostile_configs_are_one_line(nowhere: Path, text: str, says: str) -> None:
    path = nowhere / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(says)) as caught:
        read_config(find_config(path))
    assert "\n" not in str(caught.value)


def test_a_fifo_or_a_huge_file_is_refused_without_reading(nowhere: Path) -> None:
    fifo = nowhere / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_config(find_config(fifo))  # would block forever if opened
    huge = nowhere / "huge.yaml"
    huge.write_text("lithops: {}\n" + "#" * (2 << 20))
    with pytest.raises(ConfigError, match="larger than"):
        read_config(find_config(huge))


def test_bad_flag_names_and_unknown_backends(nowhere: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("--backend '../../x' is not a backend name")):
        load_config(None, backend="../../x")
    config = load_config(None, backend="lithops", storage="nonsense", workers=4)
    assert "max_workers" not in config["lithops"]  # --workers wrote nothing into a section it is not
    problems = check_config(config, "null", 600)
    assert any("lithops.backend 'lithops' is not a compute backend" in p for p in problems)
    assert any("lithops.storage 'nonsense' is not a storage backend" in p and "aws_s3" in p for p in problems)
    typo = check_config(load_config(None, backend="aws_lamda"), "null", 600)
    assert any("did you mean 'aws_lambda'" in p for p in typo)


def test_a_missing_storage_section_is_named_for_itself() -> None:
    config = {
        "lithops": {"backend": "localhost", "storage": "azure_storage"},
        "localhost": {"runtime": "python3"},
    }
    (problem,) = check_config(config, "null", 600)
    assert "azure_storage" in problem
    assert "add it to the azure_storage: section" in problem


def test_many_or_odd_keys_stay_readable() -> None:
    config: dict[str, Any] = {
        "lithops": {"backend": "localhost"},
        "localhost": {f"k{i}": 1 for i in range(500)},
    }
    config["localhost"]["evil\nerror: forged"] = 1
    problems = unknown_keys(config, "3.8.0")
    assert len(problems) == 21
    assert problems[-1] == "... and 481 more keys Lithops does not read"
    assert all("\n" not in p for p in problems)


def test_aws_credential_chain_failures_are_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    keyless = {**LAMBDA, "aws": {"region": "us-east-1"}}
    with pytest.raises(ConfigError, match=r"AWS credentials cannot be loaded \(ProfileNotFound\)"):
        check_config(keyless, "tesseract", 600)


def test_a_config_naming_no_backend_means_what_it_means_to_lithops() -> None:
    import lithops.constants as c
    from lithops.utils import get_default_backend

    from comicocr.lithops_config import MODE_BACKENDS, MODE_DEFAULT, STORAGE_DEFAULT

    # our copy of Lithops' defaults is Lithops' own
    assert (MODE_DEFAULT, STORAGE_DEFAULT) == (c.MODE_DEFAULT, c.STORAGE_BACKEND_DEFAULT)
    assert all(get_default_backend(mode) == backend for mode, backend in MODE_BACKENDS.items())
    standalone = apply_flags(
        {"lithops": {"mode": "standalone"}, "standalone": {"backend": "aws_ec2"}}, None, None, 8
    )
    assert standalone["lithops"]["backend"] == "aws_ec2"  # not a local run
    assert standalone["aws_ec2"]["max_workers"] == 8
    assert not workers_run_here(standalone)
    bare = apply_flags({"lithops": {}, "aws_lambda": {"execution_role": "arn"}}, None, None, None)
    assert (bare["lithops"]["backend"], bare["lithops"]["storage"]) == ("aws_lambda", "aws_s3")
    with pytest.raises(ConfigError, match=r"lithops\.mode 'cloudy'"):
        apply_flags({"lithops": {"mode": "cloudy"}}, None, None, None)
