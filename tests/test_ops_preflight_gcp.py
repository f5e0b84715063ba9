"""``python -m infra ops preflight`` on GCP, against recorded Google API responses.

The fixtures under ``tests/fixtures/gcp_preflight/`` hold one response per request, keyed
``METHOD URL`` (an error response carries ``__status__``). A request the fixture does not hold fails
the test: preflight must not call anything unplanned.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, cast

import pytest

from infra import config
from infra.ops import preflight, preflight_gcp
from tests.helpers import raw_config

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gcp_preflight"


class RecordedApi:
    """Answers each REST call from a fixture file; records what was asked."""

    def __init__(self, name: str) -> None:
        self.responses: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
        self.calls: list[tuple[str, dict[str, Any] | None]] = []

    def _answer(self, key: str, body: dict[str, Any] | None) -> dict[str, Any]:
        self.calls.append((key, body))
        assert key in self.responses, f"unrecorded request: {key}"
        data = dict(self.responses[key])
        status = data.pop("__status__", 200)
        if status >= 400:
            raise preflight_gcp.error_of(status, data)
        return data

    def get(self, url: str) -> dict[str, Any]:
        return self._answer(f"GET {url}", None)

    def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._answer(f"POST {url}", body)


@pytest.fixture(autouse=True)
def auth_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A ``gke-gcloud-auth-plugin`` on the PATH (the machine running the tests has none)."""
    plugin = tmp_path / "bin" / preflight_gcp.AUTH_PLUGIN
    plugin.parent.mkdir()
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    monkeypatch.setenv("PATH", str(plugin.parent))
    return plugin


def _cfg(stack: str) -> config.PlatformConfig:
    return config.parse(raw_config(stack))


def _by_check(findings: list[preflight.Finding]) -> dict[str, preflight.Finding]:
    by = {f.check: f for f in findings}
    assert len(by) == len(findings), "duplicate check ids"
    return by


def test_a_ready_project_has_no_missing_finding() -> None:
    api = RecordedApi("acme-ml-prod-ready")
    findings = preflight_gcp.run(_cfg("gcp-prod"), clients=api, backend_url="gs://acme-pulumi-state")
    assert [f for f in findings if not f.ok] == []
    by = _by_check(findings)
    assert {"apis.bootstrap", "apis", "billing", "permissions", "permissions.billing", "backend", "auth-plugin"} <= set(by)
    # the stack's GPU ceiling per quota metric: spot H100 on the preemptible quota, its on-demand twin on the standard one
    assert "quota.gcp.PREEMPTIBLE_NVIDIA_H100_GPUS" in by and "quota.gcp.NVIDIA_H100_GPUS" in by
    assert "the stack's pools can use 16" in by["quota.gcp.NVIDIA_H100_GPUS"].message
    assert "quota.gcp.GPUS_ALL_REGIONS" in by
    # the permission check asked for exactly what creating the stack takes
    (asked,) = [b for k, b in api.calls if k.endswith(":testIamPermissions") and "projects/" in k]
    assert asked is not None and set(asked["permissions"]) == set(preflight_gcp.required_permissions(_cfg("gcp-prod")))
    assert "container.clusters.create" in asked["permissions"] and "cloudsql.instances.create" in asked["permissions"]


def test_every_gap_of_a_new_project_is_one_missing_line() -> None:
    findings = preflight_gcp.run(_cfg("gcp-dev"), clients=RecordedApi("acme-ml-dev-gaps"), backend_url="gs://acme-dev-state")
    by = _by_check(findings)
    missing = {f.check for f in findings if not f.ok}
    assert missing == {
        "apis.bootstrap",  # cloudresourcemanager is off
        "billing",
        "quota.gcp.NVIDIA_A100_GPUS",  # spot with no preemptible quota draws on the standard one: 1 < 2
        "quota.gcp.GPUS_ALL_REGIONS",  # 0 in a new project
        "permissions",
        "backend",
    }
    assert "cloudresourcemanager.googleapis.com" in by["apis.bootstrap"].message
    assert "container.clusters.create" in by["permissions"].message and "iam.serviceAccounts.actAs" in by["permissions"].message
    assert "request 1 more" in by["quota.gcp.NVIDIA_A100_GPUS"].message
    assert by["quota.gcp.NVIDIA_L4_GPUS"].ok  # 2 spot L4s fit in the standard quota of 4
    assert "does not exist" in by["backend"].message
    # the APIs the stack enables itself are not a gap
    assert by["apis"].ok and "container.googleapis.com" in by["apis"].message


def test_a_disabled_service_usage_api_is_reported_not_raised() -> None:
    findings = preflight_gcp.run(_cfg("gcp-dev"), clients=RecordedApi("acme-ml-dev-serviceusage-disabled"))
    by = _by_check(findings)
    assert not by["apis.bootstrap"].ok and "gcloud services enable" in by["apis.bootstrap"].message
    assert by["backend"].ok  # no backend given: nothing to check


def test_gpu_demand_follows_gke_pool_sizing() -> None:
    demand = preflight_gcp.gpu_demand(_cfg("gcp-prod"))
    # train-h100: spot-with-fallback, 2 x a3-highgpu-8g each twin
    assert demand[("nvidia-h100-80gb", True)] == 16 and demand[("nvidia-h100-80gb", False)] == 16
    assert demand[("nvidia-l4", False)] == 8  # serve-l4: 8 x g2-standard-8 on demand
    for (accelerator, _), _gpus in demand.items():
        assert accelerator in preflight_gcp.GPU_QUOTA_METRIC, f"no quota metric for {accelerator}"


def test_the_cli_prints_one_line_per_finding_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    from infra.ops import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["preflight", "--stack", "gcp-dev", "--backend-url", "gs://acme-dev-state"])
    code = cli.run(args, clients=RecordedApi("acme-ml-dev-gaps"))
    out = capsys.readouterr().out
    assert code == 1
    assert sum(1 for line in out.splitlines() if line.strip().startswith("MISSING")) == 6
    assert "Traceback" not in out


def test_no_credentials_is_one_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    import google.auth.exceptions

    def no_credentials(*_: Any, **__: Any) -> Any:
        raise google.auth.exceptions.DefaultCredentialsError("no ADC")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    (finding,) = preflight_gcp.run(_cfg("gcp-dev"))
    assert finding.check == "credentials" and not finding.ok and "application-default login" in finding.message


def test_a_missing_auth_plugin_is_reported(auth_plugin: Path) -> None:
    auth_plugin.unlink()
    findings = preflight_gcp.run(
        _cfg("gcp-prod"), clients=RecordedApi("acme-ml-prod-ready"), backend_url="gs://acme-pulumi-state"
    )
    assert [f.check for f in findings if not f.ok] == ["auth-plugin"]


def test_the_authorized_client_turns_http_errors_into_api_errors() -> None:
    """The real client: a Google error body becomes a GcpApiError naming the ErrorInfo reason;
    a connection failure is one too (never a traceback on the command line)."""
    import requests

    class Response:
        def __init__(self, status: int, body: Any) -> None:
            self.status_code, self._body = status, body

        def json(self) -> Any:
            if self._body is None:
                raise ValueError("no JSON")
            return self._body

    answers: list[Any] = [
        Response(
            403,
            json.loads((FIXTURES / "acme-ml-dev-serviceusage-disabled.json").read_text())[
                "GET https://serviceusage.googleapis.com/v1/projects/acme-ml-dev/services?filter=state:ENABLED&pageSize=200"
            ],
        ),
        Response(200, {"permissions": ["a"]}),
        requests.ConnectionError("name resolution failed"),
        Response(502, None),
    ]

    class Session:
        def request(self, method: str, url: str, json: Any = None, timeout: int = 0) -> Any:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    api = preflight_gcp.AuthorizedApi.__new__(preflight_gcp.AuthorizedApi)
    cast(Any, api)._session = Session()  # a stand-in for google-auth's AuthorizedSession
    with pytest.raises(preflight_gcp.GcpApiError) as err:
        api.get("https://serviceusage.googleapis.com/v1/projects/p/services")
    assert err.value.status == 403 and err.value.reason == "SERVICE_DISABLED"
    assert api.post("https://x", {"permissions": ["a"]}) == {"permissions": ["a"]}
    with pytest.raises(preflight_gcp.GcpApiError) as err:
        api.get("https://x")
    assert err.value.status == 0 and err.value.reason == "UNREACHABLE"
    with pytest.raises(preflight_gcp.GcpApiError) as err:
        api.get("https://x")
    assert err.value.status == 502
