"""``python -m infra ops audit who-read``: the queries it ships, LookupEvents (Stubber: moto lacks it), Athena (moto)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from infra import cli
from infra.ops import audit
from infra.ops import cli as ops_cli
from infra.ops.aws import Clients, OpsError
from tests.helpers import fake_aws_credentials

REGION, DR, ACCOUNT = "us-east-1", "us-west-2", "123456789012"
PROD_ZONES = ("raw", "curated", "features", "models")


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch, REGION)


def _args(*extra: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["ops", "audit", "who-read", "--stack", "prod", *extra])


def _cloudtrail_event(bucket: str, name: str, arn: str) -> dict[str, object]:
    detail = {"userIdentity": {"arn": arn}, "sourceIPAddress": "198.51.100.7", "eventName": name}
    return {
        "EventId": "e1",
        "EventName": name,
        "EventTime": datetime(2026, 11, 2, tzinfo=UTC),
        "Username": "x",
        "Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": bucket}],
        "CloudTrailEvent": json.dumps(detail),
    }


def test_athena_query_restricts_to_the_lake_buckets_the_prefix_and_the_days_asked() -> None:
    since = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    query = audit.athena_query(
        database="mlp_audit",
        table="cloudtrail_logs",
        buckets=["b1", "b2"],
        prefix="teams/llm/raw_data/",
        since=since,
        until=datetime(2026, 11, 3, tzinfo=UTC),
    )
    assert "FROM mlp_audit.cloudtrail_logs" in query
    assert "eventsource = 's3.amazonaws.com'" in query
    assert "IN ('b1', 'b2')" in query
    # '_' is a LIKE wildcard: escaped, so teams/llm/rawXdata/ does not match
    assert "LIKE 'teams/llm/raw\\_data/%' ESCAPE '\\'" in query
    assert "\"timestamp\" BETWEEN '2026/11/01' AND '2026/11/03'" in query and "eventtime >= '2026-11-01T08:30:00Z'" in query
    for name in ("GetObject", "HeadObject", "PutObject", "DeleteObject"):
        assert f"'{name}'" in query
    lake = audit.lake_query(event_data_store="eds-1", buckets=["b1"], prefix="teams/llm/", since=since)
    assert "FROM eds-1" in lake and "element_at(requestParameters, 'key') LIKE 'teams/llm/%'" in lake


def test_ddl_projects_region_and_day_partitions_over_the_trail_layout() -> None:
    ddl = audit.athena_ddl(
        database="mlp_audit", table="cloudtrail_logs", bucket="mlp-prod-audit-1-us-east-1", account_id="1", regions=[REGION, DR]
    )
    assert "LOCATION 's3://mlp-prod-audit-1-us-east-1/AWSLogs/1/CloudTrail/'" in ddl
    assert "'projection.region.values' = 'us-east-1,us-west-2'" in ddl
    assert "'storage.location.template' = 's3://mlp-prod-audit-1-us-east-1/AWSLogs/1/CloudTrail/${region}/${timestamp}'" in ddl
    assert "PARTITIONED BY (region STRING, `timestamp` STRING)" in ddl


@pytest.mark.parametrize(
    ("prefix", "says"),
    [
        ("teams/nobody/", "not a team of this stack; teams: analytics, llm, recsys, vision"),
        ("teams/llm/'; DROP TABLE x; --", "S3 key prefix"),
        ("", "S3 key prefix"),
    ],
)
def test_bad_prefix_is_refused_before_any_query(prefix: str, says: str) -> None:
    with pytest.raises(OpsError, match=says.split(";")[0]):
        audit.check_prefix(prefix, ["llm", "vision", "recsys", "analytics"])


def test_since_accepts_dates_times_and_spans_and_refuses_the_rest() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert audit.parse_since("7d", now=now) == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert audit.parse_since("2026-11-01", now=now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert audit.parse_since("2026-11-01T10:00:00Z", now=now) == datetime(2026, 11, 1, 10, tzinfo=UTC)
    for bad in ("last week", "2027-01-01"):
        with pytest.raises(OpsError, match="--since"):
            audit.parse_since(bad, now=now)


@mock_aws
def test_who_read_prints_the_queries_lists_bucket_events_and_runs_athena(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto.athena.models import QueryResults, athena_backends

    buckets = audit.lake_bucket_names("prod", PROD_ZONES, ACCOUNT, [REGION, DR])
    header = [{"VarCharValue": c} for c in audit.ATHENA_COLUMNS]
    row = [
        {"VarCharValue": v}
        for v in (
            "2026-11-02T10:00:00Z",
            "arn:aws:sts::123456789012:assumed-role/team-vision/pod",
            "AssumedRole",
            "GetObject",
            buckets[0],
            "teams/llm/datasets/a.parquet",
            "10.0.1.2",
            "aws-sdk",
            "",
        )
    ]
    athena_backends[ACCOUNT][REGION].query_results_queue.append(
        QueryResults(rows=[{"Data": header}, {"Data": row}], column_info=[])
    )
    clients = Clients()
    trail = boto3.client("cloudtrail", region_name=REGION)
    clients._cache[("cloudtrail", REGION)] = trail
    with Stubber(trail) as stub:
        for bucket in buckets:
            events = (
                [_cloudtrail_event(bucket, "PutBucketPolicy", "arn:aws:iam::123456789012:user/mallory")]
                if bucket == buckets[1]
                else []
            )
            stub.add_response(
                "lookup_events",
                {"Events": events},
                {
                    "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": bucket}],
                    "StartTime": ANY,
                    "EndTime": ANY,
                },
            )
        args = _args(
            "--prefix",
            "teams/llm/datasets/",
            "--since",
            "2026-11-01",
            "--run-athena",
            "--athena-output",
            "s3://results/q/",
            "--event-data-store",
            "eds-1",
            "--print-ddl",
            "--json",
            str(tmp_path / "w.json"),
        )
        assert ops_cli.run(args, clients) == 0
        stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert "LookupEvents does not return them" in out and "CREATE EXTERNAL TABLE" in out and "CloudTrail Lake query" in out
    assert "arn:aws:iam::123456789012:user/mallory  PutBucketPolicy" in out
    assert "assumed-role/team-vision/pod  GetObject" in out and "Not covered:" in out
    result = json.loads((tmp_path / "w.json").read_text())
    assert sorted(result["buckets"]) == sorted(buckets) and len(buckets) == 8  # 4 zones x primary + DR replica
    assert result["data_events"][0]["objectkey"] == "teams/llm/datasets/a.parquet"
    assert result["management_events"][0]["event"] == "PutBucketPolicy"
    athena = boto3.client("athena", region_name=REGION)
    execution = athena.get_query_execution(QueryExecutionId=result["query_execution_id"])["QueryExecution"]
    assert execution["Query"] == result["athena_query"]
    assert execution["ResultConfiguration"]["OutputLocation"].startswith("s3://results/q/")


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--prefix", "teams/ghost/", "--since", "7d"], "'ghost' is not a team"),
        (["--prefix", "teams/llm/", "--since", "yesterday"], "--since 'yesterday'"),
        (["--prefix", "teams/llm/", "--since", "7d", "--run-athena"], "--run-athena needs --athena-output"),
        (["--prefix", "teams/llm/", "--since", "7d", "--zone", "gold"], "--zone gold: not a lake zone"),
    ],
)
@mock_aws
def test_who_read_mistakes_are_one_line_errors(extra: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ops_cli.run(_args(*extra, "--no-lookup"), Clients()) == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_who_read_on_gcp_prints_the_query_of_the_locked_audit_bucket(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(
        [
            "ops",
            "audit",
            "who-read",
            "--stack",
            "gcp-prod",
            "--prefix",
            "teams/llm/",
            "--since",
            "2026-11-01",
            "--zone",
            "raw",
            "--json",
            str(tmp_path / "g.json"),
        ]
    )
    assert ops_cli.run(args, Clients()) == 0, capsys.readouterr().err
    out = json.loads((tmp_path / "g.json").read_text())
    assert out["buckets"] == ["acme-ml-prod-prod-raw"]
    assert 'protoPayload.resourceName:"projects/_/buckets/acme-ml-prod-prod-raw/objects/teams/llm/"' in out["filter"]
    assert '"storage.objects.get"' in out["filter"] and 'timestamp>="2026-11-01T00:00:00Z"' in out["filter"]
    # the bucket the sink fills, where the (dual-region) lake lives
    assert "--bucket=mlp-prod-audit --location=us --view=_AllLogs" in out["command"]
    assert "gcloud logging read" in capsys.readouterr().out


def test_who_read_on_gcp_without_audit_logs_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    args = cli.build_parser().parse_args(
        ["ops", "audit", "who-read", "--stack", "gcp-dev", "--prefix", "teams/research/", "--since", "7d"]
    )
    code = ops_cli.run(args, Clients())
    err = capsys.readouterr().err
    assert code == 1 and "audit logging off (audit.enabled)" in err and "Traceback" not in err, err
