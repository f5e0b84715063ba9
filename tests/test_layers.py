"""README's layer rules hold for every import in the source, and the checker catches a breach."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.layers import cycles, violations

ROOT = Path(__file__).resolve().parent.parent
PLAN_COST_POLICY = ("infra.plan", "infra.cost", "infra.policy_hook", "infra.check")
EVERYTHING = ("infra", "components", "policies", "catalog")


def test_dependencies_point_one_way() -> None:
    assert violations(ROOT) == []


def test_plan_cost_and_policy_form_no_import_cycle() -> None:
    """Issue 14: the engine, the estimate and the policy evaluation used to import each other (lazily)."""
    assert cycles(ROOT, PLAN_COST_POLICY) == []


def test_no_first_party_import_cycle_at_all() -> None:
    assert cycles(ROOT, EVERYTHING) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name in (
        "infra",
        "infra/config",
        "infra/layers",
        "components",
        "components/k8s",
        "components/aws",
        "policies",
        "catalog",
    ):
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / name / "__init__.py").write_text("")
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_a_breach_of_each_rule_is_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "components/k8s/team.py": "def f():\n    from ..aws import eks\n",  # lazy and relative
            "components/aws/eks.py": "import infra.config\n",
            "policies/rule.py": "from components.k8s import team\n",
            "catalog/facts.py": "import pulumi\n",
            "infra/ok.py": "from components.aws import eks\nfrom catalog import facts\n",
            "infra/config/checks.py": "def f():\n    from components.aws import fsx\n",  # lazy
            "infra/layers/aws_gpu.py": "from infra.layers.k8s_gpu import pool_node_labels\n",
            "infra/layers/gcp_gpu.py": "from infra.layers import k8s_monitoring\n",
            "infra/layers/existing.py": "from infra.layers.context import CloudLayer\nfrom infra.layers.k8s import build\n",
            "infra/layers/k8s_gpu.py": "from infra.layers.context import CloudLayer\nfrom infra.layers.alerting import routing_args\n",
        },
    )
    found = violations(root)
    assert [f.split(":")[0] for f in found] == [
        "catalog/facts.py",
        "components/aws/eks.py",
        "components/k8s/team.py",
        "infra/config/checks.py",
        "infra/layers/aws_gpu.py",
        "infra/layers/existing.py",
        "infra/layers/gcp_gpu.py",
        "policies/rule.py",
    ]
    assert any("components.aws" in f and "k8s" in f for f in found)


def test_a_cycle_is_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"infra/a.py": "from infra import b\n", "infra/b.py": "def f():\n    from infra.a import x\n"})
    assert cycles(root, ("infra",)) == [["infra.a", "infra.b", "infra.a"]]


def test_no_test_imports_conftest() -> None:
    """pytest loads conftest itself; importing it again loads a second copy with a second plan cache."""
    import re

    here = Path(__file__).resolve().parent
    offenders = [
        p.name
        for p in sorted(here.rglob("*.py"))
        if re.search(
            r"^\s*(from\s+tests\.conftest\s+import|import\s+tests\.conftest|from\s+tests\s+import\s+conftest)",
            p.read_text(),
            re.M,
        )
    ]
    assert not offenders, f"import from tests.helpers instead: {offenders}"


def test_nothing_outside_the_config_package_calls_its_private_helpers() -> None:
    """``infra/ops`` and the rest use the config package's public names (re-exported by ``infra/config/__init__``)."""
    import ast

    offenders = []
    for path in sorted([*(ROOT / "infra").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        if (ROOT / "infra" / "config") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {
            a.asname or a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module == "infra"
            for a in n.names
            if a.name == "config"
        }
        offenders += [
            f"{path.relative_to(ROOT)}:{n.lineno}: {n.value.id}.{n.attr}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases and n.attr.startswith("_")
        ]
        offenders += [
            f"{path.relative_to(ROOT)}:{n.lineno}: from {n.module} import {a.name}"
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("infra.config")
            for a in n.names
            if a.name.startswith("_")
        ]
    assert not offenders, offenders


def _cloud_comparisons(path: Path) -> list[str]:
    """``line: source`` of every comparison that reads a ``.cloud`` attribute (``cfg.cloud == "aws"``)."""
    text = path.read_text(encoding="utf-8")
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Compare) and any(
            isinstance(side, ast.Attribute) and side.attr == "cloud" for side in (node.left, *node.comparators)
        ):
            out.append(f"{path.name}:{node.lineno}: {ast.get_source_segment(text, node)}")
    return out


def test_the_kubernetes_layer_does_not_branch_on_the_cloud() -> None:
    """The Kubernetes layer is the same on every cloud: cloud differences arrive as facts of the CloudLayer."""
    files = sorted((ROOT / "infra" / "layers").glob("k8s*.py"))
    assert len(files) >= 7
    assert [hit for f in files for hit in _cloud_comparisons(f)] == []


def test_a_branch_on_the_cloud_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "k8s_x.py"
    bad.write_text('def f(cfg, cloud):\n    return cloud.cloud != "aws" or "gcp" == cfg.cloud\n')
    assert [h.split(":")[1] for h in _cloud_comparisons(bad)] == ["2", "2"]


def test_a_longer_cycle_is_reported_once_and_a_chain_into_it_is_not(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "infra/a.py": "from infra import b\n",
            "infra/b.py": "from infra import c\n",
            "infra/c.py": "from infra import a\n",
            "infra/d.py": "from infra import a\n",
        },
    )
    assert cycles(root, ("infra",)) == [["infra.a", "infra.b", "infra.c", "infra.a"]]
