"""Where the signed log is published: an S3-compatible bucket (`S3ObjectStore`, boto3), and
how an auditor reads it back without credentials (`HttpObjectReader`, httpx)."""
