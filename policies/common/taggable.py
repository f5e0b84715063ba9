"""Which resource types take tags (AWS) or labels (GCP), read from the pinned Pulumi SDKs.

A policy pack runs in its own virtualenv with only ``pulumi-policy`` installed, so the packs
cannot import ``pulumi_aws``. Instead the type lists are generated from the installed SDKs'
source (a resource is taggable when its ``...Args`` class has a ``tags`` map input; GCP resources
take ``labels`` or, for GKE clusters, ``resource_labels``) and stored next to this module in
``taggable_types.json``. A test regenerates the lists and fails when the SDK pins change.

Regenerate with ``python -m policies.common.taggable --write``.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("taggable_types.json")

_TOKEN = re.compile(r"super\((\w+), __self__\)\.__init__\(\s*'([a-z0-9-]+:[^']+)'")
_MAP_PROP = r"    def {prop}\(self\) -> pulumi\.Input\[Optional\[Mapping\[str,"


def _args_body(source: str, cls: str) -> str:
    start = source.find(f"class {cls}Args:")
    if start < 0:
        return ""
    end = source.find("\nclass ", start + 1)
    return source[start : end if end > 0 else len(source)]


def scan_sdk(package_dir: Path, props: tuple[str, ...]) -> dict[str, str]:
    """Map every resource type token in ``package_dir`` to the first of ``props`` its Args class takes as a map."""
    found: dict[str, str] = {}
    for path in sorted(package_dir.rglob("*.py")):
        if path.name.startswith("_"):
            continue
        source = path.read_text(encoding="utf-8")
        for cls, token in _TOKEN.findall(source):
            body = _args_body(source, cls)
            for prop in props:
                if re.search(_MAP_PROP.format(prop=prop), body):
                    found[token] = prop
                    break
    return dict(sorted(found.items()))


LABEL_PROPERTY_OVERRIDES = {
    # ``labels`` holds the channel's configuration (``email_address``, ``channel_name``...) as the
    # channel type's descriptor defines it; its resource labels are ``user_labels`` (pulumi-gcp
    # ``monitoring.NotificationChannel`` docs). Writing platform labels into ``labels`` would
    # send the API config keys the channel type does not define.
    "gcp:monitoring/notificationChannel:NotificationChannel": "user_labels",
}
"""Types whose first label-like map is not their resource labels -> the property that is."""


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.title() for p in rest)


def generate() -> dict[str, object]:
    """Scan the installed ``pulumi_aws`` and ``pulumi_gcp`` packages."""
    import pulumi_aws
    import pulumi_gcp

    aws = scan_sdk(Path(pulumi_aws.__file__).parent, ("tags",))
    gcp = scan_sdk(Path(pulumi_gcp.__file__).parent, ("labels", "resource_labels"))
    gcp.update({token: prop for token, prop in LABEL_PROPERTY_OVERRIDES.items() if token in gcp})
    return {
        "sdk": {"pulumi-aws": _version("pulumi_aws"), "pulumi-gcp": _version("pulumi_gcp")},
        "aws_tags": sorted(aws),
        "gcp_labels": {token: _camel(prop) for token, prop in gcp.items()},
    }


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist.replace("_", "-"))


@cache
def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return data


def aws_taggable() -> frozenset[str]:
    """AWS resource types whose inputs include a ``tags`` map (provider default tags reach them)."""
    return frozenset(str(t) for t in _load()["aws_tags"])


def gcp_label_property() -> dict[str, str]:
    """GCP resource type -> the input property holding its labels (``labels`` or ``resourceLabels``)."""
    return {str(k): str(v) for k, v in _load()["gcp_labels"].items()}


if __name__ == "__main__":  # pragma: no cover - developer tool
    data = generate()
    if "--write" in sys.argv:
        DATA.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"{len(data['aws_tags'])} AWS taggable types, {len(data['gcp_labels'])} GCP labelled types")  # type: ignore[arg-type]
