"""Exceptions a user can act on: each message says what went wrong and what to do about it."""

from __future__ import annotations


class SpladekitError(Exception):
    """Base class for every error spladekit raises on purpose."""


class ModelError(SpladekitError):
    """A model could not be found, fetched, verified or loaded."""


class EngineError(SpladekitError):
    """An engine node could not be fetched, started, reached, or it rejected a request."""


class IndexFormatError(SpladekitError):
    """A local index on disk was written by another format version or another model."""


class InputError(SpladekitError):
    """A record or argument cannot be used as given."""


class ClusterError(SpladekitError):
    """A Ray cluster could not be reached, or lost work past Ray's own retries (``ingest --ray``)."""


def missing_extra(package: str, extra: str) -> ImportError:
    """The ImportError raised when an optional dependency is absent, naming the install command."""
    return ImportError(
        f"{package} is not installed; it comes with the '{extra}' extra: pip install 'spladekit[{extra}]'"
    )
