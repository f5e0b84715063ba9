"""KServe v0.20.0 in Standard (raw Deployment) mode, from its official OCI charts, with cert-manager.

Five pinned Helm releases, each waiting for the one before:

1. ``cert-manager`` (jetstack, v1.17.0 with ``crds.enabled``): KServe's chart renders a cert-manager
   ``Issuer`` / ``Certificate`` for its webhook (``kserve.certManager.enabled`` defaults to
   ``createSharedResources``: true). The version and flag are the ones KServe v0.20.0's own
   Standard-mode installer uses (``hack/setup/quick-install/kserve-standard-mode-full-install-helm.sh``).
2. ``keda`` (kedacore, 2.18.0, KServe v0.20.0's pin): the serving template scales on GPU utilisation (DCGM, in the
   in-cluster Prometheus) and CPU through a KEDA ScaledObject KServe makes (``autoscalerClass: keda``); a plain HPA
   only knows CPU and memory, and KEDA queries Prometheus itself (no metrics adapter to configure).
3. ``kserve-crd`` (``oci://ghcr.io/kserve/charts/kserve-crd``): the InferenceService CRDs (the pinned
   copy in the upstream data is what the tests validate templates against).
4. ``kserve-resources`` (``oci://ghcr.io/kserve/charts/kserve-resources``; v0.20.0 has no chart named
   ``kserve``): the controller, with ``kserve.controller.deploymentMode: Standard``. In v0.20.0
   ``RawDeployment`` is the deprecated name of ``Standard`` (``pkg/constants/constants.go``,
   ``ParseDeploymentMode``): a Deployment, a Service and a HorizontalPodAutoscaler per model, no
   Knative. The chart's default is ``Knative``.
5. ``kserve-runtime-configs`` with ``kserve.servingruntime.enabled``: the ClusterServingRuntimes
   (MLServer serves the ``mlflow`` model format); their admission goes through the controller's
   webhook, so it waits for (4).

Webhooks the API server must reach: ``kserve-webhook-server-service`` -> controller pod port 9443,
``cert-manager-webhook`` -> pod port 10250, KEDA's admission webhook -> 9443 and its external-metrics APIService ->
6443 (on GKE private clusters the control plane reaches node ports 443 / 10250 by default; 9443 needs the firewall
rule Kueue's webhook already needs, 6443 one more).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from catalog import conventions as cv
from components.base import Component
from components.k8s.helm import pinned_release

VERSION = "v0.20.0"
OCI = "oci://ghcr.io/kserve/charts"
NAMESPACE = cv.NS_KSERVE
DEPLOYMENT_MODE = "Standard"
"""``kserve.controller.deploymentMode`` and the ``serving.kserve.io/deploymentMode`` annotation."""
WEBHOOK_PORT = 9443
CERT_MANAGER_CHART = "cert-manager"
CERT_MANAGER_REPO = "https://charts.jetstack.io"
CERT_MANAGER_VERSION = "v1.17.0"
CERT_MANAGER_NAMESPACE = cv.NS_CERT_MANAGER
CERT_MANAGER_WEBHOOK_PORT = 10250
KEDA_CHART = "keda"
KEDA_REPO = "https://kedacore.github.io/charts"
KEDA_VERSION = "2.18.0"
"""kedacore/keda, the version KServe v0.20.0's own installers pin (``hack/setup/quick-install/*.sh``: ``KEDA_VERSION=2.18.0``)."""
KEDA_NAMESPACE = "keda"
KEDA_METRICS_API_PORT = 6443
"""Pod port of KEDA's metrics API server behind the ``v1beta1.external.metrics.k8s.io`` APIService (the HPA the
ScaledObject makes reads it through the API server); its admission webhook serves on 9443."""
KEDA_WEBHOOK_PORT = 9443
CONTROL_PLANE_PORTS = (WEBHOOK_PORT, KEDA_WEBHOOK_PORT, KEDA_METRICS_API_PORT)
"""Pod ports the API server itself calls once KServe is installed (KServe's and KEDA's webhooks, KEDA's metrics
API); cert-manager's webhook serves on 10250, which a private GKE control plane already reaches."""
AUTOSCALER_CLASS = "keda"
"""``serving.kserve.io/autoscalerClass`` of the serving template: KServe's KEDA reconciler
(``pkg/controller/v1beta1/inferenceservice/reconcilers/keda``) turns ``spec.predictor.autoScaling.metrics`` into a
KEDA ScaledObject: a ``Resource`` metric into a cpu / memory trigger, an ``External`` one with backend
``prometheus`` into a Prometheus trigger (``serverAddress``, ``query``, ``threshold`` = ``target.value``)."""


def serving_service_account(team: str) -> str:
    """The service account InferenceServices of a team run as: its identity reads the MLflow registry's artifacts."""
    return f"{team}-serving"


def releases() -> list[tuple[str, str, str | None, str, str, dict[str, Any]]]:
    """(release, chart, repo, version, namespace, values) in install order."""
    return [
        (
            CERT_MANAGER_CHART,
            CERT_MANAGER_CHART,
            CERT_MANAGER_REPO,
            CERT_MANAGER_VERSION,
            CERT_MANAGER_NAMESPACE,
            {"crds": {"enabled": True}},
        ),
        # KEDA before the controller: an InferenceService of autoscalerClass keda makes a ScaledObject (KEDA's CRD)
        (KEDA_CHART, KEDA_CHART, KEDA_REPO, KEDA_VERSION, KEDA_NAMESPACE, {}),
        ("kserve-crd", f"{OCI}/kserve-crd", None, VERSION, NAMESPACE, {}),
        (
            "kserve-resources",
            f"{OCI}/kserve-resources",
            None,
            VERSION,
            NAMESPACE,
            {"kserve": {"controller": {"deploymentMode": DEPLOYMENT_MODE}}},
        ),
        (
            "kserve-runtime-configs",
            f"{OCI}/kserve-runtime-configs",
            None,
            VERSION,
            NAMESPACE,
            {"kserve": {"servingruntime": {"enabled": True}}},
        ),
    ]


@dataclass(frozen=True)
class KServeArgs:
    """Arguments of :class:`KServe`.

    :param team_namespaces: team -> its namespace (an ``Output`` makes the account wait for it).
    :param identities: team -> annotations binding ``<team>-serving`` to its cloud identity (IRSA / GKE WI).
    :param labels: extra labels on the namespaces and service accounts.
    """

    team_namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    identities: Mapping[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.identities) - set(self.team_namespaces))
        if unknown:
            raise ValueError(f"KServe: identities name teams without a namespace: {unknown}")


class KServe(Component):
    """cert-manager and KServe (CRDs, controller in Standard mode, serving runtimes), installed in order, and a
    ``<team>-serving`` service account in each team namespace; the Kubernetes provider comes through ``opts``.
    """

    releases: dict[str, k8s.helm.v3.Release]
    service_accounts: dict[str, k8s.core.v1.ServiceAccount]

    def __init__(self, resource_name: str, args: KServeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:KServe", resource_name, opts)
        name = resource_name
        # the component's depends_on (system nodes, CoreDNS, the cluster's access entries) reaches every child:
        # the releases wait for their pods
        meta_labels = {**args.labels, cv.TEAM_LABEL: cv.PLATFORM_TEAM}
        namespaces = {
            ns: k8s.core.v1.Namespace(f"{name}-ns-{ns}", metadata={"name": ns, "labels": meta_labels}, opts=self.child_opts())
            for ns in (CERT_MANAGER_NAMESPACE, KEDA_NAMESPACE, NAMESPACE)
        }
        previous: list[pulumi.Resource] = []
        self.releases = {}
        for release, chart, repo, version, namespace, values in releases():
            rel = pinned_release(
                f"{name}-{release}",
                release=release,
                chart=chart,
                version=version,
                repo=repo,
                namespace=namespace,
                values=values,
                timeout=900,
                opts=self.child_opts(depends_on=[namespaces[namespace], *previous]),
            )
            self.releases[release] = rel
            previous = [rel]
        self.service_accounts = {
            team: k8s.core.v1.ServiceAccount(
                f"{name}-sa-{team}",
                metadata={
                    "name": serving_service_account(team),
                    "namespace": ns,
                    "labels": {**args.labels, cv.TEAM_LABEL: team},
                    "annotations": dict(args.identities.get(team, {})),
                },
                automount_service_account_token=False,
                opts=self.child_opts(),
            )
            for team, ns in sorted(args.team_namespaces.items())
        }
        self.publish(namespace_name=NAMESPACE, deployment_mode=DEPLOYMENT_MODE)
