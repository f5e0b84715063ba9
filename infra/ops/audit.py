"""``ops audit who-read``: who read (or wrote) objects under a lake prefix, and who changed the lake's buckets.

What it can answer, and from where:

- **object reads and writes** (``GetObject``, ``PutObject``, ``DeleteObject``...) are CloudTrail *data
  events*. ``LookupEvents`` never returns data events, so they are read from the trail's files:
  the command prints an Athena query (over the table :func:`athena_ddl` creates on the trail bucket)
  and a CloudTrail Lake query (for an event data store collecting the same events), and runs the
  Athena one with ``--run-athena``;
- **bucket-level management events** on the lake buckets (policy, ACL, encryption, lifecycle
  changes, ``GetBucketPolicy``...) come from ``LookupEvents`` (last 90 days only, this region only).

What it cannot answer: reads before the trail recorded data events (staging / prod since issue 16;
dev only with ``audit.enabled``), reads of copies outside S3 (a pod's local disk, the Feast online
store, MLflow's caches, a laptop), which *rows* of an object were used; events of the last ~5-15
minutes (CloudTrail delivers files in batches). A presigned URL is logged under the identity that
signed it, not whoever used it (``sourceIPAddress`` / ``userAgent`` tell more).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.ops.aws import OpsError

READ_EVENTS = ("GetObject", "HeadObject", "GetObjectAttributes", "SelectObjectContent", "GetObjectTagging", "RestoreObject")
WRITE_EVENTS = ("PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "CompleteMultipartUpload", "PutObjectTagging")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*()/=+-]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
ATHENA_TABLE = "cloudtrail_logs"
ATHENA_DATABASE = "mlp_audit"
ATHENA_COLUMNS = (
    "eventtime",
    "principal",
    "identitytype",
    "eventname",
    "bucket",
    "objectkey",
    "sourceip",
    "useragent",
    "errorcode",
)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``2026-01-31``, ``2026-01-31T12:00:00Z`` or a relative ``7d`` / ``12h``, as an aware UTC datetime."""
    now = now or datetime.now(UTC)
    rel = re.fullmatch(r"([0-9]{1,4})([dh])", text.strip())
    if rel:
        amount = int(rel.group(1))
        return now - (timedelta(days=amount) if rel.group(2) == "d" else timedelta(hours=amount))
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise OpsError(
            f"--since {text!r}: give a date (2026-01-31), a UTC time (2026-01-31T12:00:00Z) or a span (7d, 12h)"
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if value > now:
        raise OpsError(f"--since {text!r} is in the future")
    return value.astimezone(UTC)


def check_prefix(prefix: str, teams: Iterable[str]) -> str:
    """A lake key prefix safe to put in a query; a ``teams/<t>/`` prefix must name a team of the stack."""
    if not prefix or not _PREFIX.match(prefix):
        raise OpsError(
            f"--prefix {prefix!r}: an S3 key prefix such as teams/<team>/datasets/ (letters, digits, / . _ - = + ! * ( ))"
        )
    if prefix.startswith("teams/"):
        team = prefix.split("/")[1] if prefix.count("/") >= 1 else ""
        known = sorted(teams)
        if team not in known:
            raise OpsError(f"--prefix {prefix!r}: {team!r} is not a team of this stack; teams: {', '.join(known) or 'none'}")
    return prefix


def _like(prefix: str) -> str:
    """A SQL ``LIKE`` pattern matching keys that start with ``prefix`` (``_`` and ``%`` escaped with ``\\``)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def athena_query(
    *, database: str, table: str, buckets: Sequence[str], prefix: str, since: datetime, until: datetime | None = None
) -> str:
    """Presto SQL over the CloudTrail table: every object read / write under ``prefix`` of ``buckets`` since ``since``.

    ``timestamp`` is the table's projected partition (``yyyy/MM/dd``): the predicate on it keeps the
    scan (and the bill) to the days asked for.
    """
    for ident in (database, table):
        if not _IDENT.match(ident):
            raise OpsError(f"{ident!r} is not an Athena database / table name (letters, digits, _)")
    end = until or datetime.now(UTC)
    return (
        "SELECT eventtime, useridentity.arn AS principal, useridentity.type AS identitytype, eventname,\n"
        "       json_extract_scalar(requestparameters, '$.bucketName') AS bucket,\n"
        "       json_extract_scalar(requestparameters, '$.key') AS objectkey,\n"
        "       sourceipaddress AS sourceip, useragent, errorcode\n"
        f"FROM {database}.{table}\n"
        "WHERE eventsource = 's3.amazonaws.com'\n"
        f"  AND eventname IN ({_in(READ_EVENTS + WRITE_EVENTS)})\n"
        f"  AND json_extract_scalar(requestparameters, '$.bucketName') IN ({_in(buckets)})\n"
        f"  AND json_extract_scalar(requestparameters, '$.key') LIKE '{_like(prefix)}' ESCAPE '\\'\n"
        f"  AND \"timestamp\" BETWEEN '{since:%Y/%m/%d}' AND '{end:%Y/%m/%d}'\n"
        f"  AND eventtime >= '{since:%Y-%m-%dT%H:%M:%SZ}'\n"
        + (f"  AND eventtime < '{until:%Y-%m-%dT%H:%M:%SZ}'\n" if until else "")
        + "ORDER BY eventtime"
    )


def lake_query(*, event_data_store: str, buckets: Sequence[str], prefix: str, since: datetime) -> str:
    """The same question for CloudTrail Lake (``requestParameters`` is a map there)."""
    if not re.match(r"^[A-Za-z0-9-]{1,128}$", event_data_store):
        raise OpsError(f"--event-data-store {event_data_store!r}: the event data store id (the last part of its ARN)")
    return (
        "SELECT eventTime, userIdentity.arn, userIdentity.type, eventName,\n"
        "       element_at(requestParameters, 'bucketName'), element_at(requestParameters, 'key'), sourceIPAddress\n"
        f"FROM {event_data_store}\n"
        "WHERE eventSource = 's3.amazonaws.com'\n"
        f"  AND eventName IN ({_in(READ_EVENTS + WRITE_EVENTS)})\n"
        f"  AND element_at(requestParameters, 'bucketName') IN ({_in(buckets)})\n"
        f"  AND element_at(requestParameters, 'key') LIKE '{_like(prefix)}' ESCAPE '\\'\n"
        f"  AND eventTime >= '{since:%Y-%m-%d %H:%M:%S}'\n"
        "ORDER BY eventTime"
    )


def athena_ddl(
    *, database: str, table: str, bucket: str, account_id: str, regions: Sequence[str], start: str = "2025/01/01"
) -> str:
    """``CREATE EXTERNAL TABLE`` over the trail bucket, partitions projected by region and day (no crawler, no MSCK)."""
    if not (_IDENT.match(database) and _IDENT.match(table)):
        raise OpsError("Athena database / table names: letters, digits, _")
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{table} (
  eventversion STRING,
  useridentity STRUCT<type: STRING, principalid: STRING, arn: STRING, accountid: STRING, invokedby: STRING,
    accesskeyid: STRING, username: STRING,
    sessioncontext: STRUCT<attributes: STRUCT<mfaauthenticated: STRING, creationdate: STRING>,
      sessionissuer: STRUCT<type: STRING, principalid: STRING, arn: STRING, accountid: STRING, username: STRING>>>,
  eventtime STRING, eventsource STRING, eventname STRING, awsregion STRING, sourceipaddress STRING, useragent STRING,
  errorcode STRING, errormessage STRING, requestparameters STRING, responseelements STRING, additionaleventdata STRING,
  requestid STRING, eventid STRING, readonly STRING,
  resources ARRAY<STRUCT<arn: STRING, accountid: STRING, type: STRING>>,
  eventtype STRING, apiversion STRING, recipientaccountid STRING, sharedeventid STRING, vpcendpointid STRING,
  eventcategory STRING, tlsdetails STRUCT<tlsversion: STRING, ciphersuite: STRING, clientprovidedhostheader: STRING>
)
PARTITIONED BY (region STRING, `timestamp` STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://{bucket}/AWSLogs/{account_id}/CloudTrail/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.region.type' = 'enum',
  'projection.region.values' = '{",".join(regions)}',
  'projection.timestamp.type' = 'date',
  'projection.timestamp.format' = 'yyyy/MM/dd',
  'projection.timestamp.range' = '{start},NOW',
  'projection.timestamp.interval' = '1',
  'projection.timestamp.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://{bucket}/AWSLogs/{account_id}/CloudTrail/${{region}}/${{timestamp}}'
)"""


GCS_METHODS = (
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.create",
    "storage.objects.update",
    "storage.objects.delete",
    "storage.objects.rewrite",
    "storage.objects.compose",
)


def gcp_logging_filter(*, buckets: Sequence[str], prefix: str, since: datetime) -> str:
    """Cloud Logging query: Data Access entries of Cloud Storage on objects under ``prefix`` of ``buckets``."""
    names = " OR ".join(f'protoPayload.resourceName:"projects/_/buckets/{b}/objects/{prefix}"' for b in buckets)
    methods = " OR ".join(f'"{m}"' for m in GCS_METHODS)
    return (
        'protoPayload.serviceName="storage.googleapis.com" '
        f"AND protoPayload.methodName=({methods}) "
        f"AND ({names}) "
        f'AND timestamp>="{since:%Y-%m-%dT%H:%M:%SZ}"'
    )


def gcp_read_command(*, project: str, bucket_id: str, location: str, log_filter: str) -> str:
    """``gcloud logging read`` over the locked audit log bucket (view ``_AllLogs``)."""
    quoted = log_filter.replace("'", "'\\''")
    return (
        f"gcloud logging read '{quoted}' --project={project} --bucket={bucket_id} --location={location} "
        "--view=_AllLogs --format='table(timestamp, protoPayload.authenticationInfo.principalEmail, "
        "protoPayload.methodName, protoPayload.resourceName, protoPayload.requestMetadata.callerIp)'"
    )


@dataclass
class ManagementEvent:
    time: str
    principal: str
    event: str
    bucket: str
    source_ip: str


@dataclass
class WhoRead:
    """The answer: queries, management events on the buckets, and (with ``--run-athena``) the data events found."""

    stack: str
    buckets: list[str]
    prefix: str
    since: str
    athena_query: str
    lake_query: str | None
    management_events: list[ManagementEvent] = field(default_factory=list)
    data_events: list[dict[str, str]] | None = None
    query_execution_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["management_events"] = [e.__dict__ for e in self.management_events]
        return out


def lake_bucket_names(environment: str, zones: Sequence[str], account_id: str, regions: Sequence[str]) -> list[str]:
    """The lake's bucket names (``components.aws.data_lake`` names them ``mlp-<env>-<zone>-<account>-<region>``)."""
    return [f"mlp-{environment}-{zone}-{account_id}-{region}" for region in regions for zone in zones]


def management_events(
    cloudtrail: Any, buckets: Sequence[str], since: datetime, until: datetime | None = None
) -> list[ManagementEvent]:
    """``LookupEvents`` by resource name, one bucket at a time (one lookup attribute per call; 2 calls/s per account)."""
    found: list[ManagementEvent] = []
    for bucket in buckets:
        kwargs: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": bucket}],
            "StartTime": since,
            "EndTime": until or datetime.now(UTC),
        }
        for page in cloudtrail.get_paginator("lookup_events").paginate(**kwargs):
            for ev in page.get("Events", []):
                detail = json.loads(ev.get("CloudTrailEvent") or "{}")
                found.append(
                    ManagementEvent(
                        time=str(ev.get("EventTime")),
                        principal=str((detail.get("userIdentity") or {}).get("arn") or ev.get("Username") or "?"),
                        event=str(ev.get("EventName")),
                        bucket=bucket,
                        source_ip=str(detail.get("sourceIPAddress") or ""),
                    )
                )
    return sorted(found, key=lambda e: e.time)


def run_athena(
    athena: Any,
    query: str,
    *,
    output: str,
    workgroup: str | None,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float = 300,
) -> tuple[str, list[dict[str, str]]]:
    """Run ``query``, wait for it, return the execution id and the rows (header row dropped)."""
    if not output.startswith("s3://"):
        raise OpsError(f"--athena-output {output!r}: an s3:// location for the query results")
    kwargs: dict[str, Any] = {"QueryString": query, "ResultConfiguration": {"OutputLocation": output}}
    if workgroup:
        kwargs["WorkGroup"] = workgroup
    exec_id = athena.start_query_execution(**kwargs)["QueryExecutionId"]
    waited = 0.0
    while True:
        status = athena.get_query_execution(QueryExecutionId=exec_id)["QueryExecution"]["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            break
        if state in ("FAILED", "CANCELLED"):
            raise OpsError(f"Athena query {exec_id} {state.lower()}: {status.get('StateChangeReason', '')}".rstrip(": "))
        if waited >= timeout_s:
            raise OpsError(f"Athena query {exec_id} still {state} after {timeout_s:g}s; fetch it later with get-query-results")
        sleep(1.0)
        waited += 1.0
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=exec_id):
        for row in page["ResultSet"]["Rows"]:
            values = [d.get("VarCharValue", "") for d in row.get("Data", [])]
            if header is None:
                header = values
                continue
            rows.append(dict(zip(header, values, strict=False)))
    return exec_id, rows
