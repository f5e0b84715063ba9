"""GCP preflight: is the project ready for the stack's first ``pulumi up``?

Checks, one :class:`~infra.ops.preflight.Finding` each:

- ``apis.bootstrap``: the Service Usage and Resource Manager APIs are on (the stack enables every
  other API it needs itself, through them); ``apis``: which of the stack's APIs are on already.
- ``billing``: the project is linked to an open billing account (the one ``gcp.billingAccount``
  names, when set).
- ``quota.gcp.<METRIC>``: each GPU quota of the region (``NVIDIA_<GPU>_GPUS`` on demand,
  ``PREEMPTIBLE_NVIDIA_<GPU>_GPUS`` for spot, when the region has preemptible quota; spot VMs use
  the on-demand quota otherwise) and the project's ``GPUS_ALL_REGIONS`` cover the stack's GPU ceiling.
- ``permissions``: the caller holds the permissions creating the stack takes
  (``projects.testIamPermissions``; on the billing account for budgets).
- ``backend``: a ``gs://`` state backend bucket exists and is versioned.
- ``auth-plugin``: ``gke-gcloud-auth-plugin`` is on the ``PATH`` (the stack's kubeconfig runs it
  to reach the cluster; without it every Kubernetes resource fails).

REST calls through ``google-auth``'s :class:`~google.auth.transport.requests.AuthorizedSession`
(Application Default Credentials); the tests pass a fake with recorded responses instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import quote

from catalog import gpus as catalog
from infra.ops.preflight import Finding

SERVICE_USAGE = "https://serviceusage.googleapis.com/v1"
RESOURCE_MANAGER = "https://cloudresourcemanager.googleapis.com/v1"
BILLING = "https://cloudbilling.googleapis.com/v1"
COMPUTE = "https://compute.googleapis.com/compute/v1"
STORAGE = "https://storage.googleapis.com/storage/v1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"

BOOTSTRAP_APIS = ("serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com")
"""APIs the stack cannot enable itself: it enables the others through them."""

GPU_QUOTA_METRIC = {
    "nvidia-tesla-t4": "NVIDIA_T4_GPUS",
    "nvidia-l4": "NVIDIA_L4_GPUS",
    "nvidia-tesla-a100": "NVIDIA_A100_GPUS",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB_GPUS",
    "nvidia-h100-80gb": "NVIDIA_H100_GPUS",
}
"""GKE accelerator type -> the Compute Engine regional quota metric of its on-demand GPUs
(``compute.v1.Quota.metric``); spot GPUs count against ``PREEMPTIBLE_`` + the same name."""

BASE_PERMISSIONS = (
    "serviceusage.services.enable",
    "serviceusage.services.use",  # the provider bills every call to the project (user_project_override)
    "resourcemanager.projects.get",
    "resourcemanager.projects.setIamPolicy",
    "compute.networks.create",
    "compute.subnetworks.create",
    "compute.routers.create",
    "compute.firewalls.create",
    "compute.globalAddresses.create",
    "servicenetworking.services.addPeering",
    "cloudkms.keyRings.create",
    "cloudkms.cryptoKeys.create",
    "cloudkms.cryptoKeys.setIamPolicy",
    "storage.buckets.create",
    "storage.buckets.setIamPolicy",
    "iam.serviceAccounts.create",
    "iam.serviceAccounts.setIamPolicy",
    "iam.serviceAccounts.actAs",
    "container.clusters.create",
)
DATABASE_PERMISSIONS = ("cloudsql.instances.create", "cloudsql.users.create", "secretmanager.secrets.create")
REDIS_PERMISSIONS = ("redis.instances.create",)
BUDGET_PERMISSIONS = ("monitoring.notificationChannels.create",)
BILLING_ACCOUNT_PERMISSIONS = ("billing.budgets.create",)


class GcpApiError(Exception):
    """A REST call failed: ``status`` (0 without a response), ``reason`` (``SERVICE_DISABLED``,
    ``PERMISSION_DENIED``...) and the API's message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class GcpApi(Protocol):
    """The two calls preflight makes; :class:`AuthorizedApi` for real, a fake in the tests."""

    def get(self, url: str) -> dict[str, Any]: ...

    def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]: ...


class AuthorizedApi:
    """REST calls with Application Default Credentials, billed to ``project`` (``x-goog-user-project``)."""

    def __init__(self, project: str) -> None:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(scopes=[SCOPE], quota_project_id=project)
        self._session = AuthorizedSession(credentials)

    def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        import requests

        try:
            response = self._session.request(method, url, json=body, timeout=30)
        except requests.RequestException as exc:
            raise GcpApiError(0, "UNREACHABLE", str(exc)) from None
        if response.status_code >= 400:
            raise error_of(response.status_code, _json(response))
        return _json(response)

    def get(self, url: str) -> dict[str, Any]:
        return self._call("GET", url)

    def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", url, body)


def _json(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_of(status: int, body: dict[str, Any]) -> GcpApiError:
    """A :class:`GcpApiError` from a Google API error body (``{"error": {"status", "message", "details"}}``)."""
    raw = body.get("error")
    err: dict[str, Any] = raw if isinstance(raw, dict) else {}
    reason = str(err.get("status") or status)
    for detail in err.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reason = str(detail["reason"])  # ErrorInfo: SERVICE_DISABLED, IAM_PERMISSION_DENIED...
            break
    return GcpApiError(status, reason, str(err.get("message") or "no message").splitlines()[0])


# ---- what the stack needs ------------------------------------------------------------------------


def gpu_demand(cfg: Any) -> dict[tuple[str, bool], int]:
    """(GKE accelerator type, spot) -> the most GPUs the stack's pools can hold, as GKE sizes them
    (whole nodes under ``gpuLimit``; a ``spot-with-fallback`` pool's on-demand twin counts too)."""
    demand: dict[tuple[str, bool], int] = defaultdict(int)
    for pool in cfg.gpu_pools:
        node = cfg.pool_node_types(pool)[0]
        accelerator = catalog.gke_accelerator(node)
        nodes = int(pool.max_nodes or 1)
        if pool.gpu_limit is not None:
            nodes = min(nodes, pool.gpu_limit // node.gpus)
        variants = [pool.capacity != "on-demand"] + ([False] if pool.capacity == "spot-with-fallback" else [])
        for spot in variants:
            demand[(accelerator, spot)] += nodes * node.gpus
    return dict(demand)


def required_permissions(cfg: Any) -> tuple[str, ...]:
    perms = list(BASE_PERMISSIONS)
    if cfg.needs_database:
        perms += DATABASE_PERMISSIONS
    if cfg.feast.enabled:
        perms += REDIS_PERMISSIONS
    if cfg.gcp.billing_account:
        perms += BUDGET_PERMISSIONS
    return tuple(perms)


# ---- the checks ----------------------------------------------------------------------------------


def run(cfg: Any, *, clients: GcpApi | None = None, backend_url: str | None = None, **_: Any) -> list[Finding]:
    """Every finding for ``cfg`` (a ``cloud: gcp`` config); ``clients`` is the REST client
    (default: :class:`AuthorizedApi` with Application Default Credentials)."""
    project = str(cfg.gcp.project)
    if clients is None:
        try:
            clients = AuthorizedApi(project)
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
            return [
                Finding(
                    "credentials",
                    False,
                    f"no Google credentials ({type(exc).__name__}): run `gcloud auth application-default login` "
                    "or set GOOGLE_APPLICATION_CREDENTIALS",
                )
            ]
    api = clients
    findings: list[Finding] = []
    findings += _apis(api, cfg, project)
    findings += _billing(api, cfg, project)
    findings += _quotas(api, cfg, project)
    findings += _permissions(api, cfg, project)
    findings += _backend(api, backend_url)
    findings.append(_auth_plugin())
    return findings


AUTH_PLUGIN = "gke-gcloud-auth-plugin"


def _auth_plugin() -> Finding:
    import shutil

    path = shutil.which(AUTH_PLUGIN)
    if path is None:
        return Finding(
            "auth-plugin",
            False,
            f"{AUTH_PLUGIN} not on PATH: the kubeconfig the stack builds runs it "
            "(`gcloud components install gke-gcloud-auth-plugin` or the google-cloud-cli-gke-gcloud-auth-plugin package)",
        )
    return Finding("auth-plugin", True, f"{AUTH_PLUGIN} at {path}")


def _failed(check: str, what: str, err: GcpApiError) -> Finding:
    hint = ""
    if err.reason == "SERVICE_DISABLED":
        hint = " (the API is disabled in the project)"
    elif err.status == 403:
        hint = " (the caller may not read it)"
    return Finding(check, False, f"cannot read {what}: {err.reason}: {err.message}{hint}")


def _apis(api: GcpApi, cfg: Any, project: str) -> list[Finding]:
    from infra.layers.gcp_foundation import required_apis

    enabled: set[str] = set()
    url = f"{SERVICE_USAGE}/projects/{project}/services?filter=state:ENABLED&pageSize=200"
    token = ""
    try:
        while True:
            page = api.get(url + (f"&pageToken={quote(token)}" if token else ""))
            for svc in page.get("services", []):
                name = (svc.get("config") or {}).get("name") or str(svc.get("name", "")).rsplit("/", 1)[-1]
                enabled.add(name)
            token = page.get("nextPageToken", "")
            if not token:
                break
    except GcpApiError as err:
        if err.reason == "SERVICE_DISABLED":
            return [
                Finding(
                    "apis.bootstrap",
                    False,
                    f"the Service Usage API is disabled: `gcloud services enable {' '.join(BOOTSTRAP_APIS)} --project {project}`",
                )
            ]
        return [_failed("apis.bootstrap", "the enabled APIs", err)]
    missing_bootstrap = [a for a in BOOTSTRAP_APIS if a not in enabled]
    findings = [
        Finding(
            "apis.bootstrap",
            not missing_bootstrap,
            f"disabled: {', '.join(missing_bootstrap)}: `gcloud services enable {' '.join(missing_bootstrap)} --project {project}`"
            if missing_bootstrap
            else "Service Usage and Resource Manager APIs enabled",
        )
    ]
    later = [a for a in required_apis(cfg) if a not in enabled and a not in BOOTSTRAP_APIS]
    findings.append(
        Finding(
            "apis",
            True,
            f"the stack enables on its first run: {', '.join(later)}" if later else "every API the stack uses is enabled",
        )
    )
    return findings


def _billing(api: GcpApi, cfg: Any, project: str) -> list[Finding]:
    try:
        info = api.get(f"{BILLING}/projects/{project}/billingInfo")
    except GcpApiError as err:
        return [_failed("billing", "the project's billing info", err)]
    account = str(info.get("billingAccountName", "")).removeprefix("billingAccounts/")
    if not info.get("billingEnabled"):
        return [
            Finding(
                "billing", False, f"project {project} has no billing account linked: `gcloud billing projects link {project}`"
            )
        ]
    wanted = cfg.gcp.billing_account
    if wanted and account != wanted:
        return [
            Finding(
                "billing",
                False,
                f"project {project} is billed to {account}, not gcp.billingAccount {wanted} (budgets would watch the wrong account)",
            )
        ]
    return [Finding("billing", True, f"billed to {account}")]


def _quota_table(quotas: Iterable[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    return {str(q.get("metric")): (float(q.get("limit", 0)), float(q.get("usage", 0))) for q in quotas}


def _quotas(api: GcpApi, cfg: Any, project: str) -> list[Finding]:
    demand = gpu_demand(cfg)
    if not demand:
        return [Finding("quota.gcp.gpus", True, "the stack has no GPU pools")]
    region = str(cfg.region)
    try:
        regional = _quota_table(api.get(f"{COMPUTE}/projects/{project}/regions/{region}").get("quotas", []))
        global_ = _quota_table(api.get(f"{COMPUTE}/projects/{project}").get("quotas", []))
    except GcpApiError as err:
        return [_failed("quota.gcp.gpus", f"the Compute Engine quotas of {region}", err)]
    need: dict[str, int] = defaultdict(int)
    for (accelerator, spot), gpus in sorted(demand.items()):
        metric = GPU_QUOTA_METRIC.get(accelerator)
        if metric is None:
            need[f"unknown:{accelerator}"] += gpus
            continue
        preemptible = "PREEMPTIBLE_" + metric
        # spot VMs draw on the preemptible quota where the region grants one, else on the standard one
        use = preemptible if spot and regional.get(preemptible, (0.0, 0.0))[0] > 0 else metric
        need[use] += gpus
    findings = []
    for metric, gpus in sorted(need.items()):
        if metric.startswith("unknown:"):
            findings.append(Finding(f"quota.gcp.{metric}", False, f"no quota metric known for accelerator {metric[8:]}"))
            continue
        limit, usage = regional.get(metric, (0.0, 0.0))
        free = limit - usage
        ok = free >= gpus
        findings.append(
            Finding(
                f"quota.gcp.{metric}",
                ok,
                f"{region}: {free:g} of {limit:g} free, the stack's pools can use {gpus}"
                + ("" if ok else f": request {gpus - free:g} more (IAM & Admin > Quotas, {metric})"),
            )
        )
    total = sum(demand.values())
    limit, usage = global_.get("GPUS_ALL_REGIONS", (0.0, 0.0))
    free = limit - usage
    findings.append(
        Finding(
            "quota.gcp.GPUS_ALL_REGIONS",
            free >= total,
            f"{free:g} of {limit:g} free across regions, the stack's pools can use {total}"
            + ("" if free >= total else f": request {total - free:g} more"),
        )
    )
    return findings


def _permissions(api: GcpApi, cfg: Any, project: str) -> list[Finding]:
    findings = []
    wanted = required_permissions(cfg)
    try:
        granted = set(
            api.post(f"{RESOURCE_MANAGER}/projects/{project}:testIamPermissions", {"permissions": list(wanted)}).get(
                "permissions", []
            )
        )
    except GcpApiError as err:
        findings.append(_failed("permissions", f"the caller's permissions on project {project}", err))
    else:
        missing = [p for p in wanted if p not in granted]
        findings.append(
            Finding(
                "permissions",
                not missing,
                f"missing on project {project}: {', '.join(missing)}"
                if missing
                else f"all {len(wanted)} checked permissions held",
            )
        )
    account = cfg.gcp.billing_account
    if account:
        try:
            granted = set(
                api.post(
                    f"{BILLING}/billingAccounts/{account}:testIamPermissions", {"permissions": list(BILLING_ACCOUNT_PERMISSIONS)}
                ).get("permissions", [])
            )
        except GcpApiError as err:
            findings.append(_failed("permissions.billing", f"the caller's permissions on billing account {account}", err))
        else:
            missing = [p for p in BILLING_ACCOUNT_PERMISSIONS if p not in granted]
            findings.append(
                Finding(
                    "permissions.billing",
                    not missing,
                    f"missing on billing account {account}: {', '.join(missing)} (roles/billing.costsManager)"
                    if missing
                    else f"may create budgets on billing account {account}",
                )
            )
    return findings


def _backend(api: GcpApi, backend_url: str | None) -> list[Finding]:
    if not backend_url:
        return [Finding("backend", True, "no --backend-url / PULUMI_BACKEND_URL: the logged-in backend is used (not checked)")]
    if not backend_url.startswith("gs://"):
        return [Finding("backend", True, f"{backend_url}: not a GCS backend (not checked)")]
    bucket = backend_url[len("gs://") :].split("/", 1)[0].split("?", 1)[0]
    try:
        meta = api.get(f"{STORAGE}/b/{quote(bucket, safe='')}")
    except GcpApiError as err:
        if err.status == 404:
            return [
                Finding(
                    "backend", False, f"state bucket gs://{bucket} does not exist: create it (versioned) before `pulumi login`"
                )
            ]
        return [_failed("backend", f"state bucket gs://{bucket}", err)]
    if not (meta.get("versioning") or {}).get("enabled"):
        return [Finding("backend", False, f"state bucket gs://{bucket} is not versioned: a bad write would lose the state")]
    return [Finding("backend", True, f"gs://{bucket} exists and is versioned")]
