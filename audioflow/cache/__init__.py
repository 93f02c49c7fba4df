"""Canonical JSON, input digests and the content-addressed artifact store."""

from __future__ import annotations

from .digest import FORMAT_VERSION, canonical_json, input_digest, sha256_hex
from .store import Artifact, ArtifactStore, JobJournal, StepRecord, write_atomic

__all__ = [
    "FORMAT_VERSION",
    "Artifact",
    "ArtifactStore",
    "JobJournal",
    "StepRecord",
    "canonical_json",
    "input_digest",
    "sha256_hex",
    "write_atomic",
]
