"""Optuna samplers (TPE, NSGA-II) driven through Optuna's public ask-and-tell API.

Each proposal is one ``study.ask()`` answered define-by-run by ``space.suggest(trial)``, so
conditional spaces work. An arch Optuna proposes again is told the known result (once the
original is told) and Optuna is asked again, up to ``max_retries`` times; then a random
unseen arch is enqueued into the study so Optuna still learns from it.

The study lives in an Optuna storage: by default in memory, in a journal whose log is the
strategy's saved state (a restore replays it into exactly the same study, NSGA-II's cache
included); or at ``sqlite:///PATH`` (any SQLAlchemy URL) or a journal file, where
optuna-dashboard and other processes open it. A restore of a stored study fails the trials
asked after the last checkpoint and never told. Before every ask the sampler is re-seeded
from ``(seed, trials in the study)``, so its randomness is a function of the study alone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nas.search._base import SearchError, Strategy, Told, check_int
from nas.search._registry import register_strategy
from nas.space import Arch, Space

__all__ = ["NSGA2Search", "OptunaStrategy", "TPESearch", "open_storage", "optuna_study"]

_RDB_SCHEMES = ("sqlite:", "postgresql", "mysql", "oracle", "mssql")


def optuna_study(
    strategy: str, storage: str | None, run_dir: str | os.PathLike[str] | None
) -> dict[str, Any]:
    """The ``storage``/``study_name`` options of strategy ``strategy`` in a run directory.

    An Optuna strategy's study is named after the run id (the run directory's name) and kept
    in ``storage``, by default ``sqlite:///RUN_DIR/optuna.sqlite3``; without a run directory
    it stays in memory. Other strategies get no options.

    Raises:
        SearchError: ``storage`` given for a strategy that is not Optuna-backed.
    """
    from nas.search._registry import _STRATEGIES

    cls = _STRATEGIES.get(strategy) if strategy in _STRATEGIES else None
    if not (isinstance(cls, type) and issubclass(cls, OptunaStrategy)):
        if storage is not None:
            raise SearchError(
                f"--optuna-storage applies to Optuna strategies (tpe, nsga2), not {strategy!r}; "
                f"drop it or pick one of those."
            )
        return {}
    if run_dir is None:
        return {} if storage is None else {"storage": storage}
    storage = storage or f"sqlite:///{Path(run_dir).resolve() / 'optuna.sqlite3'}"
    return {"storage": storage, "study_name": Path(run_dir).name}


def open_storage(url: str) -> Any:
    """The Optuna storage at ``url``: an SQLAlchemy URL, or a journal file (``journal:PATH``).

    Raises:
        SearchError: an empty URL, or a journal file in a directory that does not exist.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not isinstance(url, str) or not url.strip():
        raise SearchError(
            f"Expected an Optuna storage URL such as sqlite:///PATH or journal:PATH (got {url!r})."
        )
    if url.startswith(_RDB_SCHEMES):
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(url)
    path = Path(url.removeprefix("journal:"))
    if not path.parent.is_dir():
        raise SearchError(
            f"The Optuna journal file {str(path)!r} is in a directory that does not exist; "
            f"create it or pass another path."
        )
    return JournalStorage(JournalFileBackend(str(path)))


@functools.cache
def _memory_journal() -> type:
    """An Optuna journal backend kept in a list: the whole study as JSON-able log records."""
    from optuna.storages.journal import BaseJournalBackend

    class MemoryJournal(BaseJournalBackend):
        def __init__(self, logs: Iterable[dict[str, Any]] = ()) -> None:
            self.logs: list[dict[str, Any]] = list(logs)

        def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
            return self.logs[log_number_from:]

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            self.logs.extend(logs)

    return MemoryJournal


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
    """A stand-in trial answering ``space.suggest`` from a known arch, recording its params
    as Optuna represents them (tuple-valued choices become indices) to enqueue the arch."""

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
        storage: where the study lives: None (in memory, saved with the strategy's
            state), an SQLAlchemy URL (``sqlite:///PATH``) or a journal file (``journal:PATH``).
        study_name: the study's name in the storage (default ``nas-STRATEGY``); an
            existing study of that name is continued.
        **common: ``objectives``, ``constraints``, ``seed`` (see :class:`Strategy`).

    Attributes:
        study: the ``optuna.Study`` this strategy asks and tells.
    """

    def __init__(
        self,
        space: Space,
        *,
        max_retries: int = 20,
        storage: str | None = None,
        study_name: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(space, **common)
        self.max_retries = check_int(self.name, "max_retries", max_retries)
        self.storage_url = storage
        self.study_name = study_name or f"nas-{self.name}"
        self._journal = _memory_journal()() if storage is None else None
        self.study = self._open_study()
        self._trial_of: dict[str, int] = {}  # candidate id -> trial number
        self._shadows: dict[str, list[int]] = {}  # pending candidate -> duplicate trials
        self._live: dict[int, Any] = {}  # trial number -> optuna.Trial asked in this session

    def _make_sampler(self, seed: int) -> Any:
        raise NotImplementedError

    def _open_study(self) -> Any:
        """The study named ``study_name`` in the storage, created when it is not there."""
        import optuna
        from optuna.storages.journal import JournalStorage

        if self._journal is not None:
            storage = JournalStorage(self._journal)
        else:
            storage = open_storage(self.storage_url or "")
        directions = ["maximize" if o.direction == "max" else "minimize" for o in self.objectives]
        with _quiet_optuna():
            sampler = self._make_sampler(self.seed)
            # Load an existing study rather than create_study(load_if_exists=True): a
            # journal logs every create, a refused duplicate too.
            if self.study_name in optuna.study.get_all_study_names(storage):
                study = optuna.load_study(
                    study_name=self.study_name, storage=storage, sampler=sampler
                )
            else:
                study = optuna.create_study(
                    storage=storage,
                    study_name=self.study_name,
                    directions=directions,  # type: ignore[arg-type]
                    sampler=sampler,
                    load_if_exists=True,  # another process may create it first
                )
            found = [d.name.lower() for d in study.directions]
            if found != directions:
                raise SearchError(
                    f"Optuna study {self.study_name!r} in {self.storage_url!r} has directions "
                    f"{found}, not {directions}; pass another study_name or storage."
                )
            if not study.metric_names:
                study.set_metric_names([o.metric for o in self.objectives])
        return study

    def _ask_trial(self, fixed: dict[str, Any] | None = None) -> Any:
        n_trials = len(self.study.get_trials(deepcopy=False))
        seed = int(np.random.SeedSequence([self.seed, n_trials]).generate_state(1)[0])
        with _quiet_optuna():
            self.study.sampler = self._make_sampler(seed)
            if fixed is not None:
                self.study.enqueue_trial(fixed, skip_if_exists=False)
            trial = self.study.ask()
        self._live[trial.number] = trial
        return trial

    def _propose(self, candidate_id: str) -> Arch | None:
        for _ in range(self.max_retries):
            trial = self._ask_trial()
            arch = self.space.suggest(trial)
            if not self._seen(arch):
                self._claim(trial, candidate_id, arch)
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
        self._claim(trial, candidate_id, fallback)
        return fallback

    def _claim(self, trial: Any, candidate_id: str, arch: Arch) -> None:
        trial.set_user_attr("candidate_id", candidate_id)
        trial.set_user_attr("arch_id", arch.arch_id)
        self._trial_of[candidate_id] = trial.number

    def _observe(self, candidate_id: str, told: Told) -> None:
        self._finish(self._trial_of[candidate_id], told)
        for number in self._shadows.pop(candidate_id, []):
            self._finish(number, told)

    def _finish(self, number: int, told: Told) -> None:
        from optuna.trial import TrialState

        # A trial asked before a restore has no Trial object here: it is told by number
        # (Optuna's public API), and its constraints, which only a Trial can set, are lost.
        trial = self._live.pop(number, number)
        with _quiet_optuna():
            if not told.ok:
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                return
            if self.constraints and not isinstance(trial, int):
                # Optuna >= 5 reads constraints from the trial: <= 0 means satisfied.
                for i, c in enumerate(self.constraints):
                    violation = c.signed_violation(told.metrics[c.metric])
                    trial.set_constraint(f"{i}:{c.metric}", violation)
            values = [told.metrics[o.metric] for o in self.objectives]
            self.study.tell(trial, values, skip_if_finished=True)

    def _extra_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "storage": self.storage_url,
            "study_name": self.study_name,
            "trial_of": dict(self._trial_of),
            "shadows": {k: list(v) for k, v in self._shadows.items()},
        }
        if self._journal is not None:
            out["journal"] = [_canonical(log) for log in self._journal.logs]
        return out

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        from optuna.trial import TrialState

        if extra.get("storage", self.storage_url) != self.storage_url:
            raise SearchError(
                f"The saved state's Optuna storage is {extra.get('storage')!r}, not "
                f"{self.storage_url!r}; pass the same storage to resume."
            )
        self.study_name = str(extra.get("study_name", self.study_name))
        if self.storage_url is None:
            self._journal = _memory_journal()(extra.get("journal", []))
        self.study = self._open_study()
        self._trial_of = {k: int(v) for k, v in extra.get("trial_of", {}).items()}
        self._shadows = {k: [int(n) for n in v] for k, v in extra.get("shadows", {}).items()}
        self._live = {}
        known = set(self._trial_of.values()) | {n for v in self._shadows.values() for n in v}
        with _quiet_optuna():
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if t.number not in known:  # asked after the last checkpoint, never told
                    self.study.tell(t.number, state=TrialState.FAIL)


_EPOCH = "1970-01-01T00:00:00.000000+00:00"


def _canonical(log: Mapping[str, Any]) -> dict[str, Any]:
    """A journal record without wall-clock times and worker ids, so a saved state is a
    function of the search alone (a restore then saves exactly what an uninterrupted run
    saves); a restored in-memory study shows its old trials at the epoch."""
    out = dict(log)
    if "worker_id" in out:
        out["worker_id"] = "nas"
    for key in ("datetime_start", "datetime_complete"):
        if out.get(key) is not None:
            out[key] = _EPOCH
    return out


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
        self.population_size = check_int("nsga2", "population_size", population_size, low=2)
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
