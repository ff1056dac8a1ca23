from __future__ import annotations

import json

import numpy as np
import pytest

import nas.predictors  # noqa: F401  (registers the "predictor" strategy)
from nas.cli import main
from nas.search import get_strategy, list_strategies

MODEL = {"hidden": 8, "layers": 1, "emb_dim": 8, "epochs": 3, "n_clusters": 2}


def _objective(arch) -> float:
    return float(sum(int(v) for v in arch.values.values()))  # nb_macro digits: more = bigger


def test_predictor_strategy_registers_and_proposes_unseen_archs():
    assert "predictor" in list_strategies()
    model = {**MODEL, "hidden": 16, "layers": 2, "epochs": 15}
    s = get_strategy(
        "predictor", "nb_macro", seed=0, n_initial=6, pool_size=60, refit_every=3, model=model
    )
    seen = set()
    for _ in range(6):
        for c in s.ask(3):
            assert c.arch.arch_id not in seen
            seen.add(c.arch.arch_id)
            s.tell(c.candidate_id, {"val_accuracy": _objective(c.arch)})
    assert len(seen) == 18


def _last_mean(strategy, rounds: int = 8, last: int = 12) -> float:
    values = []
    for _ in range(rounds):
        for c in strategy.ask(3):
            values.append(_objective(c.arch))
            strategy.tell(c.candidate_id, {"val_accuracy": values[-1]})
    return float(np.mean(values[-last:]))


@pytest.mark.slow
def test_predictor_guided_proposals_beat_random_ones():
    # Paired over seeds (same budget, same space): once the model is fitted, its proposals
    # score higher than random ones on average. Each run is deterministic; the margin holds
    # whichever extra ops are registered (they change the feature vocabulary).
    model = {**MODEL, "hidden": 16, "layers": 2, "epochs": 15}
    guided, random = [], []
    for seed in range(4):
        s = get_strategy(
            "predictor", "nb_macro", seed=seed, n_initial=6, pool_size=60, refit_every=3,
            model=model,
        )  # fmt: skip
        guided.append(_last_mean(s))
        random.append(_last_mean(get_strategy("random", "nb_macro", seed=seed)))
    assert np.mean(guided) > np.mean(random) + 0.5, (guided, random)


def test_predictor_strategy_state_round_trip_repeats_proposals():
    kw = dict(seed=1, n_initial=3, pool_size=20, refit_every=2, model=MODEL)
    a = get_strategy("predictor", "nb_macro", **kw)
    for c in a.ask(5):
        a.tell(c.candidate_id, {"val_accuracy": _objective(c.arch)})
    state = json.loads(json.dumps(a.state_dict()))
    b = get_strategy("predictor", "nb_macro", **kw)
    b.load_state_dict(state)
    assert [c.arch.arch_id for c in a.ask(3)] == [c.arch.arch_id for c in b.ask(3)]


def test_cli_fit_then_rank_with_model(tmp_path, capsys):
    out = tmp_path / "model"
    rc = main(
        [
            "predictor",
            "fit",
            "--table",
            "nb-macro",
            "--train-size",
            "30",
            "--epochs",
            "3",
            "--hidden",
            "8",
            "--layers",
            "1",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0 and (out / "weights.pt").is_file()
    capsys.readouterr()
    rc = main(
        [
            "predictor",
            "rank",
            "--space",
            "nb_macro",
            "--candidates",
            "60",
            "--top",
            "5",
            "--model",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    got = json.loads(capsys.readouterr().out)
    assert got["scorer"] == "gennape" and len(got["top"]) == 5
    scores = [t["score"] for t in got["top"]]
    assert scores == sorted(scores, reverse=True)
    assert got["unique"] <= got["candidates"] == 60


def test_cli_eval_json_reports_every_metric(capsys):
    rc = main(
        [
            "predictor",
            "eval",
            "--table",
            "nb-macro",
            "--split",
            "random",
            "--train-sizes",
            "20",
            "--seeds",
            "1",
            "--test-size",
            "100",
            "--predictors",
            "rf,params,single_head",
            "--epochs",
            "2",
            "--hidden",
            "8",
            "--layers",
            "1",
            "--json",
        ]
    )
    assert rc == 0
    got = json.loads(capsys.readouterr().out)
    names = {s["predictor"] for s in got["summary"]}
    assert names == {"rf", "params", "single_head"}
    for s in got["summary"]:
        assert {"spearman", "kendall", "ndcg@10"} <= set(s)
        assert -1 <= s["spearman"] <= 1


def test_cli_bad_model_dir_is_one_line_exit_2(tmp_path, capsys):
    rc = main(["predictor", "rank", "--space", "nb_macro", "--model", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and err.count("\n") == 1


def test_pretrain_then_fit_from_encoder(tmp_path):
    from nas.predictors import (
        GennapePredictor,
        PredictorConfig,
        PretrainConfig,
        PretrainedEncoder,
        pretrain,
        sample_graphs,
    )

    graphs = sample_graphs(["nb_macro", "resnet"], 16, np.random.default_rng(0))
    enc = pretrain(graphs, PretrainConfig(hidden=8, layers=1, emb_dim=8, epochs=2, batch_size=8))
    assert len(enc.history) == 2 and np.isfinite(enc.history).all()
    enc.save(tmp_path / "enc")
    loaded = PretrainedEncoder.load(tmp_path / "enc")
    model = GennapePredictor(PredictorConfig(epochs=2, n_clusters=2), encoder=loaded.as_init())
    y = np.log([g.params for g in graphs])
    pred = model.fit(graphs, y).predict(graphs)
    assert pred.mean.shape == (16,)


def _interleaved(strategy, rounds: int, per_round: int) -> list[str]:
    ids = []
    for _ in range(rounds):
        for c in strategy.ask(per_round):
            ids.append(c.arch.arch_id)
            strategy.tell(c.candidate_id, {"val_accuracy": _objective(c.arch)})
    return ids


def test_warm_refits_replay_on_restore():
    kw = dict(seed=2, n_initial=3, pool_size=30, refit_every=2, refit_epochs=2, model=MODEL)
    a = get_strategy("predictor", "nb_macro", **kw)
    _interleaved(a, 4, 2)
    state = json.loads(json.dumps(a.state_dict()))
    assert len(state["extra"]["fits"]) >= 2  # a first fit and at least one warm refit
    b = get_strategy("predictor", "nb_macro", **kw)
    b.load_state_dict(state)
    assert _interleaved(a, 3, 2) == _interleaved(b, 3, 2)


def test_each_arch_is_compiled_once_while_cached(monkeypatch):
    from collections import Counter

    s = get_strategy(
        "predictor", "nb_macro", seed=0, n_initial=4, pool_size=40, refit_every=4, model=MODEL
    )
    compiled: Counter[str] = Counter()
    real = type(s.space).compile

    def counting(space, arch, **kw):  # counts, then compiles for real
        compiled[arch.arch_id] += 1
        return real(space, arch, **kw)

    monkeypatch.setattr(type(s.space), "compile", counting)
    _interleaved(s, 6, 4)
    assert compiled and max(compiled.values()) == 1


def test_warm_fuzzy_cmeans_keeps_cluster_order():
    from nas.predictors import fuzzy_cmeans

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    for init in (np.array([[5.0, 5.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [5.0, 5.0]])):
        centers, u = fuzzy_cmeans(x, 2, rng=rng, init=init)
        np.testing.assert_allclose(centers, init, atol=0.2)  # cluster k stays cluster k
        assert (u.argmax(1)[:20] == np.argmin(np.abs(init[:, 0]))).all()


@pytest.mark.slow
@pytest.mark.ray
def test_cli_pretrain_runs_one_ray_tune_trial_per_seed(tmp_path, capsys):
    import ray

    from nas.cli import main
    from nas.predictors import PretrainedEncoder

    out = tmp_path / "enc"
    argv = ["predictor", "pretrain", "--spaces", "nb_macro,nb201", "--graphs", "24"]
    argv += ["--epochs", "2", "--hidden", "8", "--layers", "1", "--ray", "--num-seeds", "2"]
    argv += ["--out", str(out), "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert sorted(t["seed"] for t in payload["trials"]) == [0, 1]
    for trial in payload["trials"]:
        assert np.isfinite(trial["final_loss"])
        enc = PretrainedEncoder.load(trial["out"])  # each trial saved its own encoder
        assert len(enc.history) == 2
    assert {t["out"] for t in payload["trials"]} == {str(out / "seed0"), str(out / "seed1")}
    assert not ray.is_initialized()  # the CLI shut down the Ray it started


def test_cli_transfer_from_other_families_with_a_pretrained_encoder(tmp_path, capsys):
    from nas.predictors import PretrainConfig, pretrain, sample_graphs

    graphs = sample_graphs(["nb201", "nb_macro"], 16, np.random.default_rng(0))
    cfg = PretrainConfig(hidden=8, layers=1, emb_dim=8, epochs=1, batch_size=8)
    pretrain(graphs, cfg).save(tmp_path / "enc")
    argv = ["predictor", "eval", "--pretrain-on", "nb101-cifar10,tnb101-micro-scene"]
    argv += ["--finetune-on", "nb201-cifar10", "--finetune-size", "10", "--per-table", "30"]
    argv += ["--test-size", "60", "--seeds", "1", "--epochs", "2", "--encoder"]
    argv += [str(tmp_path / "enc"), "--json"]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    modes = {s["mode"]: s for s in got["summary"] if s["archs"] == "test"}
    assert set(modes) == {"zero-shot", "finetune-10", "scratch-10", "params", "flops"}
    assert all(-1 <= s["spearman"] <= 1 for s in modes.values())


def test_cli_in_space_eval_starts_from_a_pretrained_encoder(tmp_path, capsys):
    from nas.predictors import PretrainConfig, pretrain, sample_graphs

    graphs = sample_graphs(["nb201"], 16, np.random.default_rng(0))
    cfg = PretrainConfig(hidden=8, layers=1, emb_dim=8, epochs=1, batch_size=8)
    pretrain(graphs, cfg).save(tmp_path / "enc")
    argv = ["predictor", "eval", "--table", "nb201-cifar10", "--train-sizes", "10"]
    argv += ["--test-size", "60", "--seeds", "1", "--epochs", "2", "--predictors", "gennape"]
    argv += ["--split", "random", "--json"]
    scores = []
    for extra in ([], ["--encoder", str(tmp_path / "enc")], []):
        assert main(argv + extra) == 0
        summaries = json.loads(capsys.readouterr().out)["summary"]
        (summary,) = [s for s in summaries if s["archs"] == "all"]
        scores.append((summary["spearman"], summary["mae"]))
    # Same seed and data: only the encoder's initial weights (and size) differ.
    assert scores[0] == scores[2] and scores[1] != scores[0]
