"""One-shot search: a weight-sharing supernet from the same DSL, DARTS-family and SPOS.

:class:`Supernet` turns any space whose op choices are local (NB-201 and DARTS cell edges,
per-layer op or kernel choices) into one torch module holding every candidate op once per
position. The methods train it and derive an ordinary :class:`~nas.space.Arch`:

- ``darts``: DARTS, first order (Liu et al., 2019): a softmax over architecture parameters
  mixes every candidate; weights and architecture parameters are updated in turn on two
  halves of the training split; the derived arch is the argmax of each decision.
- ``beta_darts``: beta-DARTS (Ye et al., 2022): DARTS plus the beta-decay regulariser (the
  mean log-sum-exp of each decision's architecture parameters), chosen over DrNAS because
  it is one loss term on the same deterministic forward as DARTS (no Dirichlet sampling),
  so a run repeats exactly and differs from DARTS in nothing else.
- ``spos``: single-path one-shot (Guo et al., 2020): one uniformly sampled path per step,
  then regularized evolution over the trained supernet, scored by inherited accuracy.

:func:`search` runs one of them in this process; :func:`plan` gives the strategy and
evaluator that run it as one trial of ``nas.search.run`` (in-process or a Ray trial), which is
what ``nas search --strategy darts --dataset NAME --budget EPOCHS`` does.

Example:
    >>> from nas.oneshot import METHODS
    >>> METHODS
    ('darts', 'beta_darts', 'spos')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nas._lazy import lazy_attributes

#: The one-shot methods, names as given to ``nas search --strategy``.
METHODS = ("darts", "beta_darts", "spos")

# Everything else needs torch: loaded on first use, so the CLI can ask for METHODS cheaply.
_LAZY = {
    "OneShotConfig": "nas.oneshot._methods",
    "OneShotResult": "nas.oneshot._methods",
    "Scorer": "nas.oneshot._methods",
    "inherited_accuracy": "nas.oneshot._methods",
    "search": "nas.oneshot._methods",
    "OneShotError": "nas.oneshot._supernet",
    "Position": "nas.oneshot._supernet",
    "Supernet": "nas.oneshot._supernet",
    "OneShotEvaluator": "nas.oneshot._trial",
    "OneShotStrategy": "nas.oneshot._trial",
    "plan": "nas.oneshot._trial",
    "plan_from_cli": "nas.oneshot._trial",
}

__getattr__: Callable[[str], Any] = lazy_attributes(__name__, _LAZY)


__all__ = ["METHODS", *sorted(_LAZY)]
