"""boto3 clients and the translation of AWS errors into one-line, actionable messages."""

from __future__ import annotations

from typing import Any

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
    }
)
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden", "403"}
)
CREDENTIAL_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)
MISSING_BUCKET_CODES = frozenset({"NoSuchBucket", "404", "NotFound"})


class OpsError(Exception):
    """A failed operation with a message for the operator (printed without a traceback)."""


def describe_error(exc: BaseException) -> str | None:
    """A one-line explanation of a boto3 / botocore error, or ``None`` if it is not one."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = err.get("Message") or ""
        op = exc.operation_name
        bucket = err.get("BucketName")
        if code in THROTTLING_CODES:
            return f"AWS throttled {op} ({code}) even after retries; wait a minute and run the command again (it resumes)"
        if code in DENIED_CODES:
            return f"access denied for {op}: the credentials in use lack the permission ({message or code})"
        if code in CREDENTIAL_CODES:
            return f"the AWS credentials were rejected in {op} ({code}); refresh them (aws sso login / assume the role again)"
        if code == "NoSuchBucket" or (bucket and code in MISSING_BUCKET_CODES):
            return f"bucket {bucket or '?'} does not exist ({op}); check the name and the account"
        return f"AWS error in {op}: {code}: {message}".rstrip(": ")
    if isinstance(exc, bx.NoCredentialsError):
        return "no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or assume a role"
    if isinstance(exc, bx.EndpointConnectionError):
        return f"cannot reach the AWS endpoint {exc.kwargs.get('endpoint_url', '')}; check the network and region"
    if isinstance(exc, bx.NoRegionError):
        return "no AWS region given; pass --region or set AWS_REGION"
    if isinstance(exc, bx.BotoCoreError):
        return f"AWS client error: {exc}"
    return None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class Clients:
    """Creates (and caches) one boto3 client per service and region.

    ``endpoint_url`` points every client at one endpoint (a ``moto_server`` in tests); boto3 also
    honours ``AWS_ENDPOINT_URL`` by itself.
    """

    def __init__(self, *, profile: str | None = None, endpoint_url: str | None = None, session: Any = None) -> None:
        self._profile = profile
        self._endpoint_url = endpoint_url
        self._session = session
        self._cache: dict[tuple[str, str | None], Any] = {}

    @property
    def session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session(profile_name=self._profile)
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        if key not in self._cache:
            from botocore.config import Config

            config = Config(retries={"max_attempts": 8, "mode": "adaptive"}, user_agent_extra="ml-platform-ops")
            kwargs: dict[str, Any] = {"region_name": region, "config": config}
            if self._endpoint_url:
                kwargs["endpoint_url"] = self._endpoint_url
            self._cache[key] = self.session.client(service, **kwargs)
        return self._cache[key]

    def s3(self, region: str | None = None) -> Any:
        return self.client("s3", region)

    def kms(self, region: str) -> Any:
        return self.client("kms", region)

    def rds(self, region: str) -> Any:
        return self.client("rds", region)

    def iam(self) -> Any:
        return self.client("iam", "us-east-1")

    def sts(self, region: str | None = None) -> Any:
        return self.client("sts", region)

    def account_id(self, region: str | None = None) -> str:
        return str(self.sts(region).get_caller_identity()["Account"])
