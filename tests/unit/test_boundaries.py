"""Every boundary holds (issue 10): each case names where the page ends and why, and nothing is
written outside the output. Pure logic and local files here; the queue-server cases are in
tests/integration/test_boundaries.py."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comicocr import images, storage
from comicocr.consumer.planner import plan
from comicocr.contract import Chunk, ChunkSpec, EngineSpec, Failed, PageJob
from comicocr.engines import CATALOG
from comicocr.errors import ConfigError, PermanentError
from comicocr.ids import id_problem
from comicocr.manifest import read_manifest
from comicocr.queues import open_queue
from comicocr.queues.base import Message, Outgoing
from comicocr.queues.local import LocalQueue
from comicocr.ratelimit import LocalPacer
from comicocr.settings import Settings
from comicocr.worker import run_chunk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vlm_server import FakeVLM, ServerThread


def body(**fields: object) -> Message:
    page = {"canonical_id": "p1", "image_path": "/x/p1.png", **fields}
    return Message("m1", "r1", json.dumps(page), 1)


# -- 1. a message does not choose where results are written --------------------------------


@pytest.mark.parametrize(
    ("output", "allowed", "refused"),
    [
        ("/any/path", [], "outside the consumer's output"),
        ("s3://another-bucket/x", [], "outside the consumer's output"),
        ("/srv/out/../../etc", [], "outside the consumer's output"),
        ("/srv/other/x", ["/srv/other-evil"], "outside the consumer's output"),
        ("gcs://b/ocr", ["gcs://b"], "not served"),
        ("az://other/ocr", ["az://shared/tenant-a"], "outside the consumer's output"),
        ("gs://shared/tenant-a/x", ["gs://shared/tenant-a"], None),
        ("/srv/out/sub", [], None),  # inside the consumer's own output
        ("s3://shared/tenant-a/x", ["s3://shared/tenant-a"], None),
    ],
)
def test_message_output_is_obeyed_only_inside_allowed_roots(
    output: str, allowed: list[str], refused: str | None
) -> None:
    s = Settings(
        output="/srv/out", method="null", allowed_output_roots=[r for r in allowed if "gcs:" not in r]
    )
    work = plan([body(output=output)], s, LocalPacer(20), CATALOG)
    if refused is None:
        assert [d.chunk.spec.output for d in work.dispatches] == [output]
    else:
        assert work.dispatches == []
        assert [(m.id, refused in why, cid) for m, why, cid in work.poison] == [("m1", True, "p1")]


def test_message_cannot_aim_an_engine_at_another_endpoint_or_secret() -> None:
    evil = body(
        method="qwen", options={"base_url": "http://attacker/v1", "api_key_env": "AWS_SECRET_ACCESS_KEY"}
    )
    work = plan([evil], Settings(method="null"), LocalPacer(20), CATALOG)
    assert work.dispatches == []
    assert "api_key_env, base_url" in work.poison[0][1]
    page = body(method="qwen", options={"max_side": 800})
    fine = plan([page], Settings(method="null"), LocalPacer(20), CATALOG)
    assert len(fine.dispatches) == 1


# -- 2 and 3. addresses: unknown schemes are refused, never written as local folders --------


@pytest.mark.parametrize(
    "output", ["gcs://b/ocr", "wasb://c/ocr", "abfs://c/ocr", "ftp://h/x", "s3://", "gs://", "az://", ""]
)
def test_unserved_output_schemes_are_refused_at_start(output: str) -> None:
    with pytest.raises(ValueError, match=r"not served|names no (bucket|container)|empty"):
        Settings(output=output)
    with pytest.raises(PermanentError):
        storage.result_location(output, "p1")


@pytest.mark.parametrize("output", ["gs://b/\udcfe/ocr", "az://c/a\nb", "s3://b/x\x00y"])
def test_object_addresses_no_store_can_hold_are_refused(output: str) -> None:
    with pytest.raises(ValueError, match=r"not valid UTF-8|control character"):
        Settings(output=output)


@pytest.mark.parametrize("address", ["sqs://../x", "sqs://a/b", "sqs://" + "q" * 81, "sqs://"])
def test_sqs_names_aws_would_refuse_are_refused_here(address: str) -> None:
    with pytest.raises(ConfigError, match="SQS queue name"):
        open_queue(address)


@pytest.mark.parametrize(
    "address", ["my-queue", "sqs.eu-west-1.amazonaws.com/123/q", "amqp://h/q", "sqlite:///", "q.sqlite3"]
)
def test_queue_address_without_a_known_form_is_an_error(
    address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not a queue address"):
        open_queue(address)
    assert list(tmp_path.iterdir()) == []  # no SQLite file appeared


def test_queue_url_host_and_region_are_the_urls() -> None:
    from comicocr.queues.sqs import endpoint_of

    aws = endpoint_of("https://sqs.eu-west-1.amazonaws.com/123456789012/pages")
    assert (aws.url, aws.region) == ("https://sqs.eu-west-1.amazonaws.com", "eu-west-1")
    assert endpoint_of("https://eu-central-1.queue.amazonaws.com/1/q").region == "eu-central-1"
    local = endpoint_of("http://127.0.0.1:9/000000000000/q")
    assert local.url == "http://127.0.0.1:9"
    assert endpoint_of("sqs://q").url is None  # the standard AWS variables decide
    with pytest.raises(ConfigError, match="not an SQS queue URL"):
        endpoint_of("https://example.com/only-a-name")


# -- 4. odd images are normalised, or refused with the reason -------------------------------


def encode(image: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def test_multi_frame_images_are_refused_not_cut_to_page_one() -> None:
    frames = [Image.new("L", (20, 20), v) for v in (0, 128, 255)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(PermanentError, match="3 frames"):
        images.decode(buf.getvalue())


def test_ink_on_transparency_stays_ink_on_white() -> None:
    page = Image.new("RGBA", (50, 20), (0, 0, 0, 0))  # transparent black everywhere...
    page.paste((0, 0, 0, 255), (10, 5, 20, 15))  # ...and opaque black ink
    decoded = images.decode(encode(page))
    assert decoded.mode == "RGB"
    assert (decoded.getpixel((0, 0)), decoded.getpixel((12, 8))) == ((255, 255, 255), (0, 0, 0))
    assert images.decode(encode(Image.new("LA", (4, 4), (0, 0)))).getpixel((0, 0)) == (255, 255, 255)
    palette = Image.new("P", (4, 4), 0)
    assert images.decode(encode(palette, transparency=0)).getpixel((0, 0)) == (255, 255, 255)


def test_high_bit_depth_and_cmyk_are_scaled_not_garbled() -> None:
    ramp = np.linspace(0, 65535, 256).astype(np.uint16).reshape(16, 16)
    decoded = np.asarray(images.decode(encode(Image.fromarray(ramp))))[:, :, 0]
    assert decoded[0, 0] == 0
    assert decoded[-1, -1] == 255
    assert np.all(np.diff(decoded.ravel().astype(int)) >= 0)  # still a ramp
    cmyk = images.decode(encode(Image.new("CMYK", (4, 4), (0, 0, 0, 255)), "JPEG"))
    assert cmyk.getpixel((0, 0))[0] < 20  # black stays black


# -- 7. failures no retry can mend go to the DLQ at once ---------------------------------------


def spec(output: Path) -> ChunkSpec:
    return ChunkSpec(EngineSpec("null", "en"), str(output), None, True, 10_000_000, 100_000_000, (), False)


def test_fifo_device_and_directory_images_fail_permanently_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.png")  # opening it blocking would hang the worker forever
    pages = [
        PageJob("0", "fifo", str(tmp_path / "fifo.png")),
        PageJob("1", "dev", "/dev/zero"),
        PageJob("2", "dir", str(tmp_path)),
        PageJob("3", "long", str(tmp_path / ("x" * 300 + ".png"))),
    ]
    outcomes = run_chunk(Chunk(spec(tmp_path / "out"), tuple(pages)))
    assert all(isinstance(o, Failed) and o.error_class == "permanent" for o in outcomes)
    reasons = [o.error for o in outcomes if isinstance(o, Failed)]
    assert "not a regular file" in reasons[0]
    assert "not a regular file" in reasons[1]
    assert "is a directory" in reasons[2]
    assert "File name too long" in reasons[3]


def test_ids_too_long_for_a_file_name_are_rejected_up_front() -> None:
    assert id_problem("series/" + "x" * 300) is not None
    assert id_problem("series/" + "x" * 150) is None
    with pytest.raises(PermanentError, match="File name too long"):
        storage.write_atomic(str(Path("/tmp") / ("y" * 300)), b"{}")


# -- 8. a damaged queue file is one clear error, never silently recreated -------------------


@pytest.mark.parametrize("keep", [0, 3000])
async def test_damaged_queue_file_is_a_clear_error(tmp_path: Path, keep: int) -> None:
    address = f"sqlite:///{tmp_path}/q.sqlite3"
    queue = LocalQueue(address)
    for _ in range(30):
        await queue.dead_letters.send_batch([Outgoing("dead letter " * 20)] * 10)
    await queue.close()
    import sqlite3

    db = sqlite3.connect(tmp_path / "q.sqlite3")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    path = tmp_path / "q.sqlite3"
    path.write_bytes(path.read_bytes()[:keep])
    damaged = LocalQueue(address)
    with pytest.raises(ConfigError, match=r"q\.sqlite3 is damaged"):
        await damaged.ensure()
    await damaged.close()
    assert path.stat().st_size == keep  # left as it was, for the operator


# -- 9. a key in a variable of any name never reaches an error -------------------------------


def test_a_key_in_a_custom_variable_is_redacted_when_a_server_echoes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "plain-looking-value-7f3a9"  # no known shape, in a variable with no KEY in its name
    monkeypatch.setenv("MY_VLM_PASS_VAR", secret)
    (tmp_path / "p.png").write_bytes(encode(Image.new("RGB", (64, 64), "white")))
    with ServerThread(FakeVLM(echo_key=True)) as server:
        options = {"base_url": server.base_url, "api_key_env": "MY_VLM_PASS_VAR", "max_retries": 0}
        page_spec = ChunkSpec(
            EngineSpec("qwen", "en", options),
            str(tmp_path / "out"),
            None,
            False,
            10_000_000,
            100_000_000,
            (),
            False,
        )
        (outcome,) = run_chunk(Chunk(page_spec, (PageJob("0", "echo", str(tmp_path / "p.png")),)))
    assert isinstance(outcome, Failed)
    assert "HTTP 401" in outcome.error
    assert "invalid token" in outcome.error  # the server's words reach the DLQ...
    assert secret not in outcome.error  # ...without the key
    assert not (tmp_path / "out").exists()


# -- also: careless input --------------------------------------------------------------------


def test_non_utf8_manifest_names_the_byte(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"canonical_id,absolute_image_path\na,x.png\nb\xe9,y.png\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text .*offset 42"):
        read_manifest(manifest)


def test_a_symlink_out_of_the_output_refuses_that_page_only(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "book").symlink_to(elsewhere)
    with pytest.raises(PermanentError, match="escapes the output"):
        storage.result_location(str(out), "book/p1")
    assert storage.result_location(str(out), "other/p1").endswith("other/p1_ocr.json")
