"""Optional GuardDuty: EKS Runtime Monitoring and S3 Protection (off by default; they cost money).

GuardDuty has one detector per account and region. Without ``existing_detector_id`` the component
creates it (fails if the account already has one, e.g. managed by an organization's delegated
administrator: pass its id then). Features are ``aws.guardduty.DetectorFeature`` resources:

- ``RUNTIME_MONITORING`` with ``EKS_ADDON_MANAGEMENT``: GuardDuty installs and updates its security
  agent add-on on the cluster itself (and the VPC endpoint the agent reports through);
- ``S3_DATA_EVENTS``: GuardDuty analyzes the S3 data events of the account's buckets (the lake).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.base import Component


@dataclass(frozen=True)
class GuardDutyArgs:
    """Arguments of :class:`GuardDuty`.

    :param runtime_monitoring: EKS runtime monitoring with the managed agent add-on.
    :param s3_protection: S3 Protection (S3 data event analysis).
    :param existing_detector_id: use this account's detector instead of creating one.
    """

    runtime_monitoring: bool
    s3_protection: bool
    existing_detector_id: str | None = None

    def __post_init__(self) -> None:
        if not (self.runtime_monitoring or self.s3_protection):
            raise ValueError("GuardDuty: turn on runtime_monitoring and/or s3_protection (otherwise do not create it)")


class GuardDuty(Component):
    """The account's GuardDuty detector (or ``existing_detector_id``) and the chosen features
    (the AWS provider of the cluster's region comes through ``opts``)."""

    detector_id: pulumi.Output[str]

    def __init__(self, resource_name: str, args: GuardDutyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:GuardDuty", resource_name, opts)
        child = self.child_opts()
        if args.existing_detector_id:
            detector_id: pulumi.Input[str] = args.existing_detector_id
        else:
            self.detector = aws.guardduty.Detector(
                resource_name, enable=True, finding_publishing_frequency="FIFTEEN_MINUTES", opts=child
            )
            detector_id = self.detector.id
        if args.runtime_monitoring:
            aws.guardduty.DetectorFeature(
                f"{resource_name}-runtime",
                detector_id=detector_id,
                name="RUNTIME_MONITORING",
                status="ENABLED",
                additional_configurations=[{"name": "EKS_ADDON_MANAGEMENT", "status": "ENABLED"}],
                opts=child,
            )
        if args.s3_protection:
            aws.guardduty.DetectorFeature(
                f"{resource_name}-s3", detector_id=detector_id, name="S3_DATA_EVENTS", status="ENABLED", opts=child
            )
        self.publish(detector_id=pulumi.Output.from_input(detector_id))
