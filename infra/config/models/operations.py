"""Running the platform: budget, audit logging, GuardDuty, monitoring and alerting."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_serializer, field_validator

from catalog.clouds import CLOUDWATCH_RETENTION_DAYS
from infra.config.base import SECRET_PLACEHOLDER, ConfigModel


class BudgetConfig(ConfigModel):
    monthly_usd: float | None = Field(default=None, gt=0)
    """Platform monthly budget; the cost policy fails when the estimate exceeds it."""
    alert_emails: list[str] = Field(default_factory=list)


class AuditConfig(ConfigModel):
    """Audit logging: who touched the lake, the keys, the secrets and the databases (issue 16)."""

    enabled: bool | None = None
    """Default: on in staging and prod, off in dev."""
    data_events_millions_per_month: float = Field(default=10.0, ge=0)
    """Cost estimate only: S3 data events (object reads and writes of the lake) a month, in millions."""
    retention_days: int = Field(default=365, ge=1, le=3650)
    """How long audit log files are kept: the CloudTrail bucket's expiry, the GCP log bucket's retention."""
    object_lock_days: int | None = Field(default=None, ge=1, le=3650)
    """Prod (AWS): Object Lock governance retention of the trail bucket; default ``retentionDays``."""
    control_plane_log_retention_days: int | None = None
    """EKS control-plane log group retention (a CloudWatch value); default 365 in prod, 90 elsewhere."""
    organization_trail: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$")
    """AWS: name of an existing organization trail that already records management events; the
    platform then creates no second trail of its own, only a data-events trail for the lake."""

    @field_validator("control_plane_log_retention_days")
    @classmethod
    def _cw_days(cls, value: int | None) -> int | None:
        if value is not None and value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch Logs retention; allowed: {', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}"
            )
        return value


class GuardDutyConfig(ConfigModel):
    """Optional AWS GuardDuty features (off by default; they cost money, see the plan's cost)."""

    eks_runtime_monitoring: bool = False
    s3_protection: bool = False
    existing_detector_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    """The account's GuardDuty detector if one exists already (e.g. organization-managed)."""
    monitored_vcpus: int | None = Field(default=None, ge=1)
    """Cost estimate only: vCPUs runtime monitoring covers; default: the system nodes at their maximum."""


class SecurityConfig(ConfigModel):
    guard_duty: GuardDutyConfig = Field(default_factory=GuardDutyConfig)


class SmtpConfig(ConfigModel):
    """The mail relay Alertmanager sends alert e-mails through."""

    host: str = Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
    """``host:port`` of the relay (``smtp.example.com:587``)."""
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    """``From:`` address of the alert e-mails."""
    username: str | None = None
    password: SecretStr | None = None
    """Set it as a secret (``pulumi config set --secret --path ml-platform:monitoring.smtp.password``);
    it reaches Alertmanager only as a mounted Kubernetes Secret file, never in the Helm values."""
    require_tls: bool = True

    @field_serializer("password")
    def _hide(self, value: SecretStr | None) -> str | None:
        return SECRET_PLACEHOLDER if value is not None else None


class MonitoringConfig(ConfigModel):
    """Metrics, dashboards, alert routing and per-team cost (issue 15)."""

    backend: Literal["inCluster", "managed", "none"] = "inCluster"
    """``inCluster``: kube-prometheus-stack (Prometheus, Alertmanager, Grafana); ``managed``: Amazon Managed
    Service for Prometheus (aws) / Google Managed Prometheus (gcp); ``none``: bring your own."""
    grafana: bool | None = None
    """Install the chart's Grafana with the platform dashboards (``inCluster`` only). Default: on with ``inCluster``."""
    opencost: bool = True
    """OpenCost in-cluster: per-namespace (team) cost from the cloud's prices; feeds chargeback and team budget alerts."""
    retention: str = Field(default="15d", pattern=r"^[0-9]+(h|d|w|y)$")
    """How long the in-cluster Prometheus keeps samples."""
    smtp: SmtpConfig | None = None
    """Mail relay for the alert e-mails; without it alerts are routed but not sent."""
    cost_allocation_tags: bool = False
    """AWS: activate ``team`` / ``cost-center`` / ``environment`` / ``project`` as cost allocation tags
    (``aws.costexplorer.CostAllocationTag``). Turn on once the tags appear in the billing data (about a day
    after the first tagged resources bill); the API rejects tags it has not seen yet (docs/cost.md)."""
    billing_dataset: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{1,1024}$")
    """GCP: create this BigQuery dataset for the Cloud Billing export (the export itself is switched on in the
    billing console; there is no API for it). The chargeback report reads it."""
