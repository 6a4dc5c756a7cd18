"""The cloud code path on this machine: Lithops' localhost compute with Lithops' **aws_s3
storage** on LocalStack, so the job payloads, the function and the results travel through S3
as they do on Lambda; images are read from S3 and results written to S3.

The workers get nothing a Lambda would not have: the Lithops config and the job come through
the storage bucket, and the only variables are the standard AWS ones (endpoint, region,
credentials: what a Lambda's execution role and its environment provide). No local path
reaches them: a manifest row naming a local file with this config is no exception to that
(the workers run here, so they could read it, but this test names only s3:// images).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"
CLI = str(Path(sys.executable).with_name("comicocr"))
# What a Lambda's environment holds (its role's credentials, its region) and the endpoint of
# this machine's stand-in for AWS. Nothing else from the test process.
AWS_ONLY = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


def test_localhost_compute_with_s3_storage_reads_and_writes_s3(tmp_path: Path, sample_pages: Path) -> None:
    s3 = boto3.client("s3")
    data, images = (f"t-{uuid.uuid4().hex[:12]}" for _ in range(2))
    for name in (data, images):
        s3.create_bucket(Bucket=name)
    pages = {
        "real/en_ep03_p02": REAL / "en_ep03_p02.jpg",
        "gen/p1": sample_pages / "page_001.png",
    }
    rows = ["canonical_id,absolute_image_path"]
    for cid, path in pages.items():
        key = f"scans/{cid}{path.suffix}"
        s3.upload_file(str(path), images, key)
        rows.append(f"{cid},s3://{images}/{key}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    config = {
        "lithops": {
            "backend": "localhost",
            "storage": "aws_s3",
            "log_level": "WARNING",
            "data_cleaner": False,
        },
        "localhost": {"version": 1, "runtime": sys.executable},
        "aws_s3": {"storage_bucket": data, "region": "us-east-1"},
    }
    (tmp_path / "lithops.yaml").write_text(yaml.safe_dump(config))
    env = {k: os.environ[k] for k in AWS_ONLY} | {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    env["OMP_THREAD_LIMIT"] = "1"

    done = subprocess.run(
        [
            CLI,
            "run",
            "--manifest",
            "manifest.csv",
            "--method",
            "tesseract",
            "--output",
            f"s3://{images}/ocr",
            "--allow-root",
            f"s3://{images}/scans",
            "--workers",
            "2",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for cid in pages:
        result = json.loads(s3.get_object(Bucket=images, Key=f"ocr/{cid}_ocr.json")["Body"].read())
        assert result["canonical_id"] == cid
        assert result["source_image_path"].startswith(f"s3://{images}/scans/")
        assert result["num_regions"] > 0
        assert result["full_text"].strip()
    real = json.loads(s3.get_object(Bucket=images, Key="ocr/real/en_ep03_p02_ocr.json")["Body"].read())
    assert "Greetings" in real["full_text"] or "Premium" in real["full_text"]

    # The work went through the storage bucket: Lithops keeps the runtime's metadata there,
    # and the jobs' payloads were written (and deleted by the consumer after each job).
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=data).get("Contents", [])]
    assert keys, "Lithops wrote nothing to its aws_s3 storage bucket"
    assert not [k for k in keys if k.startswith("lithops.jobs/")], keys  # each job's data cleaned
