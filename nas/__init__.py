"""nas: a neural architecture search engine.

A search space is a short Python tree (:mod:`nas.space`); every candidate compiles into an
IR graph (:mod:`nas.graph`) that lowers to PyTorch and ONNX; searches (:mod:`nas.search`)
run in-process or as Ray Tune trials (:mod:`nas.run`); every result lands in one
Arrow/Parquet store (:mod:`nas.store`); a graph-encoder predictor (:mod:`nas.predictors`)
ranks unseen candidates.
"""

from __future__ import annotations

from nas.errors import (
    ArchError,
    DataError,
    EvaluationError,
    GraphError,
    NasError,
    RegistryError,
    SpaceError,
    StoreError,
    TrainingError,
)

__version__ = "0.1.0"

__all__ = [
    "ArchError",
    "DataError",
    "EvaluationError",
    "GraphError",
    "NasError",
    "RegistryError",
    "SpaceError",
    "StoreError",
    "TrainingError",
    "__version__",
]
