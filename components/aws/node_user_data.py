"""User data of GPU nodes, per AMI family: huge pages (EFA) and SOCI parallel pull (``fast_image_pull``).

* AL2023: a MIME multi-part document. Karpenter (EC2NodeClass ``userData``) and EKS managed node groups
  (launch template) merge it with their own ``NodeConfig`` part; nodeadm merges every ``NodeConfig``.
  Huge pages are a shell part (cloud-init runs it before ``nodeadm-run`` starts the kubelet);
  parallel pull is nodeadm's ``FastImagePull`` feature gate, which switches containerd to the SOCI
  snapshotter in parallel pull-and-unpack mode (awslabs/amazon-eks-ami ``nodeadm``: ``api.FastImagePull``,
  ``containerd.UseSOCISnapshotter``; AWS containers blog, "Introducing Seekable OCI Parallel Pull mode for
  Amazon EKS"). nodeadm ignores the gate on instances below its CPU / memory threshold, never on GPU types.
* Bottlerocket: TOML settings merged into Karpenter's (or the node group's): ``settings.kernel.sysctl``
  for huge pages; ``settings.container-runtime.snapshotter = "soci"`` with
  ``settings.container-runtime-plugins.soci-snapshotter.pull-mode = "parallel-pull-unpack"``
  (bottlerocket.dev settings reference, ``container-runtime-plugins``).

Parallel pull needs no image change (no SOCI index): layers download and unpack concurrently, which
pays off for multi-GB images at the price of CPU, memory and EBS throughput during the pull.
"""

from __future__ import annotations

AMI_FAMILIES = ("al2023", "bottlerocket")
BOUNDARY = "MLPLATFORM-EFA"
"""MIME boundary (its first user was the EFA huge-pages part; a new name would change every EFA class's
user data, and Karpenter replaces nodes whose user data drifts)."""


def user_data(ami_family: str, *, hugepages: int = 0, fast_image_pull: bool = False) -> str | None:
    """The node user data for ``ami_family``, or ``None`` when there is nothing to add.

    :param hugepages: 2 MiB huge pages to reserve before the kubelet starts (0: none).
    :param fast_image_pull: SOCI parallel pull and unpack.
    """
    if ami_family not in AMI_FAMILIES:
        raise ValueError(f"user data: unknown AMI family {ami_family!r}; allowed: {', '.join(AMI_FAMILIES)}")
    if hugepages < 0:
        raise ValueError("user data: hugepages must be >= 0")
    if not hugepages and not fast_image_pull:
        return None
    if ami_family == "bottlerocket":
        sections = []
        if hugepages:
            sections.append(f'[settings.kernel.sysctl]\n"vm.nr_hugepages" = "{hugepages}"\n')
        if fast_image_pull:
            sections.append(
                '[settings.container-runtime]\nsnapshotter = "soci"\n\n'
                '[settings.container-runtime-plugins.soci-snapshotter]\npull-mode = "parallel-pull-unpack"\n'
            )
        return "\n".join(sections)
    parts = []
    if hugepages:
        parts.append(
            'Content-Type: text/x-shellscript; charset="us-ascii"\n\n'
            "#!/bin/bash\n"
            "set -euo pipefail\n"
            f"echo 'vm.nr_hugepages = {hugepages}' > /etc/sysctl.d/90-efa-hugepages.conf\n"
            "sysctl --system >/dev/null\n\n"
        )
    if fast_image_pull:
        parts.append(
            "Content-Type: application/node.eks.aws\n\n"
            "apiVersion: node.eks.aws/v1alpha1\n"
            "kind: NodeConfig\n"
            "spec:\n"
            "  featureGates:\n"
            "    FastImagePull: true\n\n"
        )
    body = "".join(f"--{BOUNDARY}\n{part}" for part in parts)
    return f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n{body}--{BOUNDARY}--\n'
