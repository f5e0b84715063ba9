"""Mocks for the offline plan: fill the outputs a cloud would compute, answer known invokes.

Every invoke the program makes must have a handler in :data:`INVOKES`; an unknown one raises
:class:`UnknownInvokeError`, because an unmocked invoke would silently return an empty result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pulumi

if TYPE_CHECKING:
    from infra.plan.recorder import RecordingMonitor

ACCOUNT_ID = "123456789012"
GCP_PROJECT_NUMBER = "123456789012"


class UnknownInvokeError(RuntimeError):
    """The program called an invoke the offline plan does not know."""


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# ---- invokes ---------------------------------------------------------------------------------

InvokeHandler = Callable[[dict[str, Any], str | None], dict[str, Any]]


def _azs(args: dict[str, Any], region: str | None) -> dict[str, Any]:
    region = region or "us-east-1"
    letters = "abcdef"
    return {
        "names": [f"{region}{x}" for x in letters[:6]],
        "zoneIds": [f"{region[:3]}{region.split('-')[-1]}-az{i + 1}" for i in range(6)],
        "id": region,
        "state": args.get("state", "available"),
        "groupNames": [region],
    }


def _caller(args: dict[str, Any], region: str | None) -> dict[str, Any]:
    return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/plan", "userId": "AIDAPLAN", "id": ACCOUNT_ID}


def _partition(args: dict[str, Any], region: str | None) -> dict[str, Any]:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}


def _region(args: dict[str, Any], region: str | None) -> dict[str, Any]:
    name = region or "us-east-1"
    return {"name": name, "region": name, "id": name, "endpoint": f"ec2.{name}.amazonaws.com", "description": name}


def _gcs_agent(args: dict[str, Any], region: str | None) -> dict[str, Any]:
    project = args.get("project", "project")
    email = f"service-{GCP_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
    return {"emailAddress": email, "project": project, "member": f"serviceAccount:{email}", "id": email}


def _gcp_project(args: dict[str, Any], region: str | None) -> dict[str, Any]:
    project = args.get("projectId", "project")
    return {"projectId": project, "number": GCP_PROJECT_NUMBER, "name": project, "id": f"projects/{project}"}


def _gcp_zones(args: dict[str, Any], region: str | None) -> dict[str, Any]:
    region = args.get("region") or region or "us-central1"
    return {"names": [f"{region}-{x}" for x in "abcf"], "region": region, "id": region}


INVOKES: dict[str, InvokeHandler] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _azs,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller,
    "aws:index/getPartition:getPartition": _partition,
    "aws:index/getRegion:getRegion": _region,
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": _gcs_agent,
    "gcp:organizations/getProject:getProject": _gcp_project,
    "gcp:compute/getZones:getZones": _gcp_zones,
}


# ---- computed outputs ------------------------------------------------------------------------

Filler = Callable[[str, dict[str, Any], str | None], dict[str, Any]]


def _arn(service: str, region: str | None, resource: str, *, account: bool = True) -> str:
    return f"arn:aws:{service}:{region or ''}:{ACCOUNT_ID if account else ''}:{resource}"


def _bucket(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    bucket = inputs.get("bucket") or f"{name}-{_short(name)}"
    return {
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
        "region": region,
    }


def _kms(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    key_id = f"mrk-{_short(name)}"
    return {"keyId": key_id, "arn": _arn("kms", region, f"key/{key_id}")}


def _eks(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    cluster = inputs.get("name") or name
    return {
        "name": cluster,
        "arn": _arn("eks", region, f"cluster/{cluster}"),
        "endpoint": f"https://{_short(name).upper()}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{_short(name).upper()}"}]}],
        "clusterSecurityGroupId": f"sg-{_short(name + 'cluster')}",
        "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_short(name + 'cluster')}"},
        "status": "ACTIVE",
    }


def _named_arn(service: str, kind: str, *, regional: bool = True) -> Filler:
    def fill(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
        res_name = inputs.get("name") or f"{name}-{_short(name)}"
        return {"name": res_name, "arn": _arn(service, region if regional else "", f"{kind}{res_name}")}

    return fill


def _sqs(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    queue = inputs.get("name") or f"{name}-{_short(name)}"
    return {"name": queue, "arn": _arn("sqs", region, queue), "url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{queue}"}


def _rds(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    ident = inputs.get("identifier") or f"{name}-{_short(name)}"
    host = f"{ident}.c{_short(name)}.{region}.rds.amazonaws.com"
    return {
        "identifier": ident,
        "arn": _arn("rds", region, f"db:{ident}"),
        "address": host,
        "endpoint": f"{host}:5432",
        "port": inputs.get("port", 5432),
        "resourceId": f"db-{_short(name).upper()}",
    }


def _redis(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    ident = inputs.get("replicationGroupId") or name
    return {
        "arn": _arn("elasticache", region, f"replicationgroup:{ident}"),
        "primaryEndpointAddress": f"master.{ident}.{_short(name)}.use1.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{ident}.{_short(name)}.use1.cache.amazonaws.com",
        "port": inputs.get("port", 6379),
    }


def _oidc(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    url = str(inputs.get("url", "")).removeprefix("https://")
    return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"}


def _gcp_sa(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    project = inputs.get("project", "project")
    email = f"{inputs.get('accountId', name)}@{project}.iam.gserviceaccount.com"
    return {"email": email, "member": f"serviceAccount:{email}", "name": f"projects/{project}/serviceAccounts/{email}"}


def _gcp_named(kind: str) -> Filler:
    def fill(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
        res_name = inputs.get("name") or f"{name}-{_short(name)}"
        project = inputs.get("project", "project")
        return {
            "name": res_name,
            "selfLink": f"https://www.googleapis.com/compute/v1/projects/{project}/{kind}/{res_name}",
        }

    return fill


def _gke(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    return {
        "endpoint": f"10.{int(_short(name), 16) % 200}.0.2",
        "masterAuth": {"clusterCaCertificate": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="},
        "selfLink": f"https://container.googleapis.com/v1/projects/{inputs.get('project', 'project')}/locations/{inputs.get('location')}/clusters/{inputs.get('name')}",
    }


def _gcp_key_ring(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    return {"id": f"projects/{inputs.get('project', 'project')}/locations/{inputs.get('location')}/keyRings/{inputs.get('name')}"}


def _cloud_sql(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    return {
        "privateIpAddress": "10.100.0.3",
        "connectionName": f"{inputs.get('project', 'project')}:{inputs.get('region')}:{inputs.get('name', name)}",
    }


def _memorystore(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    return {
        "host": "10.100.1.4",
        "port": 6378,
        "serverCaCerts": [{"cert": "CERT"}],
        "authString": "plan-redis-auth-" + _short(name),
    }


_GCP_AGENT_DOMAINS = {
    "container.googleapis.com": "container-engine-robot",
    "sqladmin.googleapis.com": "gcp-sa-cloud-sql",
    "redis.googleapis.com": "cloud-redis",
    "compute.googleapis.com": "compute-system",  # the Compute Engine Service Agent
}


def _gcp_service_identity(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    service = str(inputs.get("service", "unknown.googleapis.com"))
    domain = _GCP_AGENT_DOMAINS.get(service, "gcp-sa-" + service.split(".")[0])
    email = f"service-{GCP_PROJECT_NUMBER}@{domain}.iam.gserviceaccount.com"
    return {"email": email, "member": f"serviceAccount:{email}"}


def _slr_name(inputs: dict[str, Any]) -> str:
    from components.aws.service_linked_roles import ROLE_NAMES

    return ROLE_NAMES.get(str(inputs.get("awsServiceName")), "AWSServiceRoleFor" + str(inputs.get("awsServiceName")))


def _random(kind: str) -> Filler:
    def fill(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
        length = int(inputs.get("length", 16))
        value = (f"plan{kind}{_short(name)}" * 8)[:length]
        return {"result": value, "bcryptHash": "$2a$10$" + value} if kind == "pw" else {"result": value}

    return fill


def _stack_reference(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    """What a fleet worker stack exports, from its stack file (the real engine reads its last deployment).

    A stack that is not a fleet worker exports nothing, so ``require_output`` fails the plan loudly."""
    from infra import config
    from infra.layers import k8s_fleet

    stack = str(inputs.get("name", "")).rsplit("/", 1)[-1]
    try:
        peer = config.load_stack(stack)
    except config.ConfigError:
        return {"outputs": {}, "secretOutputNames": []}
    if peer.fleet.role != "worker":
        return {"outputs": {}, "secretOutputNames": []}
    stand_in = f"apiVersion: v1\nkind: Config\n# offline plan: {stack}'s kubeconfig output\n"
    outputs = {k8s_fleet.KUBECONFIG_OUTPUT: stand_in, k8s_fleet.TEAMS_OUTPUT: [t.name for t in peer.teams]}
    return {"outputs": outputs, "secretOutputNames": [k8s_fleet.KUBECONFIG_OUTPUT]}


def _k8s_secret(name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
    """The token controller fills a service-account-token Secret's ``token`` and ``ca.crt`` (base64)."""
    if inputs.get("type") != "kubernetes.io/service-account-token":
        return {}
    import base64

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {"data": {"token": b64(f"plan-token-{_short(name)}"), "ca.crt": b64("PLAN CA"), "namespace": b64("kueue-system")}}


FILLERS: dict[str, Filler] = {
    "pulumi:pulumi:StackReference": _stack_reference,
    "kubernetes:core/v1:Secret": _k8s_secret,
    "random:index/randomPassword:RandomPassword": _random("pw"),
    "random:index/randomString:RandomString": _random("str"),
    "aws:s3/bucket:Bucket": _bucket,
    "aws:kms/key:Key": _kms,
    "aws:eks/cluster:Cluster": _eks,
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs, region: {"latestVersion": 1, "defaultVersion": 1},
    "aws:iam/role:Role": _named_arn("iam", "role/", regional=False),
    "aws:iam/policy:Policy": _named_arn("iam", "policy/", regional=False),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc,
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": lambda name, inputs, region: {
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/{inputs.get('awsServiceName')}/{_slr_name(inputs)}",
        "name": _slr_name(inputs),
        "path": f"/aws-service-role/{inputs.get('awsServiceName')}/",
    },
    "aws:sqs/queue:Queue": _sqs,
    "aws:rds/instance:Instance": _rds,
    "aws:rds/subnetGroup:SubnetGroup": _named_arn("rds", "subgrp:"),
    "aws:elasticache/replicationGroup:ReplicationGroup": _redis,
    "aws:secretsmanager/secret:Secret": _named_arn("secretsmanager", "secret:"),
    "aws:cloudwatch/eventRule:EventRule": _named_arn("events", "rule/"),
    "aws:sns/topic:Topic": _named_arn("sns", ""),
    "aws:amp/workspace:Workspace": _named_arn("aps", "workspace/"),
    "aws:amp/scraper:Scraper": lambda name, inputs, region: {
        "arn": f"arn:aws:aps:{region}:123456789012:scraper/s-{name}",
        "roleArn": f"arn:aws:iam::123456789012:role/aws-service-role/scraper.aps.amazonaws.com/AWSServiceRoleForAmazonPrometheusScraper_{name}",
    },
    "gcp:serviceaccount/account:Account": _gcp_sa,
    "gcp:compute/network:Network": _gcp_named("global/networks"),
    "gcp:compute/subnetwork:Subnetwork": _gcp_named("regions/subnetworks"),
    "gcp:container/cluster:Cluster": _gke,
    "gcp:kms/keyRing:KeyRing": _gcp_key_ring,
    "gcp:sql/databaseInstance:DatabaseInstance": _cloud_sql,
    "gcp:redis/instance:Instance": _memorystore,
    "gcp:projects/serviceIdentity:ServiceIdentity": _gcp_service_identity,
}

ID_OVERRIDES: dict[str, Callable[[str, dict[str, Any]], str]] = {
    "aws:s3/bucket:Bucket": lambda name, out: out["bucket"],
    "aws:kms/key:Key": lambda name, out: out["keyId"],
    "aws:ec2/vpc:Vpc": lambda name, out: f"vpc-{_short(name)}",
    "aws:ec2/subnet:Subnet": lambda name, out: f"subnet-{_short(name)}",
    "aws:ec2/securityGroup:SecurityGroup": lambda name, out: f"sg-{_short(name)}",
    "aws:iam/role:Role": lambda name, out: out["name"],
    "gcp:kms/keyRing:KeyRing": lambda name, out: out["id"],
    "gcp:kms/cryptoKey:CryptoKey": lambda name, out: f"{out.get('keyRing')}/cryptoKeys/{out.get('name', name)}",
}


class PlanMocks(pulumi.runtime.Mocks):
    """Fill computed outputs per resource type and answer the invokes in :data:`INVOKES`."""

    def __init__(self) -> None:
        self.monitor: RecordingMonitor | None = None
        self.unknown_invokes: list[str] = []

    def _region_of(self, provider_ref: str | None, inputs: dict[str, Any] | None = None) -> str | None:
        if inputs and inputs.get("region"):
            return str(inputs["region"])
        if provider_ref and self.monitor is not None:
            urn = provider_ref.split("::" + provider_ref.rsplit("::", 1)[-1])[0] if "::" in provider_ref else provider_ref
            provider = self.monitor.inputs_by_urn.get(urn, {})
            return provider.get("region")
        return None

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        inputs = dict(args.inputs)
        region = self._region_of(args.provider, inputs)
        filler = FILLERS.get(args.typ)
        computed = filler(args.name, inputs, region) if filler else {}
        if args.typ.startswith("aws:") and "arn" not in computed and "arn" not in inputs:
            service = args.typ.split(":")[1].split("/")[0]
            computed["arn"] = _arn(service, region, f"{args.name}-{_short(args.name)}")
        if args.typ.startswith("kubernetes:") and args.typ != "kubernetes:helm.sh/v3:Release":
            meta = dict(inputs.get("metadata") or {})
            meta.setdefault("name", f"{args.name}-{_short(args.name)}")
            computed["metadata"] = meta
        if args.typ == "kubernetes:helm.sh/v3:Release":
            computed["status"] = {
                "name": inputs.get("name", args.name),
                "namespace": inputs.get("namespace"),
                "status": "deployed",
            }
        state = {**inputs, **computed}
        make_id = ID_OVERRIDES.get(args.typ)
        resource_id = make_id(args.name, state) if make_id else f"{args.name}-{_short(args.typ + args.name)}"
        state.setdefault("id", resource_id)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]  # the SDK takes a bare dict too (MockMonitor.Invoke)
        handler = INVOKES.get(args.token)
        if handler is None:
            self.unknown_invokes.append(args.token)
            raise UnknownInvokeError(
                f"the offline plan has no mock for invoke {args.token!r}; add one to infra/plan/mocks.py INVOKES"
            )
        return handler(dict(args.args), self._region_of(args.provider))
