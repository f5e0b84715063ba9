"""Operations tooling (boto3): state-backend bootstrap and disaster recovery.

Run through ``python -m infra ops ...`` (see :mod:`infra.ops.cli`). Nothing here is part of the
Pulumi program; it talks to AWS directly, so it also works when the Pulumi CLI or the primary
region is unavailable.
"""
