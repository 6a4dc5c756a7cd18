"""``comicocr notify``: let S3 send a bucket's new images to the queue, as page messages.

S3 -> SQS needs two settings, and this makes both, merged into what is already there:

- the queue's access policy: one statement letting ``s3.amazonaws.com`` ``sqs:SendMessage``
  for events of this bucket (``aws:SourceArn``; and ``aws:SourceAccount`` where the bucket's
  account is known). The policy's other statements are kept.
- the bucket's notification configuration: ``s3:ObjectCreated:*`` to the queue, one queue
  configuration per image suffix. Its other configurations (other queues, topics, Lambdas,
  EventBridge) are kept: S3 replaces the whole configuration on every put, so it is read,
  merged and written back whole.

Run again, it changes nothing: the statement is recognised by its Sid (or by an equal
statement written by hand), a configuration by its Id (or by an existing one to the same
queue whose filter already takes those keys); and nothing is written when nothing changes.

Why one configuration per suffix: S3 allows one prefix and one suffix filter per configuration,
and an event for every object under the prefix would also be one for every result the consumer
writes there (``*_ocr.json``), and for every sidecar. The consumer ignores those anyway (no
loop: see ``messages._object_page``; it logs them as ``event.ignored``), so the filter only saves
messages. S3 matches suffixes case-sensitively: the default takes each suffix the consumer reads
in lower and upper case (a camera's ``.JPG``); a mixed-case ``.Jpg`` sends no event.

Synchronous boto3: a one-shot command. SQS is asked at the queue's own endpoint (a queue URL's
host, ``queues/sqs.endpoint_of``); S3 at the standard AWS endpoint, the one the consumer reads
images from (``storage.py``), in the queue's region (S3 sends only to a queue of its region).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from comicocr.errors import ConfigError
from comicocr.messages import IMAGE_SUFFIXES
from comicocr.queues.sqs import endpoint_of, queue_name

EVENTS = ["s3:ObjectCreated:*"]
S3_SERVICE = "s3.amazonaws.com"
_NO_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue")
_DENIED = ("AccessDenied", "AccessDeniedException", "AuthorizationError", "Forbidden", "403")
_BAD_CREDENTIALS = (
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
)


def default_suffixes() -> list[str]:
    """Every suffix the consumer makes pages of, in lower and upper case."""
    return [*IMAGE_SUFFIXES, *(s.upper() for s in IMAGE_SUFFIXES)]


def checked_suffixes(given: Sequence[str]) -> list[str]:
    """``--suffix`` values as S3 filters (``png`` -> ``.png``), each one the consumer reads:
    an event for any other object would only be ignored."""
    out: list[str] = []
    for raw in given:
        suffix = raw if raw.startswith(".") else f".{raw}"
        if suffix.lower() not in IMAGE_SUFFIXES:
            raise ConfigError(
                f"--suffix {raw!r}: the consumer makes pages of {' '.join(IMAGE_SUFFIXES)} objects only"
                " (any case); an event for anything else would only be ignored"
            )
        if suffix not in out:
            out.append(suffix)
    return out


MAX_FILTER_BYTES = 1024  # S3's limit on a filter rule's value


def check_prefix(prefix: str) -> None:
    """A prefix whose keys can become pages: no '.'/'..' or empty segment (each key under it
    would be an unsafe id and dead-lettered), no leading '/', within S3's filter limit."""
    segments = prefix.split("/")[:-1] if prefix.endswith("/") else prefix.split("/")
    if prefix and (prefix.startswith("/") or any(s in ("", ".", "..") for s in segments)):
        raise ConfigError(
            f"--prefix {prefix[:200]!r}: keys under it cannot be page ids (no leading '/', no empty,"
            " '.' or '..' segment): use a plain folder such as incoming/"
        )
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_FILTER_BYTES:
        raise ConfigError(f"--prefix is longer than S3's {MAX_FILTER_BYTES}-byte filter limit")


def check_bucket(bucket: str) -> None:
    if not bucket or "/" in bucket or ":" in bucket:
        raise ConfigError(
            f"--bucket takes a bucket name (my-scans), not {bucket[:200]!r}: the key prefix goes in --prefix"
        )


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def policy_statement(queue_arn: str, bucket_arn: str, account: str | None) -> dict[str, Any]:
    """The statement that lets S3 send this bucket's events to the queue, and nothing else."""
    condition: dict[str, Any] = {"ArnEquals": {"aws:SourceArn": bucket_arn}}
    if account:  # a bucket of that name re-created by another account sends nothing
        condition["StringEquals"] = {"aws:SourceAccount": account}
    return {
        # Letters and digits only: the Sid grammar some policy checkers hold to.
        "Sid": f"ComicocrS3Events{_digest(bucket_arn)[:12]}",
        "Effect": "Allow",
        "Principal": {"Service": S3_SERVICE},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": condition,
    }


def merged_policy(existing: str | None, statement: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The queue policy with ``statement`` in it, and whether that changed it. A statement
    with its Sid is replaced (a re-run with other settings); an equal one without it is kept."""
    try:
        policy = json.loads(existing) if existing else {"Version": "2012-10-17", "Statement": []}
    except json.JSONDecodeError:
        raise ConfigError(
            "the queue's access policy is not JSON: fix it before notify merges into it"
        ) from None
    if not isinstance(policy, dict):
        raise ConfigError("the queue's access policy is not a JSON object: fix it first")
    found = policy.get("Statement", [])
    statements = [found] if isinstance(found, dict) else list(found)
    bare = {k: v for k, v in statement.items() if k != "Sid"}
    for i, other in enumerate(statements):
        if isinstance(other, dict) and other.get("Sid") == statement["Sid"]:
            if "StringEquals" not in statement.get("Condition", {}):
                # the account could not be learnt this time: keep the one an earlier run pinned
                # (a re-run must never loosen the grant)
                pinned = (other.get("Condition") or {}).get("StringEquals")
                if pinned:
                    statement = {**statement, "Condition": {**statement["Condition"], "StringEquals": pinned}}
            if other == statement:
                return policy, False
            statements[i] = statement
            return {**policy, "Statement": statements}, True
    if any(isinstance(o, dict) and {k: v for k, v in o.items() if k != "Sid"} == bare for o in statements):
        return policy, False
    return {**policy, "Statement": [*statements, statement]}, True


def queue_configurations(queue_arn: str, prefix: str, suffixes: Sequence[str]) -> list[dict[str, Any]]:
    """One ObjectCreated configuration per suffix; its Id names the queue, prefix and suffix."""
    base = f"comicocr-{_digest(queue_arn, prefix)[:10]}"
    return [
        {
            "Id": f"{base}-{suffix.lstrip('.')}",
            "QueueArn": queue_arn,
            "Events": list(EVENTS),
            "Filter": {
                "Key": {
                    "FilterRules": [
                        *([{"Name": "prefix", "Value": prefix}] if prefix else []),
                        {"Name": "suffix", "Value": suffix},
                    ]
                }
            },
        }
        for suffix in suffixes
    ]


def _filter(config: dict[str, Any]) -> tuple[str, str]:
    """A configuration's (prefix, suffix); S3 answers the rule names capitalised."""
    rules = config.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    found = {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in rules}
    return found.get("prefix", ""), found.get("suffix", "")


def _canonical(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration as this module writes it: rule names in lower case (S3 answers them
    capitalised, and takes either), prefix before suffix."""
    out = dict(config)
    if "Filter" in out:
        rules = out["Filter"].get("Key", {}).get("FilterRules", [])
        lowered = sorted(
            ({**r, "Name": str(r.get("Name", "")).lower()} for r in rules), key=lambda r: r["Name"]
        )
        out["Filter"] = {**out["Filter"], "Key": {**out["Filter"].get("Key", {}), "FilterRules": lowered}}
    return out


def _covers(other: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether ``other`` already sends the queue every event ``wanted`` would."""
    prefix, suffix = _filter(other)
    want_prefix, want_suffix = _filter(wanted)
    return (
        other.get("QueueArn") == wanted.get("QueueArn")
        and "s3:ObjectCreated:*" in other.get("Events", [])
        and want_prefix.startswith(prefix)
        and want_suffix.endswith(suffix)
    )


@dataclass(frozen=True)
class Merged:
    notification: dict[str, Any]  # the bucket's whole configuration, to put
    added: list[str]  # Ids of the configurations added (or changed)
    removed: list[str]  # Ids of earlier notify configurations a broader new one replaces
    covered: list[str]  # Ids not added: an existing configuration already takes those keys
    kept: int  # the bucket's other configurations, kept as they are

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def merged_notification(existing: dict[str, Any], wanted: list[dict[str, Any]]) -> Merged:
    """The bucket's configuration with ``wanted`` in it, every other configuration kept.

    Only configurations notify wrote (Ids ``comicocr-...``) are ever replaced: those with a
    wanted Id, and those a wanted one takes over (a run without the prefix of an earlier one),
    which S3 would otherwise refuse as overlapping. A wanted configuration that an existing one
    already covers (same queue, a shorter prefix or suffix) is not added."""
    current = {k: v for k, v in existing.items() if k != "ResponseMetadata"}
    before = [_canonical(c) for c in current.get("QueueConfigurations", [])]
    ids = {w["Id"] for w in wanted}

    def replaced(config: dict[str, Any]) -> bool:
        ident = str(config.get("Id", ""))
        return ident in ids or (ident.startswith("comicocr-") and any(_covers(w, config) for w in wanted))

    others = [c for c in before if not replaced(c)]
    new = [w for w in wanted if not any(_covers(o, w) for o in others)]
    after = [*others, *new]
    kept = len(others) + sum(
        len(current.get(k, [])) for k in ("TopicConfigurations", "LambdaFunctionConfigurations")
    )
    return Merged(
        notification={**current, "QueueConfigurations": after},
        added=[w["Id"] for w in new if w not in before],
        removed=[str(c.get("Id")) for c in before if c not in after],
        covered=[w["Id"] for w in wanted if w not in new],
        kept=kept,
    )


@dataclass(frozen=True)
class Plan:
    """What notify read and would write."""

    bucket: str
    prefix: str
    suffixes: list[str]
    queue_url: str
    queue_arn: str
    account: str | None  # the bucket's account, where known (aws:SourceAccount)
    policy: dict[str, Any]
    policy_changed: bool
    merged: Merged
    encrypted_with: str | None  # the queue's KMS key: S3 needs that key's permission too

    def as_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "queue": self.queue_url,
            "queue_arn": self.queue_arn,
            "policy_changed": self.policy_changed,
            "policy": self.policy,
            "notification_changed": self.merged.changed,
            "notification": self.merged.notification,
        }


def _is_aws(url: str | None) -> bool:
    host = urlsplit(url or "").hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


class AwsClients:
    """The boto3 clients of one notify, and the one-line errors their calls end in."""

    def __init__(self, queue_address: str) -> None:
        import boto3
        from botocore.config import Config

        endpoint = endpoint_of(queue_address)
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        self.session = boto3.session.Session()
        self.region = endpoint.region
        self.sqs = self.session.client(
            "sqs", region_name=endpoint.region, endpoint_url=endpoint.url, config=config
        )
        self.s3 = self.session.client("s3", region_name=endpoint.region, config=config)

    @contextmanager
    def call(self, what: str, fix_missing: str, permission: str) -> Iterator[None]:
        """Turn what a call can meet into one ConfigError line with the fix."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            ParamValidationError,
        )

        try:
            yield
        except NoCredentialsError:
            raise ConfigError(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
                " (aws configure)"
            ) from None
        except EndpointConnectionError as exc:
            raise ConfigError(
                f"cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')} for {what}: is the server up?"
                " (check the queue URL, AWS_ENDPOINT_URL, AWS_REGION)"
            ) from None
        except ParamValidationError as exc:
            raise ConfigError(f"{what}: {str(exc).splitlines()[-1][:300]}") from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))[:300]
            if code in _NO_QUEUE or code in ("NoSuchBucket", "InvalidBucketName"):
                raise ConfigError(f"{what} does not exist: {fix_missing}") from None
            if code in _DENIED:
                raise ConfigError(f"access denied to {what}: the credentials need {permission}") from None
            if code in _BAD_CREDENTIALS:
                raise ConfigError(
                    f"the AWS credentials were refused ({code}) for {what}: check AWS_ACCESS_KEY_ID,"
                    " AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) or AWS_PROFILE"
                ) from None
            if code == "InvalidArgument":
                raise ConfigError(
                    f"S3 refused the notification for {what}: {message}{_hint(message)}"
                ) from None
            raise

    def account(self) -> str | None:
        """The caller's account, asked of STS only on AWS: an S3-compatible server has no
        accounts to match, and its credentials must not be sent to AWS."""
        if not _is_aws(self.s3.meta.endpoint_url):
            return None
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        sts = self.session.client(
            "sts", region_name=self.region, config=Config(retries={"max_attempts": 1}, connect_timeout=5)
        )
        try:
            return str(sts.get_caller_identity()["Account"])
        except (BotoCoreError, ClientError):  # not allowed, not reachable: the condition is optional
            return None


def _hint(message: str) -> str:
    if "overlap" in message.lower():
        return (
            " (another configuration takes ObjectCreated events for overlapping keys:"
            " narrow --prefix or --suffix, or remove that configuration)"
        )
    if "destination" in message.lower():
        return (
            " (S3 sends only to a standard queue in the bucket's region whose policy lets it:"
            " check for a Deny statement, or a KMS key S3 may not use)"
        )
    return ""


def _bucket_notification(
    aws: AwsClients, bucket: str, account: str | None
) -> tuple[dict[str, Any], str | None]:
    """The bucket's configuration, and the account that owns it where that is known: S3
    checks ``ExpectedBucketOwner``, so a bucket of another account is not claimed as ours."""
    from botocore.exceptions import ClientError

    what = f"bucket {bucket!r} (S3 at {aws.s3.meta.endpoint_url})"
    fix = f"create it first (aws s3 mb s3://{bucket}) or fix --bucket"
    with aws.call(what, fix, "s3:GetBucketNotification on it"):
        if account:
            try:
                return aws.s3.get_bucket_notification_configuration(
                    Bucket=bucket, ExpectedBucketOwner=account
                ), account
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _DENIED:
                    raise
            # Another account's bucket (or no right to read it, which the next call says).
        return aws.s3.get_bucket_notification_configuration(Bucket=bucket), None


def plan(bucket: str, queue_address: str, prefix: str, suffixes: Sequence[str]) -> tuple[Plan, AwsClients]:
    """Read the queue and the bucket, and merge what notify sets into what they hold."""
    check_bucket(bucket)
    check_prefix(prefix)
    aws = AwsClients(queue_address)  # a queue address of no known form: refused here
    name = queue_name(queue_address)
    if name.endswith(".fifo"):
        raise ConfigError(
            f"S3 cannot send event notifications to a FIFO queue ({name}): use a standard queue"
            " (or an EventBridge rule, which can target FIFO queues)"
        )
    what = f"queue {name!r} (SQS at {aws.sqs.meta.endpoint_url})"
    fix = (
        f"create it first (comicocr consume --queue sqs://{name} creates it) or fix --queue"
        if queue_address.startswith("sqs://")
        else "check --queue (comicocr never creates a queue given by its URL)"
    )
    with aws.call(what, fix, "sqs:GetQueueUrl and sqs:GetQueueAttributes on it"):
        is_url = not queue_address.startswith("sqs://")
        url = queue_address if is_url else str(aws.sqs.get_queue_url(QueueName=name)["QueueUrl"])
        attributes = aws.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "Policy", "KmsMasterKeyId"]
        ).get("Attributes", {})
    if attributes.get("KmsMasterKeyId") == "alias/aws/sqs":  # its key policy cannot be changed
        raise ConfigError(
            f"{what} is encrypted with the AWS managed key alias/aws/sqs, which S3 may not use: every"
            " event would be lost. Use SSE-SQS, or a customer managed key whose policy lets"
            " s3.amazonaws.com kms:GenerateDataKey and kms:Decrypt"
        )
    queue_arn = str(attributes["QueueArn"])
    partition = queue_arn.split(":")[1] if queue_arn.count(":") >= 5 else "aws"
    existing, account = _bucket_notification(aws, bucket, aws.account())
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    policy, policy_changed = merged_policy(
        attributes.get("Policy"), policy_statement(queue_arn, bucket_arn, account)
    )
    merged = merged_notification(existing, queue_configurations(queue_arn, prefix, suffixes))
    found = Plan(
        bucket=bucket,
        prefix=prefix,
        suffixes=list(suffixes),
        queue_url=url,
        queue_arn=queue_arn,
        account=account,
        policy=policy,
        policy_changed=policy_changed,
        merged=merged,
        encrypted_with=attributes.get("KmsMasterKeyId"),
    )
    return found, aws


def apply(found: Plan, aws: AwsClients) -> None:
    """Write what changed: the policy first, since S3 checks it may send before it takes the
    notification (and sends its ``s3:TestEvent``, which the consumer ignores)."""
    if found.policy_changed:
        what = f"queue {queue_name(found.queue_url)!r}"
        with aws.call(what, "it was there a moment ago: run notify again", "sqs:SetQueueAttributes on it"):
            aws.sqs.set_queue_attributes(
                QueueUrl=found.queue_url, Attributes={"Policy": json.dumps(found.policy)}
            )
    if found.merged.changed:
        what = f"bucket {found.bucket!r}"
        with aws.call(what, "it was there a moment ago: run notify again", "s3:PutBucketNotification on it"):
            kwargs = {"ExpectedBucketOwner": found.account} if found.account else {}
            aws.s3.put_bucket_notification_configuration(
                Bucket=found.bucket, NotificationConfiguration=found.merged.notification, **kwargs
            )


def summary(found: Plan, queue_address: str) -> list[str]:
    """What notify did, a line each, and the command that reads what S3 now sends."""
    name = queue_name(found.queue_url)
    source = f"arn:{found.queue_arn.split(':')[1]}:s3:::{found.bucket}"
    from_account = f" (account {found.account})" if found.account else ""
    lines = [
        f"queue policy of {name}: added a statement letting S3 send events of {source}{from_account}"
        if found.policy_changed
        else f"queue policy of {name}: already lets S3 send events of {source} (unchanged)"
    ]
    m = found.merged
    keys = f"keys under {found.prefix!r}" if found.prefix else "every key"
    what = f"{keys} ending in {' '.join(found.suffixes)}"
    if m.changed:
        line = f"bucket {found.bucket}: ObjectCreated events of {what} now go to {name}"
        line += f" ({len(m.added)} configurations added"
        line += f", {len(m.removed)} earlier ones replaced" if m.removed else ""
    else:
        line = f"bucket {found.bucket}: already sends ObjectCreated events of {what} to {name} (unchanged"
    line += f", {len(m.covered)} already covered by an existing one" if m.covered else ""
    line += f"; {m.kept} other configurations kept)" if m.kept else ")"
    lines.append(line)
    if found.encrypted_with:
        lines.append(
            f"note: the queue is encrypted with KMS key {found.encrypted_with}: its key policy must let"
            " s3.amazonaws.com kms:GenerateDataKey and kms:Decrypt, or S3's events are lost"
        )
    root = found.prefix.rpartition("/")[0]  # "in" also matches "inbox/": allow the folder above
    lines.append(
        f"next: comicocr consume --queue {queue_address} --output s3://RESULTS-BUCKET/ocr"
        f" --allow-root s3://{found.bucket}{'/' + root if root else ''}"
    )
    return lines
