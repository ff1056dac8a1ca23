"""An evaluator whose chosen archs hang after two epochs (a real wait, no report), and a
search process to kill (``python -m tests.reliability._hang RUN_DIR STORE BUDGET_S``)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from nas.search._driver import arch_row
from nas.space import Arch, get_space
from nas.store import Result


class Hangs:
    """Three 0.05-s epochs per arch; an arch in ``hang`` (arch ids; None: every arch) hangs
    after its second epoch, reporting nothing more."""

    dataset = "custom"

    def __init__(self, hang: set[str] | None = None, *, epoch_s: float = 0.05) -> None:
        self.hang, self.epoch_s = hang, epoch_s

    def evaluate(
        self,
        arch: Arch,
        *,
        seed: int,
        trial_id: str | None = None,
        on_epoch: Callable[[Result], Any] | None = None,
    ) -> Result:
        curve: list[float] = []
        for epoch in (1, 2, 3):
            time.sleep(self.epoch_s)
            curve.append(10.0 * epoch)
            row = arch_row(
                arch, self.dataset, "ok", fidelity=epoch, val_accuracy=curve[-1],
                val_accuracy_curve=list(curve), trial_id=trial_id,
            )  # fmt: skip
            if on_epoch is not None:
                on_epoch(row)
            if epoch == 2 and (self.hang is None or arch.arch_id in self.hang):
                threading.Event().wait(3600)  # hung: no exception, no report
        return row


def main(run_dir: str, store: str, budget_s: float) -> None:
    from nas.search import run

    resume = (__import__("pathlib").Path(run_dir) / "search_state.json").is_file()
    out = run(
        get_space("nb201"), "random", Hangs(), store=store, run_dir=run_dir, resume=resume,
        time_budget_s=budget_s, progress=False,
    )  # fmt: skip
    print(f"wall {out.wall_seconds:.3f} rows {len(out.results)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
