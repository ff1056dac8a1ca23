"""Optuna samplers (TPE, NSGA-II) driven through Optuna's own ask-and-tell API.

Each proposal is one ``study.ask()`` answered define-by-run by ``space.suggest(trial)``,
so conditional spaces work. Nothing is evaluated twice: when Optuna proposes an arch
that was already proposed, that trial is told the known result (or, if the original is
still pending, told it as soon as the original is) and Optuna is asked again, up to
``max_retries`` times; then a random unseen arch is enqueued into the study so Optuna
still learns from it.

Determinism and restore: before every ``study.ask()`` the sampler is replaced by a new
one seeded from ``(seed, number of trials in the study)``. The sampler's randomness is
then a function of the study's contents alone, so rebuilding the study from its trials
(``study.add_trial`` of every trial, with their system attributes, plus the study's own
system attributes that NSGA-II uses as a cache) gives exactly the same next proposals.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from nas.search._base import SearchError, Strategy, Told
from nas.search._registry import register_strategy
from nas.space import Arch, Space

__all__ = ["NSGA2Search", "OptunaStrategy", "TPESearch"]


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines and experimental warnings, then restore."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


class _ArchTrial:
    """A stand-in Optuna trial answering ``space.suggest`` from a known arch.

    It yields the arch's parameters in Optuna's own representation (tuple-valued choices
    become indices) so the arch can be enqueued into a study.
    """

    def __init__(self, space: Space, arch: Arch) -> None:
        self.space = space
        self.values = arch.values
        self.params: dict[str, Any] = {}

    def suggest_int(self, name: str, low: int, high: int, step: int = 1) -> int:
        self.params[name] = int(self.values[name])
        return self.params[name]

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        self.params[name] = float(self.values[name])
        return self.params[name]

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        value = self.values[name]
        hit = [c for c in choices if c == value and type(c) is type(value)]
        self.params[name] = hit[0] if hit else self.space.decisions[name].index(value)  # type: ignore[attr-defined]
        return self.params[name]


class OptunaStrategy(Strategy):
    """Base of the strategies that delegate proposals to an Optuna sampler.

    Args:
        space: the search space.
        max_retries: asks of Optuna per proposal before falling back to a random unseen
            arch when Optuna keeps proposing archs that were already proposed.
        **common: ``objectives``, ``constraints``, ``seed`` (see :class:`Strategy`).
    """

    def __init__(self, space: Space, *, max_retries: int = 20, **common: Any) -> None:
        super().__init__(space, **common)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 1:
            raise SearchError(
                f"Strategy {self.name!r}: max_retries must be an int >= 1 (got {max_retries!r})."
            )
        self.max_retries = max_retries
        self._study = self._new_study()
        self._trial_of: dict[str, int] = {}  # candidate id -> trial number
        self._shadows: dict[str, list[int]] = {}  # pending candidate -> duplicate trials
        self._live: dict[int, Any] = {}  # trial number -> optuna.Trial not yet told

    # ------------------------------------------------------------------ sampler
    def _make_sampler(self, seed: int) -> Any:
        raise NotImplementedError

    def _new_study(self) -> Any:
        import optuna

        directions = ["maximize" if o.direction == "max" else "minimize" for o in self.objectives]
        with _quiet_optuna():
            return optuna.create_study(directions=directions, sampler=self._make_sampler(self.seed))  # type: ignore[arg-type]

    def _ask_trial(self, fixed: dict[str, Any] | None = None) -> Any:
        n_trials = len(self._study.get_trials(deepcopy=False))
        seed = int(np.random.SeedSequence([self.seed, n_trials]).generate_state(1)[0])
        with _quiet_optuna():
            self._study.sampler = self._make_sampler(seed)
            if fixed is not None:
                self._study.enqueue_trial(fixed, skip_if_exists=False)
            trial = self._study.ask()
        self._live[trial.number] = trial
        return trial

    # ------------------------------------------------------------------ ask / tell
    def _propose(self, candidate_id: str) -> Arch | None:
        for _ in range(self.max_retries):
            trial = self._ask_trial()
            arch = self.space.suggest(trial)
            if not self._seen(arch):
                trial.set_user_attr("candidate_id", candidate_id)
                self._trial_of[candidate_id] = trial.number
                return arch
            original = self._by_arch[arch.arch_id]
            trial.set_user_attr("duplicate_of", original)
            if original in self._told:
                self._finish(trial.number, self._told[original])
            else:
                self._shadows.setdefault(original, []).append(trial.number)
        fallback = self._random_unseen()
        if fallback is None:
            return None
        recorder = _ArchTrial(self.space, fallback)
        self.space.suggest(recorder)
        trial = self._ask_trial(fixed=recorder.params)
        suggested = self.space.suggest(trial)
        if suggested.arch_id != fallback.arch_id:
            raise SearchError(
                f"Optuna did not replay the enqueued arch {fallback.arch_id} (got "
                f"{suggested.arch_id}); this is a bug in strategy {self.name!r}."
            )
        trial.set_user_attr("candidate_id", candidate_id)
        self._trial_of[candidate_id] = trial.number
        return fallback

    def _observe(self, candidate_id: str, told: Told) -> None:
        self._finish(self._trial_of[candidate_id], told)
        for number in self._shadows.pop(candidate_id, []):
            self._finish(number, told)

    def _finish(self, number: int, told: Told) -> None:
        from optuna.trial import TrialState

        trial = self._live.pop(number)
        with _quiet_optuna():
            if not told.ok:
                self._study.tell(trial, state=TrialState.FAIL)
                return
            if self.constraints and hasattr(trial, "set_constraint"):
                # Optuna >= 5 reads constraints from the trial: <= 0 means satisfied.
                for i, c in enumerate(self.constraints):
                    trial.set_constraint(f"{i}:{c.metric}", _signed_violation(c, told))
            self._study.tell(trial, [told.metrics[o.metric] for o in self.objectives])

    # ------------------------------------------------------------------ state
    def _extra_state(self) -> dict[str, Any]:
        from optuna.distributions import distribution_to_json

        storage, study_id = self._study._storage, self._study._study_id
        trials = []
        for t in self._study.get_trials(deepcopy=False):
            trials.append(
                {
                    "state": t.state.name,
                    "params": dict(t.params),
                    "distributions": {
                        k: distribution_to_json(d) for k, d in t.distributions.items()
                    },
                    "values": None if t.values is None else list(t.values),
                    "system_attrs": dict(t.system_attrs),
                    "user_attrs": dict(t.user_attrs),
                }
            )
        return {
            "trials": trials,
            # NSGA-II caches its parent population here; the public API has no getter.
            "study_system_attrs": dict(storage.get_study_system_attrs(study_id)),
            "trial_of": dict(self._trial_of),
            "shadows": {k: list(v) for k, v in self._shadows.items()},
        }

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        import optuna
        from optuna.distributions import json_to_distribution
        from optuna.trial import TrialState, create_trial

        self._study = self._new_study()
        storage, study_id = self._study._storage, self._study._study_id
        for key, value in extra.get("study_system_attrs", {}).items():
            storage.set_study_system_attr(study_id, key, value)
        with _quiet_optuna():
            for t in extra.get("trials", []):
                self._study.add_trial(
                    create_trial(
                        state=TrialState[t["state"]],
                        params=t["params"],
                        distributions={
                            k: json_to_distribution(d) for k, d in t["distributions"].items()
                        },
                        values=t["values"],
                        system_attrs=t["system_attrs"],
                        user_attrs=t["user_attrs"],
                    )
                )
        self._trial_of = {k: int(v) for k, v in extra.get("trial_of", {}).items()}
        self._shadows = {k: [int(n) for n in v] for k, v in extra.get("shadows", {}).items()}
        self._live = {}
        for frozen in self._study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            # Rebind the pending trials so they can be told; the trial id is internal.
            self._live[frozen.number] = optuna.Trial(self._study, frozen._trial_id)


def _signed_violation(constraint: Any, told: Told) -> float:
    value = told.metrics[constraint.metric]
    parts = []
    if constraint.max is not None:
        parts.append(value - constraint.max)
    if constraint.min is not None:
        parts.append(constraint.min - value)
    return float(max(parts))


@register_strategy("tpe")
class TPESearch(OptunaStrategy):
    """Optuna's TPE (``multivariate=True, group=True``) through ask-and-tell.

    One objective gives a single-objective study, several give Optuna's multi-objective
    TPE (MOTPE). Failed results are told as ``TrialState.FAIL``; constraints are told
    with ``Trial.set_constraint`` (Optuna >= 5) so TPE prefers feasible archs.

    Args:
        space: the search space.
        n_startup_trials: random trials before TPE models the results (default 10).
        n_ei_candidates: candidates TPE scores per proposal (default 24).
        **common: ``max_retries``, ``objectives``, ``constraints``, ``seed``.

    Example:
        >>> from nas.space import get_space
        >>> s = TPESearch(get_space("cnn1d"), seed=0)
        >>> [c] = s.ask()
        >>> get_space("cnn1d").contains(c.arch)
        True
    """

    def __init__(
        self,
        space: Space,
        *,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        **common: Any,
    ) -> None:
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        super().__init__(space, **common)

    def _make_sampler(self, seed: int) -> Any:
        import optuna

        return optuna.samplers.TPESampler(
            n_startup_trials=self.n_startup_trials,
            n_ei_candidates=self.n_ei_candidates,
            multivariate=True,
            group=True,
            seed=seed,
        )


@register_strategy("nsga2")
class NSGA2Search(OptunaStrategy):
    """Optuna's NSGA-II through ask-and-tell (works with one objective too).

    Args:
        space: the search space.
        population_size: individuals per generation (default 50).
        crossover_prob: probability of crossover for a child (default 0.9).
        mutation_prob: per-parameter mutation probability (default ``1 / n_params``).
        **common: ``max_retries``, ``objectives``, ``constraints``, ``seed``.

    Example:
        >>> from nas.search import Objective
        >>> from nas.space import get_space
        >>> s = NSGA2Search(get_space("nb201"), population_size=8, seed=0,
        ...                 objectives=[Objective("val_accuracy"), Objective("params", "min")])
        >>> len(s.ask(4))
        4
    """

    def __init__(
        self,
        space: Space,
        *,
        population_size: int = 50,
        crossover_prob: float = 0.9,
        mutation_prob: float | None = None,
        **common: Any,
    ) -> None:
        if (
            isinstance(population_size, bool)
            or not isinstance(population_size, int)
            or population_size < 2
        ):
            raise SearchError(
                f"Strategy 'nsga2': population_size must be an int >= 2 (got {population_size!r})."
            )
        self.population_size = population_size
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
        super().__init__(space, **common)

    def _make_sampler(self, seed: int) -> Any:
        import optuna

        return optuna.samplers.NSGAIISampler(
            population_size=self.population_size,
            crossover_prob=self.crossover_prob,
            mutation_prob=self.mutation_prob,
            seed=seed,
        )
