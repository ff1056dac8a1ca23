"""A one-shot search as one trial of ``nas.search.run`` (in-process or a Ray Tune trial).

A one-shot method does not propose archs one by one: it trains one supernet and derives one
arch. It enters the one search driver as a strategy that proposes a single candidate (the
space's base arch, standing for the search) and an evaluator that runs the whole one-shot
search for that trial. The trial's row holds the *derived* arch (its ``arch``, ``arch_id``,
``graph_hash``, params and FLOPs), its supernet-inherited accuracies as ``val_accuracy`` and
``test_accuracy``, the supernet's loss per epoch as ``train_loss_curve``, and in ``extra``
the method, its configuration and the architecture-parameter trajectory (DARTS family) or
the evolution's best-so-far curve (SPOS). ``extra["score"]`` says the accuracies are
inherited, not from training the arch alone.

Example:
    >>> from nas.search import run
    >>> from nas.space import get_space
    >>> space = get_space("nb201_1d")
    >>> strategy, evaluator = plan("spos", space, "synthetic", epochs=1, device="cpu",
    ...     options={"evaluations": 2, "population_size": 2, "sample_size": 2},
    ...     dataset_kwargs={"length": 40, "num_classes": 10, "num_train": 200, "num_test": 50})
    >>> out = run(space, strategy, evaluator, budget=1, progress=False)
    >>> out.best.extra_dict()["score"]
    'supernet-inherited'
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nas.oneshot._methods import OneShotConfig, check_method
from nas.oneshot._supernet import OneShotError, base_values
from nas.run._evaluator import DatasetTrial
from nas.search import Constraint, Objective, Strategy

if TYPE_CHECKING:
    from nas.space import Arch, Space
    from nas.store import Result

__all__ = ["OneShotEvaluator", "OneShotStrategy", "plan", "plan_from_cli"]


class OneShotStrategy(Strategy):
    """The driver's side of a one-shot search: one proposal, which stands for the search.

    The proposal is the space's base arch (every decision at its default, ``fixed`` applied);
    the trial's row names the derived arch instead (see :class:`OneShotEvaluator`).
    """

    def __init__(
        self,
        space: Space,
        *,
        method: str,
        fixed: Mapping[str, Any] | None = None,
        objectives: Sequence[Objective | str] = (Objective("val_accuracy"),),
        constraints: Sequence[Constraint] = (),
        seed: int = 0,
    ) -> None:
        check_method(method)
        self.name = method  # type: ignore[misc]  # the run's strategy column and resume check
        super().__init__(space, objectives=objectives, constraints=constraints, seed=seed)
        self._base = space.validate(base_values(space, fixed or {}))  # the supernet's base

    def _propose(self, candidate_id: str) -> Arch | None:
        return None if self._candidates else self._base


class OneShotEvaluator(DatasetTrial):
    """Runs a whole one-shot search as the evaluation of its one trial.

    Implements the ``nas.search.Evaluator`` protocol and pickles cheaply (a registered space
    travels by name), so it runs in-process or inside a Ray trial with the trial's GPU
    fraction (``device="auto"`` takes the GPU Ray assigned). The arch it is called with only
    identifies the trial; the returned row holds the derived arch.

    Args:
        space: the searched space (or a registered name).
        dataset: a registered dataset name.
        method: ``darts``, ``beta_darts`` or ``spos``.
        config: the method's hyper-parameters (``epochs`` is the budget).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dataset_kwargs: keyword arguments of the dataset loader.
        threads: torch CPU threads while searching (None leaves torch's setting alone).
    """

    def __init__(
        self,
        space: Space | str,
        dataset: str,
        method: str,
        *,
        config: OneShotConfig | None = None,
        device: str = "auto",
        dataset_kwargs: Mapping[str, Any] | None = None,
        threads: int | None = None,
    ) -> None:
        from nas.space import get_space

        check_method(method)
        self.space = get_space(space) if isinstance(space, str) else space
        self.dataset = dataset
        self.method = method
        self.config = config or OneShotConfig()
        self.device = device
        self.dataset_kwargs = dict(dataset_kwargs or {})
        self.threads = threads

    def evaluate(self, arch: Arch, *, seed: int, trial_id: str | None = None) -> Result:
        """Run the one-shot search (``arch`` only names the trial) and return its row."""
        import torch

        from nas.data import get_dataset
        from nas.oneshot._methods import search
        from nas.store import Result

        previous = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        start = time.perf_counter()
        try:
            data = get_dataset(self.dataset, **self.dataset_kwargs)
            found = search(
                self.space, data, self.method, config=self.config, seed=seed, device=self.device
            )
        finally:
            torch.set_num_threads(previous)
        graph = self.space.compile(found.arch)
        extra: dict[str, Any] = {
            "score": "supernet-inherited",
            "oneshot_method": self.method,
            "oneshot_config": self.config.to_dict(),
            "supernet_params": int(sum(p.numel() for p in found.supernet.parameters())),
            "trajectory": found.trajectory,
        }
        if found.evolution:
            extra["evolution_best"] = found.evolution
        return Result(
            space=self.space.name,
            space_version=self.space.version,
            arch=found.arch.to_json(),
            arch_id=found.arch.arch_id,
            graph_hash=graph.graph_hash(),
            dataset=self.dataset,
            status="ok",
            seed=int(seed),
            fidelity=self.config.epochs,
            trial_id=trial_id,
            val_accuracy=found.val_accuracy,
            test_accuracy=found.test_accuracy,
            params=int(graph.params),
            flops=int(graph.flops),
            train_seconds=time.perf_counter() - start,
            train_loss_curve=[float(e["train_loss"]) for e in found.trajectory],
            extra=extra,
        )


def plan(
    method: str,
    space: Space,
    dataset: str,
    *,
    epochs: int,
    seed: int = 0,
    device: str = "auto",
    objectives: Sequence[Objective | str] = (Objective("val_accuracy"),),
    constraints: Sequence[Constraint] = (),
    options: Mapping[str, Any] | None = None,
    dataset_kwargs: Mapping[str, Any] | None = None,
) -> tuple[OneShotStrategy, OneShotEvaluator]:
    """The strategy and evaluator of a one-shot search of ``epochs`` supernet epochs, for
    ``nas.search.run(space, strategy, evaluator, budget=1, ...)``.

    ``options`` are :class:`OneShotConfig` fields (``arch_lr``, ``beta_weight``, ``fixed``, ...).
    """
    if "epochs" in (options or {}):
        raise OneShotError(
            "The supernet's epochs are the budget (plan(epochs=N), nas search --budget N), "
            "not an option: drop epochs from the options."
        )
    config = OneShotConfig.from_options({**dict(options or {}), "epochs": epochs})
    strategy = OneShotStrategy(
        space,
        method=method,
        fixed=config.fixed,
        objectives=objectives,
        constraints=constraints,
        seed=seed,
    )
    evaluator = OneShotEvaluator(
        space, dataset, method, config=config, device=device, dataset_kwargs=dataset_kwargs
    )
    return strategy, evaluator


def plan_from_cli(
    method: str,
    space: Space,
    *,
    dataset: str | None,
    budget: int | None,
    epochs_flag: int | None,
    seed: int,
    device: str,
    objectives: Sequence[Objective | str],
    constraints: Sequence[Constraint],
    options: Mapping[str, Any],
) -> tuple[OneShotStrategy, OneShotEvaluator]:
    """:func:`plan` for ``nas search --strategy METHOD``: ``--budget`` counts supernet epochs."""
    if dataset is None:
        raise OneShotError(
            f"--strategy {method} trains a supernet: pass --dataset NAME (not --evaluator)."
        )
    if budget is None or epochs_flag is not None:
        raise OneShotError(
            f"--strategy {method} runs one supernet trial: give its epochs as --budget N "
            f"(a count, not a duration), without --epochs."
        )
    return plan(
        method, space, dataset, epochs=budget, seed=seed, device=device,
        objectives=objectives, constraints=constraints, options=options,
    )  # fmt: skip
