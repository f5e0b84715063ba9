"""Cloud KMS: a key ring in one location with rotating symmetric keys, and who may use them.

Google services encrypt with a customer-managed key (CMEK) through their service agents, so
each key names the agents (``serviceAccount:service-N@...``) granted
``roles/cloudkms.cryptoKeyEncrypterDecrypter`` on it - and nobody else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.base import Component

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
SUFFIX_LENGTH = 6


@dataclass(frozen=True)
class KmsKeysArgs:
    """Arguments of :class:`KmsKeys`.

    :param key_ring: Name of the key ring (unique per project and location; never deletable).
    :param unique_suffix: Append a random suffix to the ring's name. Cloud KMS never deletes key
        rings or keys (``pulumi destroy`` only forgets the ring and destroys the keys' versions), so a
        stack torn down and created again under the same fixed name fails with "already exists".
        Use it outside prod; prod keeps its stable, protected names (a suffix added to an existing
        ring would replace it, and every key with it).
    :param location: KMS location: a region (``us-central1``) or a multi-region (``us``).
    :param keys: Key name -> {label -> IAM member} of the service agents that may use the key.
    :param rotation_days: Days between automatic key rotations (1-3650).
    :param protect: Protect the ring and keys from deletion (prod).
    :param labels: Labels for the keys.
    """

    key_ring: str
    location: str
    keys: Mapping[str, Mapping[str, pulumi.Input[str]]]
    rotation_days: int = 90
    protect: bool = False
    unique_suffix: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        limit = 63 - (SUFFIX_LENGTH + 1 if self.unique_suffix else 0)
        if not _NAME.match(self.key_ring) or len(self.key_ring) > limit:
            raise ValueError(f"key_ring {self.key_ring!r} must be 1-{limit} letters, digits, '-' or '_'")
        if self.protect and self.unique_suffix:
            raise ValueError("a protected key ring keeps its stable name (unique_suffix is for rings torn down)")
        if not self.location:
            raise ValueError("location is required")
        if not self.keys:
            raise ValueError("keys must name at least one key")
        for name, members in self.keys.items():
            if not _NAME.match(name):
                raise ValueError(f"key name {name!r} must be 1-63 letters, digits, '-' or '_'")
            for label in members:
                if not re.match(r"^[a-z0-9-]+$", label):
                    raise ValueError(f"member label {label!r} of key {name!r} must be lowercase letters, digits or '-'")
        if not 1 <= self.rotation_days <= 3650:
            raise ValueError("rotation_days must be between 1 and 3650")


class KmsKeys(Component):
    """A key ring, its keys (rotated every ``rotation_days``) and the agents allowed to use each."""

    key_ids: dict[str, pulumi.Output[str]]
    """Key name -> full key id (``projects/p/locations/l/keyRings/r/cryptoKeys/k``); depends on the key's grants."""

    def __init__(self, resource_name: str, args: KmsKeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:KmsKeys", resource_name, opts)
        name = resource_name
        ring_name: pulumi.Input[str] = args.key_ring
        if args.unique_suffix:
            suffix = random.RandomString(
                f"{name}-ring-suffix", length=SUFFIX_LENGTH, special=False, upper=False, opts=self.child_opts()
            )
            ring_name = pulumi.Output.concat(args.key_ring, "-", suffix.result)
        # a stack created before the suffix existed keeps its ring (a new name would replace the
        # ring, every key and everything encrypted with them); it gets the suffix when re-created
        ring = gcp.kms.KeyRing(
            f"{name}-ring",
            name=ring_name,
            location=args.location,
            opts=self.child_opts(keep=args.protect, ignore_changes=["name"] if args.unique_suffix else None),
        )
        key_ids: dict[str, pulumi.Output[str]] = {}
        for key_name, members in args.keys.items():
            key = gcp.kms.CryptoKey(
                f"{name}-{key_name}",
                name=key_name,
                key_ring=ring.id,
                purpose="ENCRYPT_DECRYPT",
                rotation_period=f"{args.rotation_days * 86400}s",
                labels=dict(args.labels),
                opts=self.child_opts(keep=args.protect),
            )
            grants = [
                gcp.kms.CryptoKeyIAMMember(
                    f"{name}-{key_name}-{label}",
                    crypto_key_id=key.id,
                    role=ENCRYPTER_DECRYPTER,
                    member=member,
                    opts=self.child_opts(),
                )
                for label, member in members.items()
            ]
            # resolves once the agents may use the key, so whatever encrypts with it waits for the grants
            key_ids[key_name] = pulumi.Output.all(key.id, *[g.id for g in grants]).apply(lambda ids: ids[0])
        self.publish(key_ids=key_ids)


@dataclass(frozen=True)
class ServiceAgentsArgs:
    """Arguments of :class:`ServiceAgents`.

    :param services: APIs whose service agent must exist (``sqladmin.googleapis.com``).
    """

    services: tuple[str, ...]

    def __post_init__(self) -> None:
        for service in self.services:
            if not re.match(r"^[a-z0-9.-]+\.googleapis\.com$", service):
                raise ValueError(f"{service!r} is not a Google API service name")


class ServiceAgents(Component):
    """Makes sure Google's per-project service agents exist and returns them as IAM members.

    Some agents (Cloud SQL's) are only created on first use; a CMEK grant to an agent that
    does not exist yet fails, so the grant waits for the agent through its ``member`` output.
    """

    members: dict[str, pulumi.Output[str]]
    """Service -> ``serviceAccount:service-N@...`` of its agent."""

    def __init__(self, resource_name: str, args: ServiceAgentsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:ServiceAgents", resource_name, opts)
        members: dict[str, pulumi.Output[str]] = {}
        for service in args.services:
            agent = gcp.projects.ServiceIdentity(
                f"{resource_name}-{service.split('.')[0]}", service=service, opts=self.child_opts()
            )
            members[service] = agent.member
        self.publish(members=members)
