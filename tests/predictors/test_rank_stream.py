"""Streaming ranking returns what ranking every candidate at once returns."""

from __future__ import annotations

import numpy as np
import pytest

from nas.predictors import GennapePredictor, rank_candidates
from nas.predictors._rank import candidates
from nas.predictors._rank_first import DecisionDraws
from nas.space import Arch, Space, get_space

from .conftest import TINY


@pytest.fixture(scope="module")
def model(macro_graphs) -> GennapePredictor:
    graphs, y = macro_graphs
    return GennapePredictor(TINY).fit(graphs, y)


def rank_all_at_once(
    space: Space, archs: list[Arch], top: int, model: GennapePredictor | None
) -> list[tuple[str, float]]:
    """The reference: dedupe by arch id then graph hash (first met wins), score every
    candidate in one call, sort by score (ties: first met)."""
    by_arch: dict[str, int] = {}
    for i, a in enumerate(archs):
        by_arch.setdefault(a.arch_id, i)
    kept, graphs, hashes = [], [], set()
    for i in sorted(by_arch.values()):
        g = space.compile(archs[i], check=False)
        if g.graph_hash() not in hashes:
            hashes.add(g.graph_hash())
            kept.append(i)
            graphs.append(g)
    if model is None:
        scores = [float(g.params) for g in graphs]
    else:
        scores = model.predict(graphs).mean.tolist()
    order = sorted(range(len(kept)), key=lambda j: (-scores[j], kept[j]))[:top]
    return [(archs[kept[j]].arch_id, scores[j]) for j in order]


def stream(space: Space, n: int, seed: int) -> list[Arch]:
    """The candidates ``rank_candidates`` draws for ``n`` and ``seed``, as archs."""
    draws = DecisionDraws(space)
    blocks = candidates(space, n, int(np.random.default_rng(seed).integers(0, 2**63 - 1)))
    return [draws.arch(row) for b in blocks for row in b.rows]


def _ids_scores(result) -> tuple[list[str], list[float]]:
    return [a.arch_id for a, _, _ in result.top], [s for _, s, _ in result.top]


def test_streaming_top_k_equals_ranking_all_at_once(model) -> None:
    space = get_space("nb_macro")
    archs = stream(space, 300, 3)
    expected = rank_all_at_once(space, archs, 10, model)
    got = rank_candidates(space, 300, 10, model=model, rng=np.random.default_rng(3), batch=7)
    ids, scores = _ids_scores(got)
    assert ids == [i for i, _ in expected]
    np.testing.assert_allclose(scores, [s for _, s in expected], rtol=1e-5)
    assert got.candidates == 300
    assert got.unique == len({space.graph_hash(a) for a in archs})


def test_the_dedupe_on_decisions_changes_no_top_k() -> None:
    space = get_space("nb_macro")  # 6,561 archs: 2,000 draws repeat some hundreds
    archs = stream(space, 2000, 5)
    got = rank_candidates(space, 2000, 15, rng=np.random.default_rng(5))
    assert got.distinct["decisions"] == len({a.arch_id for a in archs}) < 2000
    assert got.distinct["archs"] == got.distinct["decisions"]  # nothing compiled twice
    expected = rank_all_at_once(space, archs, 15, None)  # dedupes by arch id after building
    assert _ids_scores(got) == ([i for i, _ in expected], [s for _, s in expected])


@pytest.mark.slow
def test_params_ranking_of_an_enumerated_space_matches_and_dedupes_graphs() -> None:
    space = get_space("nb201")
    archs = [a for _, a in zip(range(400), space.enumerate())]
    expected = rank_all_at_once(space, archs, 12, None)
    got = rank_candidates(
        space, 400, 12, rng=np.random.default_rng(0), enumerate_all=True, batch=50
    )
    assert _ids_scores(got) == ([i for i, _ in expected], [s for _, s in expected])
    assert len(set(got.graph_hashes)) == 12
    assert got.unique < 400  # NB-201 has isomorphic cells: dedupe by graph hash happened


@pytest.mark.slow
def test_a_tiny_seen_limit_changes_nothing_but_the_work() -> None:
    space = get_space("nb201")
    full = rank_candidates(space, 300, 8, rng=np.random.default_rng(1))
    capped = rank_candidates(space, 300, 8, rng=np.random.default_rng(1), seen_limit=4)
    assert _ids_scores(capped) == _ids_scores(full)
    assert len(set(capped.graph_hashes)) == 8 and capped.unique > full.unique


def test_first_pass_keeps_survivors_and_reports_itself(model) -> None:
    space = get_space("nb_macro")
    kwargs = dict(model=model, batch=16, calibration=64)
    r = rank_candidates(space, 400, 5, rng=np.random.default_rng(4), survivors=50, **kwargs)
    assert r.first_pass is not None and r.first_pass["survivors"] == 50
    assert -1.0 <= r.first_pass["calibration_spearman"] <= 1.0
    assert r.unique <= 64 + 50  # the model scored only the calibration and the survivors
    # every returned score is the model's own score of that arch
    again = model.predict([space.compile(a, check=False) for a, _, _ in r.top]).mean
    np.testing.assert_allclose([s for _, s, _ in r.top], again, rtol=1e-5)
    # with room for every candidate the first pass drops nothing
    whole = rank_candidates(space, 400, 5, model=model, rng=np.random.default_rng(4), batch=16)
    roomy = rank_candidates(space, 400, 5, rng=np.random.default_rng(4), survivors=400, **kwargs)
    assert _ids_scores(roomy)[0] == _ids_scores(whole)[0]


def test_bad_arguments_are_one_line_errors(model) -> None:
    space = get_space("nb_macro")
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="top"):
        rank_candidates(space, 10, 0, rng=rng)
    with pytest.raises(ValueError, match="enumerate_all"):
        rank_candidates(space, 0, 3, rng=rng)
    with pytest.raises(ValueError, match="survivors"):
        rank_candidates(space, 10, 3, rng=rng, survivors=5)


def test_blocks_are_the_same_candidates_whoever_draws_them() -> None:
    space = get_space("nb201")
    whole = list(candidates(space, 1000, 7, block=128))
    parts = [list(candidates(space, 1000, 7, start=s, step=3, block=128)) for s in range(3)]
    by_start = {int(b.indices[0]): b for part in parts for b in part}
    assert sorted(by_start) == [int(b.indices[0]) for b in whole]
    for b in whole:
        np.testing.assert_array_equal(by_start[int(b.indices[0])].rows, b.rows)


def test_given_archs_rank_like_the_reference_with_the_ucb_score(model) -> None:
    space = get_space("nb_macro")
    archs = stream(space, 120, 9)
    got = rank_candidates(space, 0, 6, model=model, archs=archs, batch=16)
    assert _ids_scores(got)[0] == [i for i, _ in rank_all_at_once(space, archs, 6, model)]
    ucb = rank_candidates(space, 0, 6, model=model, archs=archs, kappa=2.0)
    pred = model.predict([space.compile(a, check=False) for a, _, _ in ucb.top])
    np.testing.assert_allclose([s for _, s, _ in ucb.top], pred.mean + 2.0 * pred.std, rtol=1e-5)


def test_without_the_graph_dedupe_every_arch_is_scored_and_nothing_hashed(monkeypatch) -> None:
    from nas.graph import Graph

    space = get_space("nb201")
    archs = [a for _, a in zip(range(300), space.enumerate())]
    by_graph = rank_candidates(space, 0, 5, archs=archs)
    assert by_graph.unique < 300  # NB-201's isomorphic cells share a graph

    def no_hash(graph):  # the arch id stands in: no graph is hashed
        raise AssertionError("hashed a graph")

    monkeypatch.setattr(Graph, "graph_hash", no_hash)
    by_arch = rank_candidates(space, 0, 5, archs=archs, dedupe_graphs=False)
    assert by_arch.unique == 300 and by_arch.graph_hashes == [a.arch_id for a, _, _ in by_arch.top]
    # the graph dedupe kept the first arch of each live graph, dropping some with more params
    assert by_arch.top[0][1] >= by_graph.top[0][1]


@pytest.fixture()
def small_blocks(monkeypatch):
    """Blocks of 128 candidates, so that a small ranking spreads over several workers."""
    import nas.predictors._rank as rank_module

    monkeypatch.setattr(rank_module, "BLOCK", 128)


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.parametrize("how", ["enumerate", "sample", "first_pass"])
def test_ray_workers_return_exactly_the_one_process_top_k(model, small_blocks, how) -> None:
    space = get_space("nb_macro")
    kwargs: dict = dict(model=model, batch=32, top=10)
    if how == "enumerate":
        kwargs.update(n=600, enumerate_all=True)
    elif how == "sample":
        kwargs.update(n=700)
    else:  # calibrated here, survivors from the workers' blocks
        kwargs.update(n=900, survivors=40, calibration=64)
    one = rank_candidates(space, rng=np.random.default_rng(0), **kwargs)
    spread = rank_candidates(space, rng=np.random.default_rng(0), ray=True, shards=3, **kwargs)
    assert spread.shards == 3 and spread.candidates == one.candidates == kwargs["n"]
    assert _ids_scores(spread)[0] == _ids_scores(one)[0]
    assert spread.indices == one.indices
    np.testing.assert_allclose(_ids_scores(spread)[1], _ids_scores(one)[1], rtol=1e-5)
    if how == "first_pass":
        assert spread.first_pass is not None and one.first_pass is not None
        assert spread.unique == one.unique  # the same calibration and survivors were scored


def test_cli_rank_streams_and_names_a_bad_first_pass(capsys) -> None:
    import json

    from nas.cli import main

    assert main(["predictor", "rank", "--space", "nb_macro", "--candidates", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["candidates"] == 60 and len(out["top"]) == 10 and out["first_pass"] is None
    args = ["predictor", "rank", "--space", "nb_macro", "--candidates", "60", "--survivors", "20"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "survivors" in err and "model" in err


def test_the_first_pass_is_on_by_default_past_the_threshold(model, monkeypatch) -> None:
    import nas.predictors._rank as rank_module

    monkeypatch.setattr(rank_module, "FIRST_PASS_ABOVE", 100)
    monkeypatch.setattr(rank_module, "DEFAULT_SURVIVORS", 50)
    space = get_space("nb_macro")
    kwargs = dict(model=model, rng=np.random.default_rng(2), calibration=32)
    auto = rank_candidates(space, 300, 5, **kwargs)
    assert auto.first_pass is not None and auto.first_pass["auto"] is True
    assert auto.first_pass["survivors"] == 50
    assert auto.distinct["archs"] <= 32 + 50 < auto.distinct["decisions"]  # the model scored fewer
    off = rank_candidates(space, 300, 5, survivors=0, **kwargs)
    assert off.first_pass is None and off.distinct["archs"] == off.distinct["decisions"]


@pytest.mark.parametrize("name", ["mobilenet", "resnet", "nb201"])
def test_drawn_rows_are_archs_of_the_space_with_its_sampling_distribution(name) -> None:
    space = get_space(name)
    draws = DecisionDraws(space)
    rows = draws.draw(np.random.default_rng(0), 4000)
    archs = [draws.arch(row) for row in rows[:200]]
    assert all(space.validate(a.values).arch_id == a.arch_id for a in archs)
    rng = np.random.default_rng(1)
    sampled = [space.sample(rng) for _ in range(4000)]
    key = next(iter(space.decisions))  # the first decision is active in every arch
    values = space.decisions[key].values()
    drawn = np.bincount(rows[:, 0], minlength=len(values)) / len(rows)
    ref = np.array([sum(a.values[key] == v for a in sampled) for v in values]) / len(sampled)
    np.testing.assert_allclose(drawn, ref, atol=0.04)
