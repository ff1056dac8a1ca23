"""One-shot search: a weight-sharing supernet from the same DSL, DARTS-family and SPOS.

:class:`Supernet` turns any space whose op choices are local (NB-201 and DARTS cell edges,
per-layer op or kernel choices) into one torch module holding every candidate op once per
position. The methods train it and derive an ordinary :class:`~nas.space.Arch`:

- ``darts``: DARTS, first order (Liu et al., 2019): a softmax over architecture parameters
  mixes every candidate; weights and architecture parameters are updated in turn on two
  halves of the training split; the derived arch is the argmax of each decision.
- ``beta_darts``: beta-DARTS (Ye et al., 2022): DARTS plus the beta-decay regulariser (the mean
  log-sum-exp of each decision's architecture parameters), which keeps the softmax from
  saturating on parameter-free ops.
- ``spos``: single-path one-shot (Guo et al., 2020): one uniformly sampled path per step,
  then regularized evolution over the trained supernet, scored by inherited accuracy.

:func:`search` runs one of them in this process; :class:`OneShotEvaluator` runs it as one
trial of ``nas.search.run`` (in-process or a Ray trial), and ``nas search --strategy darts``
uses it with the budget in supernet epochs.
"""

from __future__ import annotations

from nas.oneshot._methods import (
    METHODS,
    OneShotConfig,
    OneShotResult,
    Scorer,
    inherited_accuracy,
    search,
)
from nas.oneshot._supernet import OneShotError, Position, Supernet

__all__ = [
    "METHODS",
    "OneShotConfig",
    "OneShotError",
    "OneShotResult",
    "Position",
    "Scorer",
    "Supernet",
    "inherited_accuracy",
    "search",
]
