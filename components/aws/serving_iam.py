"""The serving identity's policy: read the models the MLflow registry stores, and the team's own models.

KServe's storage initializer downloads a model version's artifacts before the predictor starts. Registered
models live under the MLflow server's artifact prefix (``mlflow/``) of the ``models`` bucket, which the team
role (``teams/<team>/`` only) cannot read; this role, assumed by ``<team>-serving``, reads that prefix and the
team's prefix of the same bucket, never writes. The MLflow server gives every authenticated user the same
artifacts through its proxy, so this opens no data beyond what the registry already shares.
"""

from __future__ import annotations

import json

from components.aws.data_lake import team_prefix

READ_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")


def serving_policy(*, team: str, models_bucket_arn: str, registry_prefix: str, kms_key_arn: str) -> str:
    """Inline policy JSON: read ``<registry_prefix>/*`` and ``teams/<team>/*`` of the models bucket, decrypt with the lake key."""
    prefixes = [f"{registry_prefix.strip('/')}/", team_prefix(team)]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadModels",
                    "Effect": "Allow",
                    "Action": list(READ_OBJECT_ACTIONS),
                    "Resource": [f"{models_bucket_arn}/{p}*" for p in prefixes],
                },
                {
                    "Sid": "ListModels",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": [models_bucket_arn],
                    "Condition": {"StringLike": {"s3:prefix": [q for p in prefixes for q in (p, f"{p}*")]}},
                },
                {"Sid": "DecryptModels", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [kms_key_arn]},
            ],
        }
    )
