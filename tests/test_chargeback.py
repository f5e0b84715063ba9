"""Chargeback report: totals equal the source's, fractions of GPUs are billed as fractions."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.moto_api._internal import moto_api_backend

from infra import chargeback, cli, config
from tests.helpers import run_cli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "chargeback"
ALLOC = json.loads((FIXTURES / "prod" / "allocation.json").read_text())
ASSETS = json.loads((FIXTURES / "prod" / "assets.json").read_text())
OPENCOST_TOTAL = sum(a["totalCost"] for s in ALLOC["data"] for a in s.values())


def _report(bill: float | None = None) -> chargeback.Report:
    return chargeback.build(
        config.load_stack("prod"), stack="prod", month="2026-11", allocations=ALLOC, assets=ASSETS, bill_total=bill
    )


def _team(report: chargeback.Report, name: str) -> chargeback.TeamLine:
    return next(t for t in report.teams if t.team == name)


def test_totals_equal_opencosts_total_and_every_team_is_listed() -> None:
    report = _report()
    assert report.total_usd == pytest.approx(OPENCOST_TOTAL, abs=0.005) == report.source_total_usd
    assert sum(t.spend_usd for t in report.teams) == pytest.approx(OPENCOST_TOTAL, abs=0.005)
    assert {t.team for t in report.teams} == {t.name for t in config.load_stack("prod").teams} | {chargeback.UNALLOCATED}


def test_a_mig_slice_is_not_billed_as_a_whole_gpu() -> None:
    report = _report()
    vision = _team(report, "vision")
    # one 1g.5gb slice (7 per A100-40GB) for 720 h = 720/7 GPU-hours, at the node's $3.00 per GPU-hour
    assert vision.gpu_hours == {"A100-40GB": pytest.approx(720 / 7, abs=1e-3)}
    assert vision.spend_usd == pytest.approx(40 + 20 + 720 / 7 * 3.0, abs=0.01)
    whole_gpu = 40 + 20 + 720 * 3.0
    assert vision.spend_usd < whole_gpu / 5
    # what the slice does not use of the GPU stays unallocated: nothing is lost from the total
    assert _team(report, chargeback.UNALLOCATED).spend_usd == pytest.approx(200 + 720 * 3.0 - 720 / 7 * 3.0, abs=0.01)
    assert vision.idle_gpu_hours == pytest.approx(720 / 7, abs=1e-3), "12% used: allocated but idle"


def test_time_sliced_replicas_count_as_shares_and_whole_gpus_as_whole() -> None:
    report = _report()
    recsys = _team(report, "recsys")
    assert recsys.gpu_hours == {"A10G": pytest.approx(2 * 100 / 4)}
    assert recsys.idle_gpu_hours == pytest.approx(100 / 4), "notebook-b used 10% of its share"
    llm = _team(report, "llm")
    assert llm.gpu_hours == {"H100-80GB": 5760.0} and llm.idle_gpu_hours == 0
    assert llm.variance_usd == pytest.approx(120000 - llm.spend_usd)


def test_cost_explorer_bill_scales_the_split_and_totals_match(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        # moto's Cost Explorer answers GetCostAndUsage from a queue of results (its documented test API)
        moto_api_backend.set_ce_cost_usage(
            {
                "ResultsByTime": [
                    {
                        "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
                        "Total": {"UnblendedCost": {"Amount": "45000.00", "Unit": "USD"}},
                        "Groups": [],
                        "Estimated": False,
                    }
                ]
            },
            account_id="123456789012",
        )
        ce = boto3.client("ce", region_name="us-east-1")
        assert (
            chargeback.cost_explorer_total(
                ce, environment="prod", start=chargeback.month_window("2026-11")[0], end=chargeback.month_window("2026-11")[1]
            )
            == 45000.0
        )
        rc = cli.main(
            [
                "report",
                "chargeback",
                "--stack",
                "prod",
                "--month",
                "2026-11",
                "--opencost-recorded",
                str(FIXTURES / "prod"),
                "--bill",
                "aws",
                "--json",
            ]
        )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "cost-explorer" and out["source_total_usd"] == 45000.0
    assert sum(t["spend_usd"] for t in out["teams"]) == pytest.approx(45000.0, abs=0.005) == out["total_usd"]
    assert sum(cc["spend_usd"] for cc in out["cost_centers"].values()) == pytest.approx(45000.0, abs=0.05)
    llm = next(t for t in out["teams"] if t["team"] == "llm")
    assert llm["spend_usd"] == pytest.approx((34560 + 900 + 450) * 45000 / OPENCOST_TOTAL, abs=0.01)


def test_an_empty_cost_explorer_answer_is_an_error_not_zero_spend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ce = boto3.client("ce", region_name="us-east-1")
        start, end = chargeback.month_window("2026-10")
        with pytest.raises(chargeback.ChargebackError, match="no cost data"):
            chargeback.cost_explorer_total(ce, environment="prod", start=start, end=end)


def test_bigquery_recorded_bill_totals_match() -> None:
    answer = json.loads((FIXTURES / "bigquery-total.json").read_text())
    bill = chargeback.bigquery_total(answer["rows"])
    report = _report(bill)
    assert report.total_usd == pytest.approx(41234.56, abs=0.005) == report.source_total_usd
    sql = chargeback.bigquery_sql(
        "proj.billing.gcp_billing_export_resource_v1_X",
        cluster="mlp-prod",
        start=chargeback.month_window("2026-11")[0],
        end=chargeback.month_window("2026-11")[1],
    )
    assert "goog-k8s-cluster-name" in sql and "'mlp-prod'" in sql and "2026-12-01" in sql
    with pytest.raises(ValueError, match="table id"):
        chargeback.bigquery_sql(
            "x`; DROP", cluster="c", start=chargeback.month_window("2026-11")[0], end=chargeback.month_window("2026-11")[1]
        )


def test_csv_and_markdown_carry_the_same_totals() -> None:
    report = _report()
    rows = list(csv.DictReader(io.StringIO(chargeback.to_csv(report))))
    assert sum(float(r["spend_usd"]) for r in rows if r["spend_usd"]) == pytest.approx(report.total_usd, abs=0.01)
    md = chargeback.to_markdown(report)
    pie = re.search(r"```mermaid\npie showData title [^\n]+\n(.*?)```", md, re.S)
    assert pie, md
    values = [float(v) for v in re.findall(r'" : ([0-9.]+)', pie.group(1))]
    assert sum(values) == pytest.approx(report.total_usd, abs=0.05)
    assert "| vision | CC-3002 | A100-40GB: 102.857 |" in md


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--month", "2026-13", "--opencost-recorded", "x"], "not YYYY-MM"),
        (["--month", "2026-11"], "exactly one of --opencost-url or --opencost-recorded"),
        (["--month", "2026-11", "--opencost-recorded", "x", "--bill", "gcp"], "does not match the stack's cloud"),
    ],
)
def test_bad_report_arguments_exit_2(args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "chargeback", "--stack", "prod", *args]) == 2
    assert words in capsys.readouterr().err


def test_a_broken_source_is_one_line_exit_1(tmp_path: Path) -> None:
    (tmp_path / "allocation.json").write_text(json.dumps({"code": 500, "message": "boom"}))
    (tmp_path / "assets.json").write_text(json.dumps(ASSETS))
    result = run_cli("report", "chargeback", "--stack", "prod", "--month", "2026-11", "--opencost-recorded", str(tmp_path))
    assert result.returncode == 1 and "unexpected answer" in result.stderr and "Traceback" not in result.stderr
