"""``ops bootstrap-ci``: the identities GitHub Actions assumes, trusted for this repository only.

AWS (created here, idempotent): the GitHub OIDC provider ``token.actions.githubusercontent.com``
and two roles whose trust policies name exact ``sub`` claims (``StringEquals``, no wildcards) and
the ``sts.amazonaws.com`` audience:

- ``mlp-ci-deploy`` (``AWS_DEPLOY_ROLE_ARN``): only ``repo:<owner>/<repo>:ref:refs/heads/main`` and
  the deploy environments ``repo:<owner>/<repo>:environment:<name>`` (``deploy.yml``'s jobs run
  in the ``development``, ``staging`` and ``production`` environments: a job with an environment
  gets the environment's ``sub``, not the ref's; restrict those environments to ``main`` in
  GitHub's deployment branch rules and require a reviewer on ``production``);
- ``mlp-ci-preview`` (``AWS_PREVIEW_ROLE_ARN``): only ``repo:<owner>/<repo>:pull_request``.

GCP (printed as ``gcloud`` commands; no Google client library here): a workload identity pool
provider whose attribute condition admits this repository only, and ``workloadIdentityUser``
bindings of the deploy / preview service accounts to exactly those subjects.

Permissions of the roles are yours to attach (``--deploy-policy-arn`` / ``--preview-policy-arn``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog import conventions as cv
from infra.ops.aws import Clients, error_code

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
DEPLOY_ROLE, PREVIEW_ROLE = "mlp-ci-deploy", "mlp-ci-preview"
DEPLOY_ENVIRONMENTS = ("development", "staging", "production")
REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_ENV = re.compile(r"^[A-Za-z0-9 _.-]{1,255}$")


def check_repo(repo: str) -> str:
    if not REPO.match(repo) or repo.endswith((".git", "/")):
        raise ValueError(f"--repo {repo!r}: give the GitHub repository as owner/name (no URL, no wildcard)")
    return repo


def deploy_subjects(repo: str, environments: Sequence[str] = DEPLOY_ENVIRONMENTS) -> list[str]:
    for env in environments:
        if not _ENV.match(env) or "*" in env:
            raise ValueError(f"--deploy-environment {env!r}: a GitHub environment name (no wildcard)")
    return [f"repo:{repo}:ref:refs/heads/main", *(f"repo:{repo}:environment:{e}" for e in environments)]


def preview_subjects(repo: str) -> list[str]:
    return [f"repo:{repo}:pull_request"]


def trust_policy(*, account_id: str, subjects: Sequence[str], partition: str = "aws") -> dict[str, Any]:
    """Trust GitHub's OIDC tokens for exactly these ``sub`` claims and our audience."""
    if not subjects or any("*" in s or "?" in s for s in subjects):
        raise ValueError(f"subjects {list(subjects)}: exact subjects only")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:{partition}:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE, f"{GITHUB_OIDC_HOST}:sub": list(subjects)}},
            }
        ],
    }


def gcp_attribute_condition(repo: str, subjects: Sequence[str]) -> str:
    """CEL for the workload identity provider: this repository and these subjects only."""
    listed = ", ".join(f"'{s}'" for s in subjects)
    return f"assertion.repository == '{repo}' && assertion.sub in [{listed}]"


def gcp_commands(
    *,
    repo: str,
    project: str,
    project_number: str,
    pool: str,
    deploy_sa: str,
    preview_sa: str,
    deploy: Sequence[str],
    preview: Sequence[str],
) -> list[str]:
    provider = "github"
    principal = f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/{pool}/subject"
    cmds = [
        f"gcloud iam workload-identity-pools create {pool} --project={project} --location=global",
        (
            f"gcloud iam workload-identity-pools providers create-oidc {provider} --project={project} --location=global "
            f"--workload-identity-pool={pool} --issuer-uri=https://{GITHUB_OIDC_HOST} "
            "--attribute-mapping=google.subject=assertion.sub,attribute.repository=assertion.repository "
            f'--attribute-condition="{gcp_attribute_condition(repo, [*deploy, *preview])}"'
        ),
    ]
    for sa, subjects in ((deploy_sa, deploy), (preview_sa, preview)):
        cmds += [
            f"gcloud iam service-accounts add-iam-policy-binding {sa} --project={project} "
            f"--role=roles/iam.workloadIdentityUser --member={principal}/{s}"
            for s in subjects
        ]
    return cmds


@dataclass
class CiIdentity:
    repo: str
    provider_arn: str
    deploy_role_arn: str
    preview_role_arn: str
    deploy_subjects: list[str]
    preview_subjects: list[str]
    gcp_commands: list[str] = field(default_factory=list)


def _ensure_provider(iam: Any, account_id: str, log: Callable[[str], None]) -> str:
    arn = f"arn:aws:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"
    try:
        found = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        found = None
    if found is None:
        iam.create_open_id_connect_provider(
            Url=f"https://{GITHUB_OIDC_HOST}",
            ClientIDList=[AUDIENCE],
            Tags=[{"Key": cv.TAG_PROJECT, "Value": cv.PROJECT}],
        )
        log(f"created OIDC provider {GITHUB_OIDC_HOST}")
    elif AUDIENCE not in found.get("ClientIDList", []):
        iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=AUDIENCE)
        log(f"added audience {AUDIENCE} to the OIDC provider")
    return arn


def _ensure_role(
    iam: Any, name: str, trust: dict[str, Any], description: str, policies: Sequence[str], log: Callable[[str], None]
) -> str:
    document = json.dumps(trust)
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=document)  # converge: narrow a widened trust
        log(f"role {name}: trust policy (re)applied")
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=document,
            Description=description,
            MaxSessionDuration=3600,
            Tags=[{"Key": cv.TAG_PROJECT, "Value": cv.PROJECT}, {"Key": cv.TAG_MANAGED_BY, "Value": "ml-platform-ops"}],
        )["Role"]["Arn"]
        log(f"created role {name}")
    for policy in policies:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    return str(arn)


def bootstrap_ci(
    clients: Clients,
    *,
    repo: str,
    environments: Sequence[str] = DEPLOY_ENVIRONMENTS,
    deploy_policies: Sequence[str] = (),
    preview_policies: Sequence[str] = (),
    gcp: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> CiIdentity:
    repo = check_repo(repo)
    deploy, preview = deploy_subjects(repo, environments), preview_subjects(repo)
    iam = clients.iam()
    account = clients.account_id()
    provider = _ensure_provider(iam, account, log)
    deploy_arn = _ensure_role(
        iam,
        DEPLOY_ROLE,
        trust_policy(account_id=account, subjects=deploy),
        f"GitHub Actions deploy (pulumi up) for {repo}: main and its deploy environments only",
        deploy_policies,
        log,
    )
    preview_arn = _ensure_role(
        iam,
        PREVIEW_ROLE,
        trust_policy(account_id=account, subjects=preview),
        f"GitHub Actions preview (pulumi preview) for pull requests of {repo}",
        preview_policies,
        log,
    )
    out = CiIdentity(repo, provider, deploy_arn, preview_arn, deploy, preview)
    if gcp:
        out.gcp_commands = gcp_commands(repo=repo, deploy=deploy, preview=preview, **gcp)
    return out
