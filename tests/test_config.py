"""Each class of stack-config mistake is rejected with the key path, the bad value and what is allowed."""

from __future__ import annotations

import pytest

from infra import config
from tests.helpers import raw_config


def problems(raw: dict) -> list[tuple[str, str]]:
    with pytest.raises(config.ConfigError) as exc:
        config.parse(raw)
    return exc.value.problems


def only(raw: dict) -> tuple[str, str]:
    found = problems(raw)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "gcp-dev", "onprem"])
def test_shipped_stacks_are_valid(stack: str) -> None:
    cfg = config.parse(raw_config(stack, keep_fleet=True))
    assert cfg.environment in ("dev", "staging", "prod")


def test_unknown_top_level_key_is_a_typo() -> None:
    raw = raw_config("dev")
    raw["gpuPool"] = []
    path, reason = only(raw)
    assert path == "ml-platform:gpuPool"
    assert "unknown key" in reason and "gpuPools" in reason


def test_unknown_nested_key_names_the_full_path() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][1]["maxNode"] = 3
    path, reason = only(raw)
    assert path == "ml-platform:gpuPools[1].maxNode"
    assert "maxNodes" in reason


def test_bad_enum_value_lists_allowed_values() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][0]["capacity"] = "cheap"
    path, reason = only(raw)
    assert path == "ml-platform:gpuPools[0].capacity"
    assert "'cheap'" in reason and "spot-with-fallback" in reason


def test_mig_profile_the_gpu_lacks() -> None:
    raw = raw_config("staging")
    raw["gpuPools"][0]["migProfile"] = "1g.10gb.me"
    found = dict(problems(raw))
    reason = found["ml-platform:gpuPools[0].migProfile"]
    assert "A100-40GB" in reason and "3g.20gb" in reason


def test_mig_on_a_gpu_without_mig() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][0]["migProfile"] = "1g.5gb"
    path, reason = only(raw)
    assert path == "ml-platform:gpuPools[0].migProfile"
    assert "L4 has no MIG" in reason


def test_spot_serving_pool_in_prod() -> None:
    raw = raw_config("prod")
    raw["gpuPools"][2]["capacity"] = "spot"
    path, reason = only(raw)
    assert path == "ml-platform:gpuPools[2].capacity"
    assert "serving" in reason and "on-demand" in reason


def test_spot_serving_pool_allowed_outside_prod() -> None:
    raw = raw_config("staging")
    raw["gpuPools"][1]["capacity"] = "spot"
    config.parse(raw)


def test_time_slicing_replicas_below_one() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][1]["timeSlicingReplicas"] = 0
    path, reason = only(raw)
    assert path == "ml-platform:gpuPools[1].timeSlicingReplicas"
    assert "greater than or equal to 1" in reason and "0" in reason


def test_team_gpu_quotas_above_ceiling() -> None:
    raw = raw_config("dev")
    raw["teams"][0]["quotas"]["gpu"] = 40
    path, reason = only(raw)
    assert path == "ml-platform:teams[*].quotas.gpu"
    assert "42" in reason and "ceiling 6" in reason


def test_overcommit_ratio_admits_more_quota() -> None:
    raw = raw_config("dev")
    raw["teams"][0]["quotas"]["gpu"] = 8  # 10 of 6 GPUs
    problems(raw)
    raw["gpuOvercommit"] = 2.0
    config.parse(raw)


def test_dr_region_equal_to_region() -> None:
    raw = raw_config("prod")
    raw["dr"]["region"] = "us-east-1"
    path, reason = only(raw)
    assert path == "ml-platform:dr.region"
    assert "us-east-1" in reason and "differ" in reason


def test_negative_lifecycle_days() -> None:
    raw = raw_config("prod")
    raw["dataLake"]["lifecycle"] = {"noncurrentExpiryDays": -5}
    path, reason = only(raw)
    assert path == "ml-platform:dataLake.lifecycle.noncurrentExpiryDays"
    assert "-5" in reason


def test_duplicate_team_names() -> None:
    raw = raw_config("prod")
    raw["teams"][1]["name"] = "llm"
    path, reason = only(raw)
    assert path == "ml-platform:teams[1].name"
    assert "duplicate" in reason


def test_team_name_not_a_dns_label() -> None:
    raw = raw_config("prod")
    raw["teams"][0]["name"] = "LLM_Team"
    path, reason = only(raw)
    assert path == "ml-platform:teams[0].name"
    assert "LLM_Team" in reason


def test_unknown_instance_type() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][1]["instanceTypes"] = ["g5.xlarge", "g9.huge"]
    path, reason = only(raw)
    assert path == "ml-platform:gpuPools[1].instanceTypes[1]"
    assert "g9.huge" in reason and "g5.xlarge" in reason


def test_unknown_gpu_model() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][0]["gpu"] = "B300"
    path, reason = only(raw)
    assert path == "ml-platform:gpuPools[0].gpu" and "H100-80GB" in reason and "B200" in reason


def test_wrong_type_names_value() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][0]["maxNodes"] = "many"
    path, reason = only(raw)
    assert path == "ml-platform:gpuPools[0].maxNodes" and "'many'" in reason


def test_missing_required_key() -> None:
    raw = raw_config("dev")
    del raw["environment"]
    path, reason = only(raw)
    assert path == "ml-platform:environment" and "missing" in reason


def test_open_public_endpoint_rejected() -> None:
    raw = raw_config("prod")
    raw["cluster"]["publicAccessCidrs"] = ["0.0.0.0/0"]
    path, reason = only(raw)
    assert path == "ml-platform:cluster.publicAccessCidrs" and "0.0.0.0/0" in reason


def test_min_above_max_nodes() -> None:
    raw = raw_config("dev")
    raw["gpuPools"][0]["minNodes"] = 9
    path, _ = only(raw)
    assert path == "ml-platform:gpuPools[0].minNodes"


def test_managed_mode_only_on_aws() -> None:
    raw = raw_config("gcp-dev")
    raw["gpuPools"][0]["mode"] = "managed"
    path, _ = only(raw)
    assert path == "ml-platform:gpuPools[0].mode"


def test_team_mig_quota_needs_a_pool_with_that_profile() -> None:
    raw = raw_config("prod")
    raw["teams"][1]["quotas"]["mig"] = {"3g.40gb": 2}
    path, reason = only(raw)
    assert path == "ml-platform:teams[1].quotas.mig.3g.40gb" and "1g.5gb" in reason


def test_several_mistakes_are_all_reported() -> None:
    raw = raw_config("prod")
    raw["dr"]["region"] = "us-east-1"
    raw["gpuPools"][2]["capacity"] = "spot"
    paths = {p for p, _ in problems(raw)}
    assert {"ml-platform:dr.region", "ml-platform:gpuPools[2].capacity"} <= paths


def test_secure_values_are_placeholders(tmp_path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(
        "config:\n  ml-platform:cloud: existing\n  ml-platform:environment: dev\n"
        "  ml-platform:cluster:\n    kubeconfig:\n      secure: v1:abcdef\n"
        "  ml-platform:mlflow:\n    enabled: false\n  ml-platform:feast:\n    enabled: false\n"
    )
    raw, secret = config.read_stack_file(path)
    assert secret == ["cluster"]
    cfg = config.parse(raw)
    assert cfg.model_dump(mode="json", by_alias=True)["cluster"]["kubeconfig"] == "[secret]"


def test_one_line_per_mistake_onprem_without_its_database_secret_and_redis(write_stack) -> None:
    """README: one line per mistake. Two mistakes (no MLflow database Secret, no Redis endpoint on cloud
    existing) were reported as four lines (two checks said the same thing)."""
    from tests.helpers import run_cli

    raw = raw_config("onprem")
    raw["mlflow"].pop("existingDatabaseSecret")
    raw["feast"]["onlineStore"].pop("existingEndpoint")
    assert [p for p, _ in problems(raw)] == [
        "ml-platform:mlflow.existingDatabaseSecret",
        "ml-platform:feast.onlineStore.existingEndpoint",
    ]
    path = write_stack("onprem", "twomistakes", mlflow=raw["mlflow"], feast=raw["feast"])
    result = run_cli("plan", "--stack", "twomistakes", "--stacks-dir", str(path.parent))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "invalid stack config for 'twomistakes':" and "Traceback" not in result.stderr
    assert [line.split(": ", 1)[0].strip() for line in lines[1:]] == [
        "ml-platform:mlflow.existingDatabaseSecret",
        "ml-platform:feast.onlineStore.existingEndpoint",
    ], lines


def test_stacks_dir_is_read_from_the_package_at_call_time(tmp_path, monkeypatch) -> None:
    """The plan engine and tests point ``infra.config.STACKS_DIR`` elsewhere; every loader follows it."""
    import yaml

    from infra.config import load
    from tests.helpers import stack_doc

    (tmp_path / "Pulumi.elsewhere.yaml").write_text(yaml.safe_dump(stack_doc("onprem")))
    with pytest.raises(config.ConfigError, match="no such stack file"):
        config.load_stack("elsewhere")
    monkeypatch.setattr(config, "STACKS_DIR", tmp_path)
    assert config.stack_file("elsewhere") == tmp_path / "Pulumi.elsewhere.yaml"
    assert load.stack_file("elsewhere") == tmp_path / "Pulumi.elsewhere.yaml"
    assert config.load_stack("elsewhere").cloud == "existing"
    assert config.load_fleet_stack("elsewhere").cloud == "existing"


def test_mask_secure_values_hides_every_secure_value_and_says_so() -> None:
    value = {"a": {"secure": "v1:x"}, "b": [1, {"secure": "v1:y"}], "c": "plain"}
    assert config.mask_secure_values(value) == ({"a": "[secret]", "b": [1, "[secret]"], "c": "plain"}, True)
    assert config.mask_secure_values({"c": ["plain"]}) == ({"c": ["plain"]}, False)


def test_one_iam_arn_form_for_admins_team_roles_and_access_entries() -> None:
    """One IAM principal ARN pattern (catalog.clouds) serves cluster.adminRoleArns, the teams' role lists and the
    EKS access-entry component: what the config accepts the component accepts."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    restated = [
        str(path.relative_to(root))
        for package in ("infra", "components", "policies", "catalog")
        for path in sorted((root / package).rglob("*.py"))
        if re.search(r"iam::\[0-9\]\{12\}", path.read_text())
    ]
    assert restated == ["catalog/clouds.py"]
    bad = "arn:aws:iam::12345:role/short-account"
    raw = raw_config("dev")
    raw["cluster"]["adminRoleArns"] = [bad]
    raw["teams"][0]["ownerRoleArns"] = [bad]
    assert {p for p, _ in problems(raw)} == {"ml-platform:cluster.adminRoleArns", "ml-platform:teams[0].ownerRoleArns"}
