"""notify's merging (pure) and the one-line errors it turns AWS answers into. The calls
themselves run against LocalStack in tests/integration/test_notify.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from comicocr.errors import ConfigError
from comicocr.producer.notify import (
    AwsClients,
    checked_suffixes,
    default_suffixes,
    merged_notification,
    merged_policy,
    plan,
    policy_statement,
    queue_configurations,
)

QUEUE = "arn:aws:sqs:eu-west-1:123456789012:pages"
BUCKET = "arn:aws:s3:::scans"


def statement(account: str | None = None) -> dict[str, Any]:
    return policy_statement(QUEUE, BUCKET, account)


def test_the_statement_lets_s3_send_for_this_bucket_only() -> None:
    got = statement("123456789012")
    assert got["Principal"] == {"Service": "s3.amazonaws.com"}
    assert (got["Effect"], got["Action"], got["Resource"]) == ("Allow", "sqs:SendMessage", QUEUE)
    assert got["Condition"] == {
        "ArnEquals": {"aws:SourceArn": BUCKET},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }
    assert got["Sid"].isalnum()
    assert "StringEquals" not in statement()["Condition"]  # the account unknown: no condition on it


def test_policy_merge_keeps_other_statements_and_never_duplicates() -> None:
    fresh, changed = merged_policy(None, statement())
    assert changed
    assert fresh == {"Version": "2012-10-17", "Statement": [statement()]}

    theirs = {"Sid": "Theirs", "Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE}
    existing = json.dumps({"Version": "2012-10-17", "Id": "p1", "Statement": theirs})  # one, not a list
    merged, changed = merged_policy(existing, statement())
    assert changed
    assert merged == {"Version": "2012-10-17", "Id": "p1", "Statement": [theirs, statement()]}

    assert merged_policy(json.dumps(merged), statement()) == (merged, False)  # twice: the same
    # Our Sid with other settings (the account found since): replaced in place.
    updated, changed = merged_policy(json.dumps(merged), statement("123456789012"))
    assert changed
    assert updated["Statement"] == [theirs, statement("123456789012")]
    # The same grant written by hand under another Sid: not added a second time.
    by_hand = {**statement(), "Sid": "AllowS3"}
    assert merged_policy(json.dumps({"Statement": [by_hand]}), statement())[1] is False

    with pytest.raises(ConfigError, match="not JSON"):
        merged_policy("{nope", statement())


def s3_answer(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Configurations as S3 answers them: rule names capitalised."""
    out = []
    for c in configs:
        rules = [{**r, "Name": r["Name"].capitalize()} for r in c["Filter"]["Key"]["FilterRules"]]
        out.append({**c, "Filter": {"Key": {"FilterRules": rules}}})
    return out


def test_notification_merge_keeps_the_others_and_is_idempotent() -> None:
    wanted = queue_configurations(QUEUE, "in/", default_suffixes())
    assert len({w["Id"] for w in wanted}) == len(wanted) == 16
    other_queue = {
        "Id": "thumbs",
        "QueueArn": QUEUE.replace("pages", "thumbs"),
        "Events": ["s3:ObjectCreated:*"],
    }
    topic = {"Id": "t", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:t", "Events": ["s3:ObjectRemoved:*"]}
    existing = {
        "ResponseMetadata": {"HTTPStatusCode": 200},
        "QueueConfigurations": [other_queue],
        "TopicConfigurations": [topic],
        "EventBridgeConfiguration": {},
    }

    first = merged_notification(existing, wanted)

    assert (first.changed, len(first.added), first.removed, first.covered, first.kept) == (
        True,
        16,
        [],
        [],
        2,
    )
    assert first.notification == {
        "QueueConfigurations": [other_queue, *wanted],
        "TopicConfigurations": [topic],
        "EventBridgeConfiguration": {},
    }
    # What S3 answers next time (capitalised rule names) is recognised: nothing to write.
    answer = {**first.notification, "QueueConfigurations": [other_queue, *s3_answer(wanted)]}
    again = merged_notification(answer, wanted)
    assert (again.changed, again.added, again.removed) == (False, [], [])


def test_a_configuration_already_covering_the_keys_is_not_doubled() -> None:
    everything = {"Id": "by-hand", "QueueArn": QUEUE, "Events": ["s3:ObjectCreated:*"]}  # no filter
    got = merged_notification(
        {"QueueConfigurations": [everything]}, queue_configurations(QUEUE, "in/", [".png"])
    )
    assert (got.changed, len(got.covered)) == (False, 1)
    assert got.notification["QueueConfigurations"] == [everything]


def test_a_broader_run_replaces_notifys_own_narrower_configurations_only() -> None:
    narrow = queue_configurations(QUEUE, "in/vol1/", [".png"])
    foreign = {**narrow[0], "Id": "by-hand"}  # the same filter, written by someone else
    broad = queue_configurations(QUEUE, "in/", [".png"])

    got = merged_notification({"QueueConfigurations": [*narrow]}, broad)
    assert (got.added, got.removed) == ([broad[0]["Id"]], [narrow[0]["Id"]])
    assert got.notification["QueueConfigurations"] == broad
    kept = merged_notification({"QueueConfigurations": [foreign]}, broad)  # S3 will say if they overlap
    assert kept.notification["QueueConfigurations"] == [foreign, *broad]


def test_suffixes_are_those_the_consumer_reads() -> None:
    assert checked_suffixes(["png", ".JPG", ".png"]) == [".png", ".JPG"]
    with pytest.raises(ConfigError, match=r"makes pages of \.png"):
        checked_suffixes([".cbz"])
    assert ".tif" in default_suffixes()
    assert ".TIF" in default_suffixes()


@pytest.mark.parametrize(
    ("bucket", "queue", "words"),
    [
        ("s3://scans/in", "sqs://pages", "--bucket takes a bucket name"),
        ("scans", "sqs://pages.fifo", "FIFO queue"),
        ("scans", "pages", "not an SQS queue URL"),
    ],
)
def test_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, bucket: str, queue: str, words: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a request would fail otherwise
    with pytest.raises(ConfigError, match=words):
        plan(bucket, queue, "", [".png"])


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutBucketNotificationConfiguration")


@pytest.mark.parametrize(
    ("raised", "words"),
    [
        (client_error("AccessDenied"), "access denied to bucket 'scans': the credentials need s3:Put"),
        (client_error("NoSuchBucket"), "bucket 'scans' does not exist: create it"),
        (client_error("InvalidClientTokenId"), "credentials were refused (InvalidClientTokenId)"),
        (
            client_error("InvalidArgument", "Configurations overlap."),
            "S3 refused the notification for bucket 'scans': Configurations overlap. (another configuration",
        ),
        (NoCredentialsError(), "no AWS credentials"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "cannot reach http://127.0.0.1:9"),
    ],
)
def test_aws_errors_become_one_line_with_the_fix(raised: Exception, words: str) -> None:
    aws = AwsClients("sqs://pages")
    with (
        pytest.raises(ConfigError) as caught,
        aws.call("bucket 'scans'", "create it", "s3:PutBucketNotification"),
    ):
        raise raised
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unforeseen_aws_error_is_not_disguised() -> None:
    with pytest.raises(ClientError), AwsClients("sqs://pages").call("bucket 'scans'", "", ""):
        raise client_error("InternalError")


@pytest.mark.parametrize("prefix", ["../", "a/../b/", "/abs/", "a//b/", "./x", "p" * 1025])
def test_prefixes_whose_keys_cannot_be_pages_are_refused(prefix: str) -> None:
    from comicocr.producer.notify import check_prefix

    with pytest.raises(ConfigError, match="--prefix"):
        check_prefix(prefix)
    check_prefix("incoming/")
    check_prefix("scans/2026/")
    check_prefix("")


def test_a_rerun_that_cannot_learn_the_account_keeps_the_pinned_one() -> None:
    import json

    from comicocr.producer.notify import merged_policy, policy_statement

    strict = policy_statement("arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:s3:::b", "123456789012")
    first, _ = merged_policy(None, strict)
    loose = policy_statement("arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:s3:::b", None)
    again, changed = merged_policy(json.dumps(first), loose)
    assert not changed
    assert again["Statement"][0]["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
