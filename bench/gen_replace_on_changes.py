"""Generate ``catalog/replace_on_changes.json``: the input properties whose change makes the provider
replace a resource instead of updating it, for every resource type the six sample stacks emit.

Sources (read from git snapshots, never from memory; the commits are recorded in the output):

* GCP: ``hashicorp/terraform-provider-google`` (which pulumi-gcp bridges): a field with
  ``ForceNew: true`` in the resource's schema forces a replacement. Nested blocks are followed
  (``MaxItems: 1`` blocks are objects in Pulumi, others lists: ``block[*].field``).
* Kubernetes: ``pulumi/pulumi-kubernetes`` ``provider/pkg/provider/diff.go`` (``forceNew``: every
  kind's ``metadata.name`` / ``metadata.namespace`` plus per-kind fields) and ``helm_release.go``
  (a Release's ``name`` / ``namespace``).
* AWS: the terraform-provider-aws snapshot is too large to bring here, so ``AWS`` below is a hand
  table of the ``ForceNew`` / ``RequiresReplace`` arguments, each type citing the Terraform
  registry page that lists them as "Forces new resource".
* random: ``RandomPassword``: every argument forces a new password (terraform-provider-random's
  password resource marks each attribute ``RequiresReplace``).

Usage::

    python bench/gen_replace_on_changes.py GOOGLE_GIT_DIR KUBERNETES_GIT_DIR > catalog/replace_on_changes.json

where the git dirs are bare snapshots (``git show HEAD:path`` is used). Types of the stacks' plans
are listed from ``build/plan-*.json`` when present, else by planning every stack (slow, ~20 s).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# pulumi type -> (file in terraform-provider-google, Go symbol: a `func Name()` returning the
# resource, or a `var Name = map[string]*schema.Schema{`), possibly several merged.
GOOGLE = {
    "gcp:billing/budget:Budget": [("google/services/billingbudgets/resource_billing_budget.go", "ResourceBillingBudgetsBudget")],
    "gcp:bigquery/dataset:Dataset": [("google/services/bigquery/resource_bigquery_dataset.go", "ResourceBigQueryDataset")],
    "gcp:compute/firewall:Firewall": [("google/services/compute/resource_compute_firewall.go", "ResourceComputeFirewall")],
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": [
        ("google/services/logging/resource_logging_project_bucket_config.go", "loggingProjectBucketConfigSchema")
    ],
    # ResourceLoggingProjectSink takes resourceLoggingSinkSchema() and adds `project` (ForceNew) in code:
    # see GOOGLE_ADDED below
    "gcp:logging/projectSink:ProjectSink": [("google/services/logging/resource_logging_sink.go", "resourceLoggingSinkSchema")],
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": [
        ("google/tpgiamresource/resource_iam_audit_config.go", "iamAuditConfigSchema"),
        ("google/services/resourcemanager/iam_project.go", "IamProjectSchema"),
    ],
    "gcp:projects/service:Service": [
        ("google/services/resourcemanager/resource_google_project_service.go", "ResourceGoogleProjectService")
    ],
    "gcp:compute/globalAddress:GlobalAddress": [
        ("google/services/compute/resource_compute_global_address.go", "ResourceComputeGlobalAddress")
    ],
    "gcp:compute/network:Network": [("google/services/compute/resource_compute_network.go", "ResourceComputeNetwork")],
    "gcp:compute/router:Router": [("google/services/compute/resource_compute_router.go", "ResourceComputeRouter")],
    "gcp:compute/routerNat:RouterNat": [("google/services/compute/resource_compute_router_nat.go", "ResourceComputeRouterNat")],
    "gcp:compute/subnetwork:Subnetwork": [
        ("google/services/compute/resource_compute_subnetwork.go", "ResourceComputeSubnetwork")
    ],
    "gcp:container/cluster:Cluster": [("google/services/container/resource_container_cluster.go", "ResourceContainerCluster")],
    "gcp:container/nodePool:NodePool": [
        ("google/services/container/resource_container_node_pool.go", "ResourceContainerNodePool"),
        ("google/services/container/resource_container_node_pool.go", "schemaNodePool"),
    ],
    "gcp:kms/cryptoKey:CryptoKey": [("google/services/kms/resource_kms_crypto_key.go", "ResourceKMSCryptoKey")],
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": [
        ("google/tpgiamresource/resource_iam_member.go", "IamMemberBaseSchema"),
        ("google/services/kms/iam_kms_crypto_key.go", "IamKmsCryptoKeySchema"),
    ],
    "gcp:kms/keyRing:KeyRing": [("google/services/kms/resource_kms_key_ring.go", "ResourceKMSKeyRing")],
    "gcp:monitoring/notificationChannel:NotificationChannel": [
        ("google/services/monitoring/resource_monitoring_notification_channel.go", "ResourceMonitoringNotificationChannel")
    ],
    "gcp:projects/iAMMember:IAMMember": [
        ("google/tpgiamresource/resource_iam_member.go", "IamMemberBaseSchema"),
        ("google/services/resourcemanager/iam_project.go", "IamProjectSchema"),
    ],
    "gcp:redis/instance:Instance": [("google/services/redis/resource_redis_instance.go", "ResourceRedisInstance")],
    "gcp:secretmanager/secret:Secret": [
        ("google/services/secretmanager/resource_secret_manager_secret.go", "ResourceSecretManagerSecret")
    ],
    "gcp:secretmanager/secretVersion:SecretVersion": [
        ("google/services/secretmanager/resource_secret_manager_secret_version.go", "ResourceSecretManagerSecretVersion")
    ],
    "gcp:serviceaccount/account:Account": [
        ("google/services/resourcemanager/resource_google_service_account.go", "ResourceGoogleServiceAccount")
    ],
    "gcp:serviceaccount/iAMMember:IAMMember": [
        ("google/tpgiamresource/resource_iam_member.go", "IamMemberBaseSchema"),
        ("google/services/resourcemanager/iam_service_account.go", "IamServiceAccountSchema"),
    ],
    "gcp:servicenetworking/connection:Connection": [
        ("google/services/servicenetworking/resource_service_networking_connection.go", "ResourceServiceNetworkingConnection")
    ],
    "gcp:sql/database:Database": [("google/services/sql/resource_sql_database.go", "ResourceSQLDatabase")],
    "gcp:sql/databaseInstance:DatabaseInstance": [
        ("google/services/sql/resource_sql_database_instance.go", "ResourceSqlDatabaseInstance")
    ],
    "gcp:sql/user:User": [("google/services/sql/resource_sql_user.go", "ResourceSqlUser")],
    "gcp:storage/bucket:Bucket": [("google/services/storage/resource_storage_bucket.go", "ResourceStorageBucket")],
    "gcp:storage/bucketIAMMember:BucketIAMMember": [
        ("google/tpgiamresource/resource_iam_member.go", "IamMemberBaseSchema"),
        ("google/services/storage/iam_storage_bucket.go", "StorageBucketIamSchema"),
    ],
}
# ForceNew fields a resource adds to a shared schema in code (schm.Schema["x"] = &schema.Schema{ForceNew: true}).
GOOGLE_ADDED = {"gcp:logging/projectSink:ProjectSink": ["project"]}  # resource_logging_project_sink.go
# google_project_service_identity is in the google-beta provider only (not in this snapshot).
GOOGLE_BETA_ONLY = {"gcp:projects/serviceIdentity:ServiceIdentity": ["project", "service"]}

_R = "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/"
# pulumi type -> (Terraform registry page, arguments documented "Forces new resource", as Pulumi inputs)
AWS: dict[str, tuple[str, list[str]]] = {
    "aws:budgets/budget:Budget": ("budgets_budget", ["accountId", "name", "namePrefix"]),
    "aws:cloudtrail/trail:Trail": ("cloudtrail", ["name"]),
    "aws:cloudwatch/eventRule:EventRule": ("cloudwatch_event_rule", ["eventBusName", "name", "namePrefix"]),
    "aws:cloudwatch/eventTarget:EventTarget": ("cloudwatch_event_target", ["eventBusName", "rule", "targetId"]),
    "aws:cloudwatch/logGroup:LogGroup": ("cloudwatch_log_group", ["logGroupClass", "name", "namePrefix"]),
    "aws:ec2/eip:Eip": (
        "eip",
        ["address", "customerOwnedIpv4Pool", "domain", "ipamPoolId", "networkBorderGroup", "publicIpv4Pool"],
    ),
    "aws:ec2/internetGateway:InternetGateway": ("internet_gateway", []),
    "aws:ec2/launchTemplate:LaunchTemplate": ("launch_template", ["name", "namePrefix"]),
    "aws:ec2/natGateway:NatGateway": ("nat_gateway", ["allocationId", "connectivityType", "privateIp", "subnetId"]),
    "aws:ec2/routeTable:RouteTable": ("route_table", ["vpcId"]),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("route_table_association", ["gatewayId", "subnetId"]),
    "aws:ec2/securityGroup:SecurityGroup": ("security_group", ["description", "name", "namePrefix", "vpcId"]),
    "aws:ec2/subnet:Subnet": ("subnet", ["availabilityZone", "availabilityZoneId", "cidrBlock", "outpostArn", "vpcId"]),
    "aws:ec2/tag:Tag": ("ec2_tag", ["key", "resourceId"]),
    "aws:ec2/vpc:Vpc": ("vpc", ["cidrBlock", "instanceTenancy", "ipv4IpamPoolId", "ipv4NetmaskLength"]),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("vpc_endpoint", ["serviceName", "vpcEndpointType", "vpcId"]),
    "aws:eks/accessEntry:AccessEntry": ("eks_access_entry", ["clusterName", "principalArn", "type"]),
    "aws:eks/addon:Addon": ("eks_addon", ["addonName", "clusterName"]),
    "aws:eks/cluster:Cluster": (
        "eks_cluster",
        # encryption_config is not ForceNew in the source read (a key can be added in place; changing it
        # is not modelled here): left out rather than guessed
        [
            "bootstrapSelfManagedAddons",
            "kubernetesNetworkConfig.ipFamily",
            "kubernetesNetworkConfig.serviceIpv4Cidr",
            "name",
            "outpostConfig",
            "roleArn",
            "accessConfig.bootstrapClusterCreatorAdminPermissions",
        ],
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        "eks_node_group",
        [
            "amiType",
            "capacityType",
            "clusterName",
            "diskSize",
            "instanceTypes",
            "nodeGroupName",
            "nodeGroupNamePrefix",
            "nodeRoleArn",
            "remoteAccess",
            "subnetIds",
        ],
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "elasticache_replication_group",
        [
            "atRestEncryptionEnabled",
            "kmsKeyId",
            "networkType",
            "preferredCacheClusterAzs",
            "replicationGroupId",
            "snapshotArns",
            "snapshotName",
            "subnetGroupName",
        ],
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": ("elasticache_subnet_group", ["name"]),
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": ("iam_service_linked_role", ["awsServiceName", "customSuffix"]),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("iam_openid_connect_provider", ["url"]),
    "aws:iam/role:Role": ("iam_role", ["name", "namePrefix", "path"]),
    "aws:iam/rolePolicy:RolePolicy": ("iam_role_policy", ["name", "namePrefix", "role"]),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("iam_role_policy_attachment", ["policyArn", "role"]),
    "aws:kms/alias:Alias": ("kms_alias", ["name", "namePrefix"]),
    "aws:kms/key:Key": (
        "kms_key",
        ["bypassPolicyLockoutSafetyCheck", "customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"],
    ),
    "aws:rds/instance:Instance": (
        "db_instance",
        [
            "availabilityZone",
            "characterSetName",
            "customIamInstanceProfile",
            "dbName",
            "engine",
            "identifier",
            "identifierPrefix",
            "kmsKeyId",
            "ncharCharacterSetName",
            "restoreToPointInTime",
            "s3Import.bucketName",
            "s3Import.bucketPrefix",
            "s3Import.ingestionRole",
            "s3Import.sourceEngine",
            "s3Import.sourceEngineVersion",
            "snapshotIdentifier",
            "storageEncrypted",
            "timezone",
            "username",
        ],
    ),
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication": (
        "db_instance_automated_backups_replication",
        ["kmsKeyId", "preSignedUrl", "retentionPeriod", "sourceDbInstanceArn"],
    ),
    "aws:rds/parameterGroup:ParameterGroup": ("db_parameter_group", ["description", "family", "name", "namePrefix"]),
    "aws:rds/subnetGroup:SubnetGroup": ("db_subnet_group", ["name", "namePrefix"]),
    "aws:s3/bucket:Bucket": ("s3_bucket", ["bucket", "bucketPrefix", "objectLockEnabled"]),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "s3_bucket_lifecycle_configuration",
        ["bucket", "expectedBucketOwner"],
    ),
    "aws:s3/bucketLogging:BucketLogging": ("s3_bucket_logging", ["bucket", "expectedBucketOwner"]),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": (
        "s3_bucket_object_lock_configuration",
        ["bucket", "expectedBucketOwner", "objectLockEnabled"],
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ("s3_bucket_ownership_controls", ["bucket"]),
    "aws:s3/bucketPolicy:BucketPolicy": ("s3_bucket_policy", ["bucket"]),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("s3_bucket_public_access_block", ["bucket"]),
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": ("s3_bucket_replication_configuration", ["bucket"]),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "s3_bucket_server_side_encryption_configuration",
        ["bucket", "expectedBucketOwner"],
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("s3_bucket_versioning", ["bucket", "expectedBucketOwner"]),
    "aws:secretsmanager/secret:Secret": ("secretsmanager_secret", ["name", "namePrefix"]),
    "aws:secretsmanager/secretVersion:SecretVersion": (
        "secretsmanager_secret_version",
        ["secretBinary", "secretId", "secretString"],
    ),
    "aws:sqs/queue:Queue": ("sqs_queue", ["fifoQueue", "name", "namePrefix"]),
    "aws:sqs/queuePolicy:QueuePolicy": ("sqs_queue_policy", ["queueUrl"]),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("vpc_security_group_ingress_rule", ["securityGroupId"]),
}

# The AWS entries read against terraform-provider-aws source in the public code index (file@commit);
# the others are from the registry pages and not checked against a schema here.
AWS_CHECKED = {
    "aws:rds/instance:Instance": "internal/service/rds/instance.go@00e4b23838859616dd0ebc9d1fd9364c0f6bff22",
    "aws:s3/bucket:Bucket": "internal/service/s3/bucket.go (a v5 version: bucket, bucket_prefix, object_lock_enabled ForceNew)",
    "aws:eks/cluster:Cluster": "internal/service/eks/cluster.go@e33a89d079930e92c79a986c9c041c5ed5191639 (name, role_arn, "
    "kubernetes_network_config.*; an older version: the newer arguments are from the registry page)",
}

RANDOM = {
    "random:index/randomString:RandomString": [
        "keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper", "number", "numeric", "overrideSpecial", "special", "upper",
    ],
    "random:index/randomPassword:RandomPassword": [
        "keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper", "number", "numeric", "overrideSpecial", "special", "upper",
    ],
}  # fmt: skip


# ---------------------------------------------------------------- a small Go reader


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    i += 1
    while i < len(text):
        if quote != "`" and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return i


def close_of(text: str, open_at: int) -> int:
    """Index of the ``}`` matching the ``{`` at ``open_at`` (strings and comments skipped)."""
    depth, i = 0, open_at
    while i < len(text):
        c = text[i]
        if c in "\"`'":
            i = _skip_string(text, i)
            continue
        if text.startswith("//", i):
            i = text.find("\n", i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError("unbalanced braces")


def top_level(body: str) -> str:
    """``body`` with everything inside nested braces blanked out (keeps this level's fields only)."""
    out, depth, i = [], 0, 0
    while i < len(body):
        c = body[i]
        if c in "\"`'":
            j = _skip_string(body, i)
            out.append(body[i:j] if depth == 0 else " " * (j - i))
            i = j
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        out.append(c if depth == 0 and c not in "{}" else " ")
        i += 1
    return "".join(out)


_ENTRY = re.compile(r'"([a-z0-9_]+)"\s*:\s*\{')


def schema_entries(text: str, open_at: int, prefix: str = "") -> list[str]:
    """ForceNew paths (Pulumi camelCase) in the schema map literal whose ``{`` is at ``open_at``."""
    end = close_of(text, open_at)
    found: list[str] = []
    i = open_at + 1
    while True:
        m = _ENTRY.search(text, i, end)
        if not m:
            break
        brace = m.end() - 1
        stop = close_of(text, brace)
        # skip entries that are not directly at this map's level
        if top_level(text[open_at + 1 : m.start()]).count("{") == 0 and _depth(text, open_at, m.start()) == 1:
            body = text[brace + 1 : stop]
            flat = top_level(body)
            name = camel(m.group(1))
            path = f"{prefix}{name}"
            if re.search(r"\bForceNew:\s*true\b", flat):
                found.append(path)
            inner = re.search(r"Elem:\s*&schema\.Resource\{", body)
            if inner and _depth(body, 0, inner.start(), start_depth=0) == 0:
                res_open = brace + 1 + inner.end() - 1
                res_body = text[res_open + 1 : close_of(text, res_open)]
                sm = re.search(r"Schema:\s*map\[string\]\*schema\.Schema\{", res_body)
                if sm:
                    one = re.search(r"\bMaxItems:\s*1\b", flat)
                    sub = f"{path}." if one else f"{path}[*]."
                    found += schema_entries(text, res_open + 1 + sm.end() - 1, sub)
        i = stop + 1
    return found


def _depth(text: str, start: int, pos: int, start_depth: int = 0) -> int:
    depth, i = start_depth, start
    while i < pos:
        c = text[i]
        if c in "\"`'":
            i = _skip_string(text, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    return depth


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def resource_schema_open(text: str, symbol: str) -> int:
    """The ``{`` of the resource's (or variable's) top-level schema map."""
    var = re.search(rf"\bvar {symbol}\s*=\s*map\[string\]\*schema\.Schema\{{", text)
    if var:
        return var.end() - 1
    maker = re.search(
        rf"\bfunc {symbol}\(\)\s*map\[string\]\*schema\.Schema\s*\{{\s*return map\[string\]\*schema\.Schema\{{", text
    )
    if maker:  # a function returning the schema map literal
        return maker.end() - 1
    fn = re.search(rf"\bfunc {symbol}\(\)\s*\*schema\.Resource\s*\{{", text)
    if not fn:
        raise LookupError(symbol)
    ret = re.search(r"return &schema\.Resource\{", text[fn.end() :])
    if not ret:
        raise LookupError(f"{symbol}: no return &schema.Resource")
    res_open = fn.end() + ret.end() - 1
    body = text[res_open + 1 : close_of(text, res_open)]
    flat = top_level(body)
    m = re.search(r"\bSchema:\s*", flat)
    if not m:
        raise LookupError(f"{symbol}: no Schema field")
    lit = re.compile(r"map\[string\]\*schema\.Schema\{").search(body, m.end())
    if lit is None:
        raise LookupError(f"{symbol}: Schema is not a map literal")
    return res_open + 1 + lit.end() - 1


def git_show(git_dir: str, path: str) -> str:
    return subprocess.run(["git", "-C", git_dir, "show", f"HEAD:{path}"], check=True, capture_output=True, text=True).stdout


def git_head(git_dir: str) -> dict[str, str]:
    out = subprocess.run(
        ["git", "-C", git_dir, "log", "-1", "--format=%H %cI"], check=True, capture_output=True, text=True
    ).stdout.split()
    return {"commit": out[0], "date": out[1]}


# ---------------------------------------------------------------- Kubernetes


def kubernetes_table(git_dir: str) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """(kind table ``group/version/Kind`` -> fields, metadata fields, Helm Release fields) from diff.go / helm_release.go."""
    diff_go = git_show(git_dir, "provider/pkg/provider/diff.go")
    helm_go = git_show(git_dir, "provider/pkg/provider/helm_release.go")
    meta = [
        f"metadata{s}"
        for s in re.findall(r'prefix \+ "(\.[a-z]+)"', diff_go[diff_go.index("func metadataForceNewProperties") :])[:2]
    ]
    force_new = re.search(r"forceNewFields := \[\]string\{([^}]*)\}", helm_go)
    if force_new is None:
        raise LookupError("helm_release.go: no forceNewFields list")
    helm = [f.lstrip(".") for f in re.findall(r'"(\.[a-zA-Z]+)"', force_new.group(1))]

    def props(expr: str) -> list[str]:
        """Fields of ``properties{...}``, ``append(properties{...}, fn(".x")...)`` or a ``var``'s expression."""
        expr = expr.strip().rstrip(",")
        if re.fullmatch(r"[a-zA-Z]+", expr):  # a variable: daemonset, job, ...
            m = re.search(rf"\nvar {expr} = ", diff_go)
            if m is None:
                raise LookupError(f"diff.go: no var {expr}")
            return props(diff_go[m.end() : _expr_end(diff_go, m.end())])
        calls = list(re.finditer(r"(labelSelector|container)ForceNewProperties\(([^)]*)\)", expr))
        literal = expr
        for call in calls:
            literal = literal.replace(call.group(0), "")
        fields = re.findall(r'"(\.[A-Za-z.\[\]*]+)"', literal)
        for call in calls:
            fn_body = diff_go[diff_go.index(f"func {call.group(1)}ForceNewProperties") :]
            suffixes = re.findall(r'prefix \+ "(\.[A-Za-z.]+)"', fn_body[: fn_body.index("\n}\n")])
            fields += [prefix + s for prefix in re.findall(r'"([^"]+)"', call.group(2)) for s in suffixes]
        return sorted({f.lstrip(".") for f in fields})

    kinds: dict[str, list[str]] = {}
    core = diff_go[diff_go.index("var core = _versions{") :]
    core = core[: close_of(core, core.index("{")) + 1]
    # explicit walk over the nested literal: groups -> versions -> kinds
    groups_text = diff_go[diff_go.index("var forceNew = _groups{") :]
    groups_text = groups_text[: close_of(groups_text, groups_text.index("{")) + 1]
    for group, gbody in _kv_blocks(groups_text):
        versions = core if gbody.strip() == "core" else gbody
        for version, vbody in _kv_blocks(versions):
            for kind, kexpr in _kv_exprs(vbody):
                kinds[f"{group or 'core'}/{version}/{kind}"] = props(kexpr)
    return kinds, meta, helm


def _scan_to(text: str, start: int, stop: str, end: int | None = None) -> int:
    """Index of the first ``stop`` character at bracket depth 0 from ``start`` (strings skipped), or ``end``."""
    depth, i, end = 0, start, len(text) if end is None else end
    while i < end:
        c = text[i]
        if c in '"`':
            i = _skip_string(text, i)
            continue
        if c in "({":
            depth += 1
        elif c in ")}":
            depth -= 1
        elif c == stop and depth == 0:
            return i
        i += 1
    return i


def _expr_end(text: str, start: int) -> int:
    return _scan_to(text, start, "\n")


def _top_level_pairs(text: str, key: str, value: Callable[[str, int, int], tuple[str, int]]) -> list[tuple[str, str]]:
    """``"key": value`` pairs directly inside the outermost literal of ``text``; ``value(text, start, end)``
    returns the value's text and where to continue."""
    open_at = text.index("{")
    end = close_of(text, open_at)
    out, i = [], open_at + 1
    pat = re.compile(rf'"({key})"\s*:\s*')
    while m := pat.search(text, i, end):
        if _depth(text, open_at, m.start()) != 1:
            i = m.end()
            continue
        found, i = value(text, m.end(), end)
        out.append((m.group(1), found))
    return out


def _block_or_ident(text: str, j: int, end: int) -> tuple[str, int]:
    ident = re.match(r"([a-zA-Z]+)\s*,", text[j:])
    if ident:
        return ident.group(1), j + ident.end()
    stop = close_of(text, text.find("{", j))
    return text[j : stop + 1], stop + 1


def _expr_to_comma(text: str, j: int, end: int) -> tuple[str, int]:
    k = _scan_to(text, j, ",", end)
    return text[j:k], k + 1


def _kv_blocks(text: str) -> list[tuple[str, str]]:
    """``"key": X{...}`` or ``"key": ident`` pairs directly inside the outermost literal of ``text``."""
    return _top_level_pairs(text, r"[^\"]*", _block_or_ident)


def _kv_exprs(text: str) -> list[tuple[str, str]]:
    """``"Kind": expr`` pairs inside a ``_kinds{...}`` literal (expr up to the next top-level comma)."""
    return _top_level_pairs(text, r"[A-Za-z]+", _expr_to_comma)


def kubernetes_props(type_: str, kinds: dict[str, list[str]], meta: list[str], helm: list[str]) -> list[str]:
    if type_ == "kubernetes:helm.sh/v3:Release":
        return sorted(helm)
    _, group_version, kind = type_.split(":")
    group, version = group_version.split("/") if "/" in group_version else ("core", group_version)
    return sorted(set(meta) | set(kinds.get(f"{group}/{version}/{kind}", [])))


# ---------------------------------------------------------------- stacks


def emitted_types() -> list[str]:
    plans = sorted((ROOT / "build").glob("plan-*.json"))
    types: set[str] = set()
    if plans:
        for p in plans:
            types |= {r["type"] for r in json.loads(p.read_text())["resources"] if r["custom"]}
    else:
        sys.path.insert(0, str(ROOT))
        from infra.plan import engine

        for f in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
            types |= {r.type for r in engine.plan(f.name[len("Pulumi.") : -len(".yaml")]).resources if r.custom}
    return sorted(t for t in types if not t.startswith("pulumi:providers:"))


def main(google_dir: str, kubernetes_dir: str) -> None:
    kinds, meta, helm = kubernetes_table(kubernetes_dir)
    table: dict[str, dict[str, object]] = {}
    missing = []
    for type_ in emitted_types():
        if type_ in GOOGLE:
            props: list[str] = []
            for path, symbol in GOOGLE[type_]:
                text = git_show(google_dir, path)
                props += schema_entries(text, resource_schema_open(text, symbol))
            props += GOOGLE_ADDED.get(type_, [])
            table[type_] = {
                "properties": sorted(set(props)),
                "source": "terraform-provider-google: " + ", ".join(p for p, _ in GOOGLE[type_]),
            }
        elif type_ in GOOGLE_BETA_ONLY:
            table[type_] = {
                "properties": GOOGLE_BETA_ONLY[type_],
                "source": "hand: google_project_service_identity (google-beta) project, service",
            }
        elif type_ in AWS:
            page, props = AWS[type_]
            checked = AWS_CHECKED.get(type_)
            how = f"checked against terraform-provider-aws {checked}" if checked else "not checked against the schema here"
            table[type_] = {"properties": sorted(props), "source": f"hand, from {_R}{page}; {how}"}
        elif type_ in RANDOM:
            table[type_] = {
                "properties": RANDOM[type_],
                "source": "hand: terraform-provider-random password / string (every argument RequiresReplace)",
            }
        elif type_.startswith("kubernetes:"):
            table[type_] = {
                "properties": kubernetes_props(type_, kinds, meta, helm),
                "source": "pulumi-kubernetes: provider/pkg/provider/" + ("helm_release.go" if "helm.sh" in type_ else "diff.go"),
            }
        else:
            missing.append(type_)
    if missing:
        raise SystemExit(f"no replace-on-change source for: {', '.join(missing)}")
    doc = {
        "about": "Input properties (Pulumi names, dotted; [*] = any list item) whose change replaces the resource. "
        "Generated by bench/gen_replace_on_changes.py; do not edit by hand.",
        "sources": {
            "hashicorp/terraform-provider-google": git_head(google_dir),
            "pulumi/pulumi-kubernetes": git_head(kubernetes_dir),
            "aws": "hand table in bench/gen_replace_on_changes.py citing registry.terraform.io (terraform-provider-aws too large to snapshot)",
        },
        "types": table,
    }
    print(json.dumps(doc, indent=1, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
