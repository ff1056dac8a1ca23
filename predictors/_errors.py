"""The predictor package's error type."""

from __future__ import annotations

from nas.errors import NasError

__all__ = ["PredictorError"]


class PredictorError(NasError, ValueError):
    """A predictor was misused, or a model file is missing, corrupt or unsafe to load."""
