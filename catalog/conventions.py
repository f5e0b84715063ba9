"""Names every layer agrees on: node labels, taints, tag keys, platform namespaces.

Components stamp them on resources; policies check for them. Keeping them here (data only)
lets both read the same facts without policies importing components.
"""

from __future__ import annotations

# ---- Kubernetes node labels / taints on GPU nodes (all clouds) ----
POOL_LABEL = "ml-platform.io/pool"
PURPOSE_LABEL = "ml-platform.io/purpose"
GPU_MODEL_LABEL = "ml-platform.io/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"
GPU_RESOURCE = "nvidia.com/gpu"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
"""Selects the GPU operator's per-node device-plugin config (time-slicing) by name."""
GPU_OPERATOR_DEPLOY_LABEL = "nvidia.com/gpu.deploy.{operand}"
"""Set to ``"false"`` on a node to keep a GPU-operator operand (``device-plugin``, ``mig-manager``) off it."""
MIN_NODES_ANNOTATION = "ml-platform.io/min-nodes"
MAX_NODES_ANNOTATION = "ml-platform.io/max-nodes"
"""Configured node bounds stamped on Karpenter NodePools (Karpenter itself has no minimum)."""

# ---- Kubernetes labels on team namespaces ----
TEAM_LABEL = "ml-platform.io/team"
COST_CENTER_LABEL = "ml-platform.io/cost-center"
USER_LABEL = "ml-platform.io/user"
"""On notebook pods: the (escaped) name of the user who started it, so GPU alerts can name the user."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

# ---- Cloud tags (AWS) / labels (GCP) ----
TAG_ENVIRONMENT = "environment"
TAG_TEAM = "team"
TAG_COST_CENTER = "cost-center"
TAG_PROJECT = "project"
TAG_MANAGED_BY = "managed-by"
REQUIRED_TAGS = (TAG_ENVIRONMENT, TAG_TEAM, TAG_COST_CENTER, TAG_PROJECT, TAG_MANAGED_BY)
PLATFORM_TEAM = "platform"
"""Value of the ``team`` tag on shared platform resources."""
PLATFORM_COST_CENTER = "platform"
MANAGED_BY = "pulumi"
PROJECT = "ml-platform"
ENVIRONMENTS = ("dev", "staging", "prod")

# ---- Platform namespaces ----
NS_GPU_OPERATOR = "gpu-operator"
NS_KARPENTER = "karpenter"
NS_KUEUE = "kueue-system"
NS_MLFLOW = "mlflow"
NS_FEAST = "feast"
NS_MONITORING = "monitoring"
NS_JOBSET = "jobset-system"
NS_LWS = "lws-system"
NS_JUPYTERHUB = "jupyterhub"
NS_KSERVE = "kserve"
NS_CERT_MANAGER = "cert-manager"
NS_GPUDIRECT = "gpudirect-system"
"""GKE: the GPUDirect NCCL plugin installers (privileged DaemonSets, like the GPU operator's)."""
KUBERNETES_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Namespaces Kubernetes itself creates."""
PLATFORM_NAMESPACES = (
    NS_KARPENTER,
    NS_GPU_OPERATOR,
    NS_KUEUE,
    NS_MLFLOW,
    NS_FEAST,
    NS_MONITORING,
    NS_JOBSET,
    NS_LWS,
    NS_JUPYTERHUB,
    NS_KSERVE,
    NS_CERT_MANAGER,
    NS_GPUDIRECT,
)
"""Every namespace the platform installs into (no team may be named like one)."""

# ---- Discovery ----
KARPENTER_DISCOVERY_TAG = "karpenter.sh/discovery"

# ---- Scheduling priorities (PriorityClass and Kueue WorkloadPriorityClass share name and value) ----
PRIORITY_CLASSES = {
    "platform-critical": 1_000_000,
    "serving-high": 100_000,
    "training-medium": 10_000,
    "experiments-low": 1_000,
}

# ---- Data-lake bucket tags (the DR tooling finds buckets by them) ----
TAG_LAKE_ZONE = "lake-zone"
TAG_LAKE_ROLE = "lake-role"
"""``primary``, ``replica`` or ``logs``."""

# ---- Role tag on single stateful resources the ops tooling finds (``python -m infra ops``) ----
TAG_ROLE = "ml-platform.io/role"
ROLE_MLFLOW_DB = "mlflow-db"
"""Value of ``TAG_ROLE`` on the MLflow RDS instance (DR status / failover find it by this tag)."""
ROLE_PULUMI_STATE = "pulumi-state"
"""Value of ``TAG_ROLE`` on the Pulumi state buckets made by ``ops bootstrap-backend``."""

# ---- hybrid fleet (MultiKueue) -------------------------------------------------------------------
FLEET_CLOUD_ANNOTATION = "ml-platform.io/cloud"
"""On a fleet manager's ``MultiKueueCluster``: where the worker runs (``aws``, ``gcp``, ``existing``)."""
FLEET_TEAM_ACCELERATORS_ANNOTATION = "ml-platform.io/team-accelerators"
"""On a fleet manager's ``MultiKueueCluster``: JSON team -> accelerators (GPUs, MIG slices, Neuron devices)
the worker admits for the team; the cost pack's burst-share check reads it."""
