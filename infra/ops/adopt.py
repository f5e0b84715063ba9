"""``ops dr adopt``: let a stack prepared for the DR region adopt the old stack's replica buckets.

Bucket names are ``<prefix>-<zone>-<account>-<region>``, so the new stack's primary buckets in the
DR region have exactly the names of the old stack's replicas (and replica access-logs bucket):
the replicas *become* the primaries. ``pulumi up`` cannot create a bucket that exists, so they are
imported first. This module runs the new stack's offline plan, finds every bucket it would create
that already exists in the account, and writes a ``pulumi import --file`` document for them (with
their component parents, and the stack's explicit AWS provider in the name table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.ops.aws import Clients, error_code
from infra.plan import engine, mocks
from infra.plan.recorder import RecordedResource

BUCKET = "aws:s3/bucket:Bucket"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Adoption:
    stack: str
    import_file: dict[str, Any]
    buckets: dict[str, str] = field(default_factory=dict)
    """logical name -> existing bucket name."""
    providers: list[str] = field(default_factory=list)
    """URNs of the providers that must exist before ``pulumi import`` (create them with ``--target``)."""


def _exists(clients: Clients, name: str, region: str) -> bool:
    try:
        clients.s3(region).head_bucket(Bucket=name)
        return True
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def adoption(clients: Clients, stack: str, *, stacks_dir: Path | None = None) -> Adoption:
    plan = engine.plan(stack, stacks_dir=stacks_dir)
    region = plan.config.region or ""
    account = clients.account_id(region)
    by_urn = {r.urn: r for r in plan.resources}
    resources: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # urn -> unique key in the import file
    name_table: dict[str, str] = {}
    result = Adoption(stack=stack, import_file={})

    def key(res: RecordedResource) -> str:
        if res.urn not in names:
            base = res.name if res.name not in names.values() else f"{res.name}-{len(names)}"
            names[res.urn] = base
        return names[res.urn]

    def add_parents(res: RecordedResource) -> str | None:
        parent = by_urn.get(res.parent)
        if parent is None or parent.type == STACK_TYPE:
            return None
        if parent.urn not in names:
            grand = add_parents(parent)
            entry = {"type": parent.type, "name": key(parent), "logicalName": parent.name, "component": True}
            if grand:
                entry["parent"] = grand
            resources.append(entry)
        return names[parent.urn]

    for res in plan.resources:
        if res.type != BUCKET or not isinstance(res.inputs.get("bucket"), str):
            continue
        provider = plan.provider_of(res)
        bucket_region = (provider.inputs.get("region") if provider else None) or region
        name = res.inputs["bucket"].replace(mocks.ACCOUNT_ID, account)
        if not _exists(clients, name, bucket_region):
            continue
        parent = add_parents(res)
        entry: dict[str, Any] = {"type": BUCKET, "name": key(res), "logicalName": res.name, "id": name}
        if parent:
            entry["parent"] = parent
        if provider is not None:
            name_table[key(provider)] = provider.urn
            entry["provider"] = key(provider)
            if provider.urn not in result.providers:
                result.providers.append(provider.urn)
        resources.append(entry)
        result.buckets[res.name] = name
    result.import_file = {"nameTable": name_table, "resources": resources}
    return result
