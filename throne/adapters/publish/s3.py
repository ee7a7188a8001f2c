"""`S3ObjectStore`: the `ObjectStore` of an S3-compatible bucket (Amazon S3, Cloudflare R2,
MinIO) through boto3.

Credentials and the endpoint come the way every AWS tool takes them (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and the shared config files,
``AWS_ENDPOINT_URL``), unless given. A reader without credentials reads anonymously (a public
bucket). Every failure becomes one `StoreError` naming its cause; calls are bounded (a few
seconds to connect, a minute to read, three attempts), so an endpoint that is down fails in
seconds rather than hanging a publish.

Parts are created with ``If-None-Match: *`` and the index replaced with ``If-Match`` on the
tag it was read with. A store that answers such a write with 501 (not implemented) is written
unconditionally from then on, after reading the key first: the same guarantees for one
publisher, none against a second one racing it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from throne.ports.object_store import ObjectStore, S3Location, StoredObject, StoreError

#: Error codes that mean the keys are wrong, expired or not allowed to do this.
_CREDENTIAL_CODES = {
    "AccessDenied",
    "AuthorizationHeaderMalformed",
    "ExpiredToken",
    "Forbidden",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
    "Unauthorized",
}
#: ... that the bucket is full or the account over its quota (S3, R2, MinIO say it apart).
_QUOTA_CODES = {
    "EntityTooLarge",
    "InsufficientStorage",
    "QuotaExceeded",
    "ServiceQuotaExceeded",
    "StorageQuotaExceeded",
    "XMinioAdminBucketQuotaExceeded",
    "XMinioStorageFull",
}
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_MISSING_KEY_CODES = {"NoSuchKey", "404", "NotFound"}


class S3ObjectStore(ObjectStore):
    """The objects under ``location`` (``s3://BUCKET/PREFIX``); ``anonymous`` reads without
    credentials, and is what a reader gets when none are configured."""

    def __init__(
        self,
        location: S3Location,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        anonymous: bool | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        env = dict(os.environ) if environ is None else environ
        self._location = location
        self._endpoint = (
            endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        )
        self._conditional = True
        self._client = _client(self._endpoint, region or env.get("AWS_REGION"), anonymous)

    @property
    def where(self) -> str:
        return self._location.url

    @property
    def conditional(self) -> bool:
        return self._conditional

    def _key(self, key: str) -> str:
        return self._location.prefix + key

    def read(self, key: str) -> StoredObject | None:
        try:
            answer = self._client.get_object(Bucket=self._location.bucket, Key=self._key(key))
            return StoredObject(answer["Body"].read(), answer.get("ETag"))
        except Exception as exc:
            if _code(exc) in _MISSING_KEY_CODES:
                return None
            error = self._failure(exc, "read", key)
            if error is None:
                raise
            raise error from exc

    def create(self, key: str, data: bytes) -> bool:
        if self._conditional:
            try:
                with self._errors("write", key):
                    self._put(key, data, IfNoneMatch="*")
                return True
            except StoreError as exc:
                if exc.kind == "conflict":
                    return False
                if not _not_implemented(exc):
                    raise
                self._conditional = False
        if self.read(key) is not None:
            return False
        with self._errors("write", key):
            self._put(key, data)
        return True

    def replace(self, key: str, data: bytes, *, expected: str | None) -> str | None:
        condition = {"IfMatch": expected} if expected is not None else {"IfNoneMatch": "*"}
        if self._conditional:
            try:
                with self._errors("write", key):
                    return self._put(key, data, **condition)
            except StoreError as exc:
                if not _not_implemented(exc):
                    raise
                self._conditional = False
        found = self.read(key)
        if (None if found is None else found.etag) != expected:
            raise StoreError(
                "conflict", f"{self.where}{key} changed while it was written: another publisher?"
            )
        with self._errors("write", key):
            return self._put(key, data)

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        strip = len(self._location.prefix)
        with self._errors("list", prefix):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._location.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                found.extend(item["Key"][strip:] for item in page.get("Contents", ()))
        return sorted(found)

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self._location.bucket, Key=self._key(key))

    def close(self) -> None:
        self._client.close()

    def _put(self, key: str, data: bytes, **condition: str) -> str | None:
        answer = self._client.put_object(
            Bucket=self._location.bucket, Key=self._key(key), Body=data, **condition
        )
        etag: str | None = answer.get("ETag")
        return etag

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """boto3's failures as one `StoreError` each."""
        try:
            yield
        except Exception as exc:
            error = self._failure(exc, action, key)
            if error is None:
                raise
            raise error from exc

    def _failure(self, exc: Exception, action: str, key: str) -> StoreError | None:
        """The `StoreError` a boto3 failure is; None for anything else (a bug)."""
        return _store_error(exc, action, self.where + key, self._location, self._endpoint)


def _client(endpoint: str | None, region: str | None, anonymous: bool | None) -> Any:
    # Imported here: boto3 costs a few tenths of a second, and only publishing needs it.
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    session = boto3.session.Session()
    if anonymous is None:
        anonymous = session.get_credentials() is None
    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        # S3-compatible stores (MinIO, R2, a test server) are addressed by path; and some
        # refuse the checksums boto3 otherwise adds to every request.
        s3={"addressing_style": "path"} if endpoint else {},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        signature_version=UNSIGNED if anonymous else None,
    )
    try:
        return session.client("s3", endpoint_url=endpoint, region_name=region, config=config)
    except ValueError as exc:  # a malformed endpoint URL
        raise StoreError("unreachable", f"bad endpoint URL {endpoint!r}: {exc}") from exc


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _not_implemented(exc: StoreError) -> bool:
    cause = exc.__cause__
    return cause is not None and (_code(cause) == "NotImplemented" or _status(cause) == 501)


def _store_error(
    exc: BaseException, action: str, what: str, location: S3Location, endpoint: str | None
) -> StoreError | None:
    """The `StoreError` a boto3 failure is, or None for what is no store's failure (a bug)."""
    from botocore import exceptions as bx

    where = endpoint or "AWS S3"
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return StoreError(
            "credentials",
            f"no credentials to {action} {what}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
        )
    if isinstance(exc, bx.CredentialRetrievalError | bx.UnknownCredentialError):
        return StoreError("credentials", f"cannot load the credentials: {exc}")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionError | bx.ReadTimeoutError):
        return StoreError("unreachable", f"cannot reach the store at {where}: {exc}")
    if not isinstance(exc, bx.ClientError):
        if isinstance(exc, bx.BotoCoreError):
            return StoreError("refused", f"cannot {action} {what}: {exc}")
        return None
    code, status = _code(exc), _status(exc)
    message = str(exc.response.get("Error", {}).get("Message", "")) or code
    told = f"{code or status}: {message}"
    if code == "NoSuchBucket":
        return StoreError(
            "no-bucket",
            f"there is no bucket {location.bucket!r} at {where}: create it, or correct the URL",
        )
    if code in _CREDENTIAL_CODES or status in (401, 403):
        return StoreError(
            "credentials",
            f"the store refused the credentials to {action} {what} ({told}): check "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the key's permissions on the bucket",
        )
    if code in _QUOTA_CODES or status == 507 or "quota" in message.lower():
        return StoreError(
            "quota", f"the bucket is full or over its quota: cannot {action} {what} ({told})"
        )
    if code in _CONFLICT_CODES or status in (409, 412):
        return StoreError("conflict", f"{what} changed while it was written ({told})")
    if status >= 500 and code != "NotImplemented":
        return StoreError("unreachable", f"the store at {where} is failing ({told})")
    return StoreError("refused", f"the store refused to {action} {what} ({told})")
