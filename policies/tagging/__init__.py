"""The ``mlp-tagging`` policy pack: cost-allocation tags on AWS, labels on GCP and team namespaces.

One rule per module (``POLICY``); :data:`POLICIES` is the rule list shared by ``__main__.py`` (the
real pack) and the offline plan (``infra/policy_hook.py``).
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel

from policies.tagging import aws_required_tags, gcp_required_labels, node_class_tags, team_namespace_labels

NAME = "mlp-tagging"
DESCRIPTION = (
    "ml-platform tagging: required tags on AWS resources and Karpenter nodes, labels on GCP resources and team namespaces."
)
ENFORCEMENT = EnforcementLevel.MANDATORY
POLICIES = [m.POLICY for m in (aws_required_tags, gcp_required_labels, team_namespace_labels, node_class_tags)]
