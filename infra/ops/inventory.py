"""Compare a primary bucket with its replica and copy what replication never delivered.

S3 replication only copies objects written *after* the rule was enabled (and objects whose
replication failed stay ``FAILED``). :func:`compare` lists both buckets and classifies every key;
:func:`backfill` copies the missing and different ones into the replica. It never deletes: keys
only the replica holds are reported, and overwriting a key adds a version (replicas are
versioned). Re-running is safe and resumes where a previous run stopped, because the comparison
skips everything already equal (size and ETag; a copied object records the source ETag in its
metadata since server-side encryption with another key changes the ETag).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.ops.aws import Clients

SOURCE_ETAG_META = "mlp-source-etag"


@dataclass
class ObjectInfo:
    key: str
    size: int
    etag: str


@dataclass
class Comparison:
    source: str
    dest: str
    source_objects: int = 0
    source_bytes: int = 0
    dest_objects: int = 0
    equal: int = 0
    missing: list[ObjectInfo] = field(default_factory=list)
    different: list[ObjectInfo] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def to_copy(self) -> list[ObjectInfo]:
        return self.missing + self.different

    @property
    def in_sync(self) -> bool:
        return not self.to_copy

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dest": self.dest,
            "source_objects": self.source_objects,
            "source_bytes": self.source_bytes,
            "dest_objects": self.dest_objects,
            "equal": self.equal,
            "missing": len(self.missing),
            "missing_bytes": sum(o.size for o in self.missing),
            "different": len(self.different),
            "different_bytes": sum(o.size for o in self.different),
            "only_in_replica": len(self.extra),
        }


def list_objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, ObjectInfo]:
    out: dict[str, ObjectInfo] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = ObjectInfo(key=obj["Key"], size=int(obj["Size"]), etag=obj.get("ETag", "").strip('"'))
    return out


def compare(clients: Clients, source: str, source_region: str, dest: str, dest_region: str, prefix: str = "") -> Comparison:
    src_s3, dst_s3 = clients.s3(source_region), clients.s3(dest_region)
    src = list_objects(src_s3, source, prefix)
    dst = list_objects(dst_s3, dest, prefix)
    result = Comparison(source=source, dest=dest, source_objects=len(src), source_bytes=sum(o.size for o in src.values()))
    result.dest_objects = len(dst)
    for key, obj in sorted(src.items()):
        other = dst.get(key)
        if other is None:
            result.missing.append(obj)
        elif other.size != obj.size:
            result.different.append(obj)
        elif other.etag == obj.etag:
            result.equal += 1
        else:
            meta = dst_s3.head_object(Bucket=dest, Key=key).get("Metadata", {})
            if meta.get(SOURCE_ETAG_META) == obj.etag:
                result.equal += 1
            else:
                result.different.append(obj)
    result.extra = sorted(set(dst) - set(src))
    return result


@dataclass
class BackfillResult:
    copied: int = 0
    copied_bytes: int = 0
    remaining: int = 0

    def to_json(self) -> dict[str, int]:
        return {"copied": self.copied, "copied_bytes": self.copied_bytes, "remaining": self.remaining}


def backfill(
    clients: Clients,
    comparison: Comparison,
    source_region: str,
    dest_region: str,
    *,
    limit: int | None = None,
    log: Any = print,
) -> BackfillResult:
    """Copy ``comparison.to_copy`` into the replica (at most ``limit`` objects); never deletes."""
    src_s3, dst_s3 = clients.s3(source_region), clients.s3(dest_region)
    todo = comparison.to_copy
    result = BackfillResult()
    for obj in todo:
        if limit is not None and result.copied >= limit:
            break
        head = src_s3.head_object(Bucket=comparison.source, Key=obj.key)
        extra: dict[str, Any] = {
            "Metadata": {**head.get("Metadata", {}), SOURCE_ETAG_META: obj.etag},
            "MetadataDirective": "REPLACE",
        }
        for name in ("ContentType", "ContentEncoding", "CacheControl", "ContentDisposition"):
            if head.get(name):
                extra[name] = head[name]
        dst_s3.copy(
            CopySource={"Bucket": comparison.source, "Key": obj.key},
            Bucket=comparison.dest,
            Key=obj.key,
            ExtraArgs=extra,
            SourceClient=src_s3,
        )
        result.copied += 1
        result.copied_bytes += obj.size
        log(f"  copied s3://{comparison.source}/{obj.key} -> s3://{comparison.dest}/{obj.key} ({obj.size} B)")
    result.remaining = len(todo) - result.copied
    return result
