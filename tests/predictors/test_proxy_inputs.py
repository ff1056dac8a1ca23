"""Zero-cost proxy scores as the predictor's graph-level inputs (``proxy_inputs``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from nas.predictors import (
    FeatureSpec,
    GennapePredictor,
    PredictorConfig,
    PredictorError,
    featurize,
)
from nas.predictors._baselines import graph_proxy_scores
from nas.predictors._model import graph_inputs

from .conftest import TINY


def test_proxy_scores_are_fixed_per_graph_and_leave_the_callers_rng_alone(macro_graphs):
    graphs, _ = macro_graphs
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = graph_proxy_scores(graphs[0], ["synflow", "nwot"])
    assert torch.rand(1) == before  # fork_rng: the caller's stream is where it was
    b = graph_proxy_scores(graphs[0], ["synflow", "nwot"])
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all() and a[0] > 0  # log1p(synflow) of a connected net
    spread = {float(graph_proxy_scores(g, ["synflow"])[0]) for g in graphs[:6]}
    assert len(spread) > 1  # the score tells graphs apart


def test_synflow_bn_reads_the_batchs_bn_statistics(macro_graphs):
    # NAS-Bench-Macro nets have BN: calibrated statistics change the score, and the
    # module's own BN momentum is left as it was
    from nas.graph import to_torch
    from nas.predictors import random_batch, zero_cost_scores

    g = macro_graphs[0][0]
    plain, calibrated = graph_proxy_scores(g, ["synflow", "synflow_bn"])
    assert np.isfinite([plain, calibrated]).all() and plain != calibrated
    module = to_torch(g)
    norms = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms
    zero_cost_scores(module, random_batch((3, 32, 32), 10, batch_size=4), ["synflow_bn"])
    assert all(m.momentum == 0.1 for m in norms)


def test_unknown_proxy_is_one_clear_error(macro_graphs):
    with pytest.raises(PredictorError, match="Unknown zero-cost proxy 'synflo'"):
        graph_proxy_scores(macro_graphs[0][0], ["synflo"])


def test_proxy_inputs_follow_flops_and_params_and_survive_save_load(tmp_path, macro_graphs):
    graphs, y = macro_graphs
    cfg = replace(TINY, proxy_inputs=("synflow",))
    model = GennapePredictor(cfg).fit(graphs[:20], y[:20])
    feats = model.featurize(graphs[20:25])
    g = graph_inputs(feats, model.spec)
    assert g.shape == (5, 3)
    np.testing.assert_allclose(g[:, 0], np.log1p([x.flops for x in graphs[20:25]]), rtol=1e-5)
    np.testing.assert_array_equal(g[:, 2], [f.scores[0] for f in feats])
    model.save(tmp_path / "m")
    loaded = GennapePredictor.load(tmp_path / "m")
    assert loaded.config.proxy_inputs == ("synflow",)
    np.testing.assert_array_equal(loaded.predict(graphs[20:]).mean, model.predict(graphs[20:]).mean)


def test_features_without_the_models_proxies_are_refused(macro_graphs):
    graphs, y = macro_graphs
    model = GennapePredictor(replace(TINY, proxy_inputs=("synflow",))).fit(graphs[:10], y[:10])
    with pytest.raises(PredictorError, match="carry 0 proxy scores"):
        model.predict([featurize(graphs[0], FeatureSpec.default())])


def test_proxy_inputs_need_graph_inputs():
    with pytest.raises(PredictorError, match="need graph_inputs"):
        PredictorConfig(graph_inputs=False, proxy_inputs=("synflow",))
    with pytest.raises(PredictorError, match="Unknown zero-cost proxy 'synflo'"):
        PredictorConfig(proxy_inputs=("synflo",))


def test_cli_bad_proxy_input_is_one_line_and_exit_2(capsys):
    from nas.cli import main

    argv = ["predictor", "eval", "--proxy-inputs", "synflo", "--seeds", "1", "--train-sizes", "10"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Unknown zero-cost proxy 'synflo'" in err


def test_each_proxy_scores_the_same_whichever_others_are_asked_for(macro_graphs):
    from nas.predictors import ALL_PROXIES
    from nas.space import get_space

    mlp = get_space("mlp")  # dropout: every pass must draw the same masks
    graphs = [macro_graphs[0][0], mlp.compile(mlp.sample(np.random.default_rng(1)))]
    for g in graphs:
        together = graph_proxy_scores(g, ALL_PROXIES)
        alone = [graph_proxy_scores(g, [p])[0] for p in ALL_PROXIES]
        np.testing.assert_array_equal(together, alone)


def test_disk_cache_gives_the_computed_scores_and_is_read_back(tmp_path, macro_graphs):
    from nas.predictors._baselines import ProxyCache

    graphs = macro_graphs[0][:4]
    proxies = ["synflow", "nwot"]
    fresh = np.stack([graph_proxy_scores(g, proxies) for g in graphs])
    first = ProxyCache(tmp_path)
    cached = np.stack([graph_proxy_scores(g, proxies, cache=first) for g in graphs])
    np.testing.assert_array_equal(cached, fresh)
    assert first.computed == 4
    again = ProxyCache(tmp_path)  # a later run: every score comes from the files
    np.testing.assert_array_equal(
        np.stack([graph_proxy_scores(g, proxies, cache=again) for g in graphs]), fresh
    )
    assert again.computed == 0
    # a new proxy scores only the missing one; a line cut short by a killed writer is skipped
    (file,) = [f for f in tmp_path.iterdir() if "-nwot-" in f.name]
    file.write_text(file.read_text() + "deadbeef")
    mixed = ProxyCache(tmp_path)
    got = graph_proxy_scores(graphs[0], ["nwot", "snip"], cache=mixed)
    assert mixed.computed == 1 and got[0] == fresh[0, 1]
    assert got[1] == graph_proxy_scores(graphs[0], ["snip"])[0]


def test_features_read_the_cache_and_match_features_without_it(tmp_path, macro_graphs):
    from nas.predictors._baselines import ProxyCache

    spec = replace(FeatureSpec.default(), proxies=("synflow",))
    g = macro_graphs[0][5]
    with_cache = featurize(g, spec, proxy_cache=ProxyCache(tmp_path))
    np.testing.assert_array_equal(with_cache.scores, featurize(g, spec).scores)
    np.testing.assert_array_equal(with_cache.x, featurize(g, spec).x)


def test_cli_eval_keeps_proxy_scores_in_the_cache_dir(tmp_path, capsys):
    import json

    from nas.cli import main
    from nas.predictors import ALL_PROXIES

    argv = ["predictor", "eval", "--predictors", "zc", "--zc-archs", "3", "--seeds", "1",
            "--train-sizes", "10", "--proxy-cache", str(tmp_path), "--json"]  # fmt: skip
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)["summary"]
    files = sorted(f.name.split("-")[2] for f in tmp_path.iterdir())
    assert files == sorted(ALL_PROXIES)
    assert all(len(f.read_text().splitlines()) == 3 for f in tmp_path.iterdir())
    assert main(argv) == 0  # the second run reads the files: same figures
    assert json.loads(capsys.readouterr().out)["summary"] == first


def test_photo_batch_is_standardized_repeatable_and_refuses_non_rgb_shapes():
    from nas.predictors import photo_batch, random_batch

    x, y = photo_batch((3, 32, 32), 10, batch_size=16, seed=0)
    assert x.shape == (16, 3, 32, 32)
    np.testing.assert_allclose(x.mean((0, 2, 3)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std((0, 2, 3)).numpy(), 1.0, atol=1e-4)
    again, _ = photo_batch((3, 32, 32), 10, batch_size=16, seed=0)
    assert bool((again == x).all())
    assert not bool((photo_batch((3, 32, 32), 10, batch_size=16, seed=1)[0] == x).all())
    assert bool((y == random_batch((3, 32, 32), 10, batch_size=16, seed=0)[1]).all())
    # neighbouring pixels of a photo are alike; of noise they are not
    assert (
        float(torch.corrcoef(torch.stack([x[..., :-1].flatten(), x[..., 1:].flatten()]))[0, 1])
        > 0.5
    )
    with pytest.raises(ValueError, match="RGB crops"):
        photo_batch((1, 28, 28), 10)


def test_photo_proxies_differ_from_noise_and_are_nan_without_an_image_input(macro_graphs):
    from nas.predictors import PHOTO_PROXIES
    from nas.space import get_space

    g = macro_graphs[0][0]
    noise = graph_proxy_scores(g, [p.removesuffix("_photo") for p in PHOTO_PROXIES])
    photo = graph_proxy_scores(g, PHOTO_PROXIES)
    assert np.isfinite(photo).all() and not np.allclose(noise, photo)
    mlp = get_space("mlp")  # a flat input: no photo crop fits it, the proxy is undefined
    scores = graph_proxy_scores(
        mlp.compile(mlp.sample(np.random.default_rng(1))), ["nwot", "nwot_photo"]
    )
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
