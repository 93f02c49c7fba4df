"""Canonical JSON, input digests, the content-addressed artifact store (local or S3), leases; verify, gc, usage."""

from __future__ import annotations

from .atomic import clean_stale_temps, write_atomic
from .digest import FORMAT_VERSION, KIND_VERSIONS, canonical_json, input_digest, sha256_hex
from .leases import Lease
from .maintenance import CacheUsage, GcReport, VerifyReport, cache_usage, collect_garbage, verify_store
from .records import record_key
from .s3 import S3Store, is_url, open_store
from .store import Artifact, ArtifactStore, Finding, JobJournal, StepRecord

__all__ = [
    "FORMAT_VERSION",
    "KIND_VERSIONS",
    "Artifact",
    "ArtifactStore",
    "CacheUsage",
    "Finding",
    "GcReport",
    "JobJournal",
    "Lease",
    "S3Store",
    "StepRecord",
    "VerifyReport",
    "cache_usage",
    "canonical_json",
    "clean_stale_temps",
    "collect_garbage",
    "input_digest",
    "is_url",
    "open_store",
    "record_key",
    "sha256_hex",
    "verify_store",
    "write_atomic",
]
