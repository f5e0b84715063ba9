"""Amazon Managed Service for Prometheus with its AWS managed collector for an EKS cluster.

- ``aws.amp.Workspace`` (encrypted with the platform key) and ``aws.amp.Scraper`` (agentless; ENIs in the
  cluster's private subnets with the cluster security group - AMP user guide, "Using an AWS managed
  collector": at least two subnets in two AZs, the cluster endpoint must allow private access).
- The scraper reads the cluster as the Kubernetes user ``aps-collector-user``: an EKS access entry for the
  scraper's role (``Scraper.role_arn``) and a ClusterRole / ClusterRoleBinding granting what the guide
  lists (get/list/watch on nodes, nodes/proxy, nodes/metrics, services, endpoints, pods, ingresses,
  configmaps; GET on /metrics, /metrics/cadvisor).
- Our rules go into a ``RuleGroupsNamespace`` (Prometheus rule-file YAML, the form AMP's ruler reads);
  alerts go through AMP's alert manager, whose only receiver type is SNS: one SNS topic per receiver of the
  routing tree with e-mail subscriptions, the topic policy letting ``aps.amazonaws.com`` publish.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from components.base import Component

COLLECTOR_USER = "aps-collector-user"
COLLECTOR_ROLE = "aps-collector-role"
SCRAPE_INTERVAL = "30s"


def scrape_configuration(*, dcgm_namespace: str | None, kueue_namespace: str | None) -> str:
    """The collector's Prometheus scrape config: kubelet / cAdvisor, and the DCGM exporter and Kueue pods."""
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "kubelet-cadvisor",
            "scheme": "https",
            "metrics_path": "/metrics/cadvisor",
            "authorization": {"credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
            "kubernetes_sd_configs": [{"role": "node"}],
            "tls_config": {"insecure_skip_verify": True},
        },
    ]
    if dcgm_namespace:
        jobs.append(
            {
                "job_name": "dcgm-exporter",
                "honor_labels": True,  # keep DCGM's namespace / pod (the pod holding the GPU): alerts route by it
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [dcgm_namespace]}}],
                "relabel_configs": [
                    {"source_labels": ["__meta_kubernetes_pod_label_app"], "regex": "nvidia-dcgm-exporter", "action": "keep"},
                    {"source_labels": ["__meta_kubernetes_pod_container_port_number"], "regex": "9400", "action": "keep"},
                ],
            }
        )
    if kueue_namespace:
        jobs.append(
            {
                "job_name": "kueue",
                "scheme": "https",
                "tls_config": {"insecure_skip_verify": True},
                "authorization": {"credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [kueue_namespace]}}],
                "relabel_configs": [
                    {"source_labels": ["__meta_kubernetes_pod_container_port_number"], "regex": "8443", "action": "keep"},
                ],
            }
        )
    return yaml.safe_dump({"global": {"scrape_interval": SCRAPE_INTERVAL}, "scrape_configs": jobs}, sort_keys=False)


def alertmanager_sns(config: Mapping[str, Any], topic_arns: Mapping[str, str], region: str) -> str:
    """The routing tree with each e-mail receiver replaced by its SNS topic (AMP supports ``sns_configs`` only)."""
    receivers = []
    for r in config["receivers"]:
        entry: dict[str, Any] = {"name": r["name"]}
        if r["name"] in topic_arns:
            entry["sns_configs"] = [{"topic_arn": topic_arns[r["name"]], "sigv4": {"region": region}, "send_resolved": True}]
        receivers.append(entry)
    doc = {
        "alertmanager_config": yaml.safe_dump(
            {"route": config["route"], "receivers": receivers, "inhibit_rules": config.get("inhibit_rules", [])}, sort_keys=False
        )
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class ManagedPrometheusArgs:
    """:param emails_by_receiver: receiver name -> e-mail addresses (an SNS topic each)."""

    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    security_group_id: pulumi.Input[str]
    rule_groups: Sequence[Mapping[str, Any]]
    alertmanager: Mapping[str, Any]
    emails_by_receiver: Mapping[str, Sequence[str]]
    region: str
    dcgm_namespace: str | None = "gpu-operator"
    kueue_namespace: str | None = "kueue-system"
    tags: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.region:
            raise ValueError("ManagedPrometheus: region is required (the SNS receivers sign with SigV4 in it)")
        receivers = {r.get("name") for r in self.alertmanager.get("receivers", [])}
        unknown = sorted(set(self.emails_by_receiver) - receivers)
        if unknown:
            raise ValueError(
                f"ManagedPrometheus: emails_by_receiver names {unknown}, not receivers of the routing tree {sorted(r for r in receivers if r)}"
            )
        empty = sorted(r for r, emails in self.emails_by_receiver.items() if not emails)
        if empty:
            raise ValueError(f"ManagedPrometheus: receivers {empty} have no e-mail address")


class ManagedPrometheus(Component):
    """An AMP workspace, its managed collector (with the cluster RBAC and access entry it scrapes
    through), the alert rules and an Alertmanager routing to SNS e-mail topics.

    Providers through ``opts``: ``providers={"aws": ..., "kubernetes": ...}``. Output: ``workspace_arn``.
    """

    workspace_arn: pulumi.Output[str]

    def __init__(self, resource_name: str, args: ManagedPrometheusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:ManagedPrometheus", resource_name, opts)
        name = resource_name
        child = self.child_opts()
        tags = dict(args.tags or {})
        # AWS-owned encryption: a customer key would need grants for aps.amazonaws.com in the key policy
        self.workspace = aws.amp.Workspace(
            f"{name}-workspace", alias=pulumi.Output.concat(args.cluster_name, "-metrics"), tags=tags, opts=child
        )
        self.scraper = aws.amp.Scraper(
            f"{name}-scraper",
            alias=pulumi.Output.concat(args.cluster_name, "-collector"),
            source={
                "eks": {
                    "cluster_arn": args.cluster_arn,
                    "subnet_ids": args.subnet_ids,
                    "security_group_ids": [args.security_group_id],
                }
            },
            destination={"amp": {"workspace_arn": self.workspace.arn}},
            scrape_configuration=scrape_configuration(dcgm_namespace=args.dcgm_namespace, kueue_namespace=args.kueue_namespace),
            tags=tags,
            opts=child,
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-collector-role",
            metadata={"name": COLLECTOR_ROLE},
            rules=[
                {
                    "apiGroups": [""],
                    "resources": ["nodes", "nodes/proxy", "nodes/metrics", "services", "endpoints", "pods", "configmaps"],
                    "verbs": ["get", "list", "watch"],
                },
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
                {"nonResourceURLs": ["/metrics", "/metrics/cadvisor"], "verbs": ["get"]},
            ],
            opts=child,
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-collector-binding",
            metadata={"name": COLLECTOR_ROLE},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": COLLECTOR_ROLE},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": COLLECTOR_USER}],
            opts=self.child_opts(depends_on=[role]),
        )
        aws.eks.AccessEntry(
            f"{name}-collector-access",
            cluster_name=args.cluster_name,
            principal_arn=self.scraper.role_arn,
            user_name=COLLECTOR_USER,
            type="STANDARD",
            opts=self.child_opts(depends_on=[binding]),
        )
        if args.rule_groups:
            aws.amp.RuleGroupNamespace(
                f"{name}-rules",
                name="ml-platform",
                workspace_id=self.workspace.id,
                data=yaml.safe_dump({"groups": [dict(g) for g in args.rule_groups]}, sort_keys=False),
                opts=child,
            )
        topics: dict[str, pulumi.Output[str]] = {}
        for receiver, emails in sorted(args.emails_by_receiver.items()):
            # unencrypted (alert text only): the AWS-managed SNS key cannot be granted to aps.amazonaws.com
            topic = aws.sns.Topic(f"{name}-{receiver}", tags=tags, opts=child)
            aws.sns.TopicPolicy(
                f"{name}-{receiver}-policy",
                arn=topic.arn,
                policy=pulumi.Output.all(topic.arn, self.workspace.arn).apply(
                    lambda a: json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Sid": "AmpPublish",
                                    "Effect": "Allow",
                                    "Principal": {"Service": "aps.amazonaws.com"},
                                    "Action": ["sns:Publish", "sns:GetTopicAttributes"],
                                    "Resource": a[0],
                                    "Condition": {"ArnEquals": {"aws:SourceArn": a[1]}},
                                }
                            ],
                        }
                    )
                ),
                opts=child,
            )
            for i, email in enumerate(emails):
                aws.sns.TopicSubscription(f"{name}-{receiver}-{i}", topic=topic.arn, protocol="email", endpoint=email, opts=child)
            topics[receiver] = topic.arn
        names = sorted(topics)
        aws.amp.AlertManagerDefinition(
            f"{name}-alertmanager",
            workspace_id=self.workspace.id,
            definition=pulumi.Output.all(*[topics[n] for n in names]).apply(
                lambda arns: alertmanager_sns(args.alertmanager, dict(zip(names, arns, strict=True)), args.region)
            ),
            opts=child,
        )
        self.publish(workspace_arn=self.workspace.arn)
