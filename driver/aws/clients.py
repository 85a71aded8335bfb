"""One factory for every boto3 client, and one exception for everything AWS says no with.

Clients come from the standard credential chain (environment, shared files, SSO, instance
roles), the profile's ``sagemaker:`` section and the command line; the command line wins over
the profile, which wins over the environment. ``AWS_ENDPOINT_URL`` and the per-service
``AWS_ENDPOINT_URL_<SERVICE>`` variables are honoured by botocore itself whenever no endpoint
URL is given explicitly, so the same code talks to real AWS, the sandbox and moto.

Credentials are never printed: ``AwsSettings`` hides them from ``repr`` and ``AwsError``
messages are built from AWS error codes and messages, which never carry them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore.exceptions as aws_exceptions
import botocore.session
from botocore.config import Config

import driver
from driver.profile import SageMakerOptions
from metrics.aws_errors import QUOTA_CODES, THROTTLING_CODES, error_code, error_message

SERVICES = ("sagemaker", "sagemaker-runtime", "cloudwatch", "application-autoscaling")

# Codes AWS answers with when the caller's identity is the problem, and what to say.
CREDENTIAL_PROBLEMS = {
    "ExpiredToken": "the AWS credentials have expired; refresh them (aws sso login, say)",
    "ExpiredTokenException": "the AWS credentials have expired; refresh them "
                             "(aws sso login, say)",
    "RequestExpired": "the request expired before AWS saw it; check this machine's clock",
    "UnrecognizedClientException": "AWS does not recognise the access key",
    "InvalidClientTokenId": "AWS does not recognise the access key",
    "InvalidSignatureException": "the AWS secret key does not match the access key",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
    "IncompleteSignature": "the request signature is incomplete",
    "MissingAuthenticationToken": "the request was not signed",
}

T = TypeVar("T")


class AwsError(Exception):
    """An AWS call that failed, as one line: what we were doing, why, and the AWS code."""

    def __init__(self, message: str, code: str | None = None, *, status: int | None = None,
                 doing: str | None = None) -> None:
        self.message = message
        self.code = code
        self.status = status
        self.doing = doing
        super().__init__(message)

    def __str__(self) -> str:
        text = f"{self.doing}: {self.message}" if self.doing else self.message
        return f"{text} ({self.code})" if self.code else text

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLING_CODES

    @property
    def quota(self) -> bool:
        """A quota used up (LimitExceededException): retrying later will not help."""
        return self.code in QUOTA_CODES

    @property
    def credentials_problem(self) -> bool:
        return self.code in CREDENTIAL_PROBLEMS or self.code in (
            "NoCredentials", "PartialCredentials", "CredentialRetrieval", "SSOTokenLoad",
            "ProfileNotFound")


def as_aws_error(exc: BaseException, doing: str | None = None) -> AwsError:
    """Turn whatever botocore raised into an AwsError that keeps the AWS error code.

    Errors that come before anything is sent (no credentials, no region, an unknown profile)
    get codes of our own naming the botocore exception, so the UI shows one form for all.
    """
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, aws_exceptions.ClientError):
        code = error_code(exc) or "Unknown"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = CREDENTIAL_PROBLEMS.get(code) or error_message(exc) or str(exc)
        return AwsError(_one_line(message), code, status=status, doing=doing)
    simple: dict[type[BaseException], tuple[str, str]] = {
        aws_exceptions.NoCredentialsError: (
            "NoCredentials", "no AWS credentials found (environment, ~/.aws, SSO or instance "
                             "role); configure some or pass --profile"),
        aws_exceptions.PartialCredentialsError: ("PartialCredentials", str(exc)),
        aws_exceptions.NoRegionError: (
            "NoRegion", "no AWS region: pass --region, set sagemaker.region or AWS_REGION"),
        aws_exceptions.ProfileNotFound: ("ProfileNotFound", str(exc)),
        aws_exceptions.SSOTokenLoadError: (
            "SSOTokenLoad", "the AWS SSO session has expired or never started; run "
                            "aws sso login"),
        aws_exceptions.UnauthorizedSSOTokenError: (
            "SSOTokenLoad", "the AWS SSO session has expired; run aws sso login"),
        aws_exceptions.TokenRetrievalError: ("TokenRetrieval", str(exc)),
        aws_exceptions.CredentialRetrievalError: ("CredentialRetrieval", str(exc)),
        aws_exceptions.EndpointConnectionError: ("EndpointConnection", str(exc)),
        aws_exceptions.ConnectTimeoutError: ("ConnectTimeout", str(exc)),
        aws_exceptions.ReadTimeoutError: ("ReadTimeout", str(exc)),
    }
    for cls, (code, message) in simple.items():
        if isinstance(exc, cls):
            return AwsError(_one_line(message), code, doing=doing)
    if isinstance(exc, aws_exceptions.BotoCoreError):
        return AwsError(_one_line(str(exc)), type(exc).__name__, doing=doing)
    return AwsError(_one_line(f"{type(exc).__name__}: {exc}"), None, doing=doing)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:400]


def call(doing: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call a boto3 method; any failure comes out as an AwsError saying what we were doing."""
    try:
        return fn(*args, **kwargs)
    except (aws_exceptions.BotoCoreError, aws_exceptions.ClientError) as exc:
        raise as_aws_error(exc, doing) from exc


@dataclass(frozen=True, slots=True)
class FrozenCredentials:
    """A snapshot of credentials for worker processes; never shown by ``repr``."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    expires_at: float | None = None  # UTC epoch seconds, for temporary credentials

    def as_spec(self) -> dict[str, str | None]:
        return {"access_key": self.access_key, "secret_key": self.secret_key,
                "token": self.token}

    @property
    def secrets(self) -> set[str]:
        return {s for s in (self.secret_key, self.token) if s}


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """Where and as whom to talk to AWS; None fields fall back to botocore's defaults."""

    region: str | None = None
    aws_profile: str | None = None
    endpoint_url: str | None = None
    credentials: FrozenCredentials | None = None  # explicit keys (the sandbox's), else the chain

    @classmethod
    def resolve(cls, sagemaker: SageMakerOptions | None, *, region: str | None = None,
                aws_profile: str | None = None, endpoint_url: str | None = None,
                credentials: FrozenCredentials | None = None) -> AwsSettings:
        """Command-line values over the profile's ``sagemaker:`` section."""
        options = sagemaker or SageMakerOptions()
        return cls(region=region or options.region,
                   aws_profile=aws_profile or options.aws_profile,
                   endpoint_url=endpoint_url or options.endpoint_url,
                   credentials=credentials)


def client_config(**overrides: Any) -> Config:
    """Short timeouts and standard retries: a poller must not hang a run on a dead endpoint."""
    values: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 3},
        "connect_timeout": 5,
        "read_timeout": 20,
        "user_agent_extra": f"loadwatch/{driver.__version__}",
    }
    values.update(overrides)
    return Config(**values)


class AwsClients:
    """Makes (once) and hands out the boto3 clients of one run.

    An injected ``session`` wins over settings, as does a client given to ``inject``: tests
    use either to point everything at moto or a Stubber. Clients are thread-safe once made;
    making them is guarded because boto3 sessions are not.
    """

    def __init__(self, settings: AwsSettings | None = None, *,
                 session: boto3.Session | None = None, config: Config | None = None) -> None:
        self.settings = settings or AwsSettings()
        self._config = config or client_config()
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        if session is None:
            creds = self.settings.credentials
            core = None
            if creds is not None and self.settings.aws_profile is None:
                # Explicit keys (the sandbox's) name the identity: an AWS_PROFILE left in the
                # environment must not be looked up, or a stale one would stop the run.
                core = botocore.session.Session(
                    session_vars={"profile": (None, None, None, None)})
            try:
                session = boto3.Session(
                    botocore_session=core,
                    profile_name=self.settings.aws_profile,
                    region_name=self.settings.region,
                    aws_access_key_id=creds.access_key if creds else None,
                    aws_secret_access_key=creds.secret_key if creds else None,
                    aws_session_token=creds.token if creds else None,
                )
            except aws_exceptions.BotoCoreError as exc:
                raise as_aws_error(exc, "reading the AWS configuration") from exc
        self.session = session

    @property
    def region(self) -> str:
        region = self.settings.region or self.session.region_name
        if not region:
            raise as_aws_error(aws_exceptions.NoRegionError())
        return region

    def inject(self, service: str, client: Any) -> None:
        self._clients[service] = client

    def client(self, service: str) -> Any:
        """The client for ``service`` (sagemaker, sagemaker-runtime, cloudwatch, ...)."""
        found = self._clients.get(service)
        if found is not None:
            return found
        with self._lock:
            if service not in self._clients:
                try:
                    self._clients[service] = self.session.client(
                        service, region_name=self.region,
                        endpoint_url=self.settings.endpoint_url, config=self._config)
                except aws_exceptions.BotoCoreError as exc:
                    raise as_aws_error(exc, f"making the {service} client") from exc
            return self._clients[service]

    def pricing(self) -> Any:
        """The Price List API's client (one of its own regions, us-east-1; one quick try:
        a price is a nicety, never a reason to hold up a run). An injected one wins."""
        found = self._clients.get("pricing")
        if found is None:
            found = self.session.client("pricing", region_name="us-east-1", config=client_config(
                retries={"mode": "standard", "max_attempts": 1}, connect_timeout=3,
                read_timeout=5))
            self._clients["pricing"] = found
        return found

    def runtime_url(self) -> str:
        """Where InvokeEndpoint goes: the runtime's URL after every override is applied."""
        return str(self.client("sagemaker-runtime").meta.endpoint_url).rstrip("/")

    def frozen_credentials(self) -> FrozenCredentials:
        """Resolve the credential chain now; raises AwsError (NoCredentials, ...) if it fails.

        Nothing is sent to AWS unless a provider must fetch credentials (SSO, a role).
        """
        try:
            found = self.session.get_credentials()
            if found is None:
                raise aws_exceptions.NoCredentialsError()
            frozen = found.get_frozen_credentials()
        except aws_exceptions.BotoCoreError as exc:
            raise as_aws_error(exc, "finding AWS credentials") from exc
        if not frozen.access_key or not frozen.secret_key:
            raise as_aws_error(aws_exceptions.NoCredentialsError(), "finding AWS credentials")
        expiry = getattr(found, "_expiry_time", None)
        return FrozenCredentials(frozen.access_key, frozen.secret_key, frozen.token or None,
                                 expiry.timestamp() if expiry is not None else None)
