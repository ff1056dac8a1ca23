"""Property: any valid `Result` survives a write to Parquet and a read back unchanged."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.store import STATUSES, Result, ResultStore

_text = st.text(max_size=12)
_maybe_text = st.none() | _text
_float = st.floats(allow_nan=False)  # NaN != NaN; NaN has its own test
_curve = st.none() | st.lists(_float, max_size=6)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | _float.filter(lambda f: abs(f) < 1e300)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_times = st.none() | st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)

results = st.builds(
    Result,
    space=st.text(min_size=1, max_size=8),
    arch=st.dictionaries(_text, _json, max_size=4),
    arch_id=st.text(min_size=1, max_size=16),
    dataset=st.text(min_size=1, max_size=8),
    status=st.sampled_from(STATUSES),
    space_version=_maybe_text,
    graph_hash=_maybe_text,
    recipe=st.none() | st.dictionaries(_text, _json, max_size=3),
    seed=st.none() | st.integers(-(2**63) + 1, 2**63 - 1),
    fidelity=st.none() | st.integers(-(2**31) + 1, 2**31 - 1),
    error=_maybe_text,
    train_loss_curve=_curve,
    val_accuracy_curve=_curve,
    test_accuracy_curve=_curve,
    epoch_seconds=_curve,
    val_accuracy=st.none() | _float,
    test_accuracy=st.none() | _float,
    val_loss=st.none() | _float,
    params=st.none() | st.integers(0, 2**62),
    flops=st.none() | st.integers(0, 2**62),
    latency_ms=st.none() | _float,
    train_seconds=st.none() | _float,
    extra=st.none() | st.dictionaries(_text, _json, max_size=3),
    run_id=_maybe_text,
    trial_id=_maybe_text,
    host=_maybe_text,
    node_id=_maybe_text,
    engine_version=_maybe_text,
    created_at=_times,
    source=st.text(min_size=1, max_size=8),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(results, min_size=1, max_size=4))
def test_random_results_survive_write_and_read(rows: list[Result]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(tmp)
        store.append(rows, on_duplicate="keep")
        assert store.results() == rows
        assert store.keys() == {r.key for r in rows}
