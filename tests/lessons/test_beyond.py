"""Notebook 07: the Bayesian reading (MAP = posterior mean), path independence of iMAML's
meta-gradient (and not MAML's), the stochastic inner loop, its study and the stated conclusion."""

import math

import pytest
import torch

from helpers.imaml import exact_imaml_grad, imaml_grad, task_hessians
from helpers.inner import Adaptation, proximal_solve
from helpers.lessons.beyond import bayes, solvers, stochastic
from helpers.lessons.beyond.exercises import check_implicit_jacobian, check_posterior_mean
from helpers.lessons.beyond.panels import BayesPanel, family_mean_weights
from helpers.maml import maml_grad
from helpers.models import MLP, SoftplusMLP
from helpers.pretrained import load_pretrained, pretrained_record
from helpers.tasks import SinusoidTasks
from helpers.training import meta_train

F64 = torch.float64


def _trunk(name="maml"):
    """The linear model of notebook 07: the shipped network's last layer on its trunk features."""
    model, params = load_pretrained(name)
    feats = bayes.TrunkFeatures(model, {k: v.double() for k, v in params.items()})
    return feats, bayes.LinearFeatureModel(feats), {"w0": feats.head()}


# ------------------------------------------------------------------ the Bayesian reading

@pytest.mark.numerics
@pytest.mark.parametrize("lam", [0.05, 1.0, 20.0])
@pytest.mark.parametrize("k_shot", [1, 3, 10])
def test_imaml_inner_solution_is_posterior_mean_on_sinusoid_basis(lam, k_shot):
    task = SinusoidTasks().task(2.0, 0.7, k_shot, 5, generator=3, dtype=F64)
    Phi, y = bayes.sinusoid_features(task.x_tr[0]), task.y_tr[0]
    theta = family_mean_weights()
    post = bayes.posterior(Phi, y, theta, lam, sigma=0.5)
    w, steps, _ = bayes.map_by_gradient_descent(Phi, y, theta, lam, 0.5, delta=1e-11)
    assert (w - post.mean).abs().max().item() <= 1e-6
    assert steps >= 1


@pytest.mark.numerics
@pytest.mark.parametrize("lam,sigma", [(1.0, 2.0), (5.0, 0.5), (0.3, 1.0)])
def test_course_proximal_solve_reaches_posterior_mean_on_trunk_features(lam, sigma):
    """helpers.inner.proximal_solve, unchanged, on the last layer of the shipped MAML network: with
    lam_mse = 2 sigma^2 lam / K it lands on the Bayesian posterior mean (float64, 1e-6)."""
    feats, _, theta = _trunk()
    task = SinusoidTasks().task(4.0, 2.0, 10, 5, generator=1, dtype=F64)
    x, y = task.x_tr[0], task.y_tr[0]
    post = bayes.posterior(feats(x), y, theta["w0"], lam, sigma)
    w, _ = bayes.imaml_inner_solution(feats, x, y, theta["w0"], lam, sigma, delta=1e-12)
    assert (w - post.mean).abs().max().item() <= 1e-6


@pytest.mark.numerics
def test_trunk_features_reproduce_the_network():
    model, params = load_pretrained("maml")
    feats = bayes.TrunkFeatures(model, params)
    x = torch.linspace(-5, 5, 50).view(-1, 1)
    assert torch.allclose(feats(x) @ feats.head(), model(params, x).flatten(), atol=1e-5)


def test_sinusoid_weights_reproduce_the_task_family():
    x = torch.linspace(-5, 5, 30, dtype=F64).view(1, -1, 1)
    amp, phase = torch.tensor([3.1], dtype=F64), torch.tensor([2.4], dtype=F64)
    y = SinusoidTasks.function(x, amp, phase)[0].flatten()
    w = bayes.sinusoid_weights(amp[0], phase[0])
    assert torch.allclose(bayes.sinusoid_features(x[0]) @ w, y, atol=1e-12)


def test_family_mean_weights_match_monte_carlo():
    batch = SinusoidTasks().sample(200_000, 1, 1, 0, F64)
    w = bayes.sinusoid_weights(batch.amplitude, batch.phase).mean(0)
    assert torch.allclose(w, family_mean_weights(), atol=0.02)


def test_predictive_band_shrinks_with_data_and_prior_strength():
    task = SinusoidTasks().task(2.0, 0.7, 10, 5, generator=3, dtype=F64)
    Phi, y = bayes.sinusoid_features(task.x_tr[0]), task.y_tr[0]
    grid = bayes.sinusoid_features(torch.linspace(-5, 5, 40, dtype=F64).view(-1, 1))
    theta = family_mean_weights()

    def width(k, lam):
        return bayes.predictive(grid, bayes.posterior(Phi[:k], y[:k], theta, lam, 0.5))[1].mean().item()

    assert width(10, 1.0) < width(2, 1.0) < width(1, 1.0)
    assert width(2, 10.0) < width(2, 1.0)
    # with no data the std of f is the prior's: ||[sin x, cos x]|| = 1, so 1 / sqrt(lam)
    assert abs(width(0, 4.0) - 0.5) < 1e-12


def test_bayes_rejects_bad_input_naming_it():
    Phi, y, theta = torch.ones(3, 2, dtype=F64), torch.ones(3, dtype=F64), torch.zeros(2, dtype=F64)
    with pytest.raises(ValueError, match="lam"):
        bayes.posterior(Phi, y, theta, 0.0, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        bayes.posterior(Phi, y, theta, 1.0, -1.0)
    with pytest.raises(ValueError, match="theta"):
        bayes.posterior(Phi, y, torch.zeros(3, dtype=F64), 1.0, 1.0)


def test_bayes_panel_shows_posterior_mean_equals_imaml_solution():
    panel = BayesPanel()
    for lam, k in ((1.0, 3), (0.01, 1), (100.0, 20)):
        panel.set(lam=lam, k_shot=k)
        assert panel.last_error is None
        assert panel.gap <= 1e-6
        assert "posterior mean" in panel.caption.value
    panel.set(k_shot=3, lam=10.0)
    narrow = panel.band_width
    panel.set(lam=0.1)
    assert panel.band_width > narrow


def test_bayes_panel_reports_bad_k_as_message():
    panel = BayesPanel()
    with pytest.raises(ValueError, match="k_shot"):
        panel.draw(lam=1.0, k_shot=0)


def test_bayes_panel_shows_a_figure_or_a_message_over_every_slider_range():
    assert BayesPanel().sweep_problems() == {}  # latency: make bench


# ------------------------------------------------------------------ other inner solvers

@pytest.fixture(scope="module")
def linear_setup():
    feats, lin, theta = _trunk()
    batch = SinusoidTasks().sample(5, 10, 10, 3, F64)
    lam = 1.0
    phi_star = solvers.closed_form_solution(feats, theta, batch.x_tr, batch.y_tr, lam)
    Phi = feats(batch.x_tr)
    lipschitz = (2 * torch.linalg.eigvalsh(Phi.transpose(1, 2) @ Phi)[:, -1].max() / 10 + lam).item()
    return feats, lin, theta, batch, lam, phi_star, 1.0 / lipschitz


@pytest.mark.numerics
def test_closed_form_solves_the_inner_problem(linear_setup):
    _, lin, theta, batch, lam, phi_star, _ = linear_setup
    assert solvers.stationarity(lin, theta, phi_star, batch.x_tr, batch.y_tr, lam) <= 1e-10


def test_imaml_meta_grad_is_path_independent_maml_is_not(linear_setup):
    """Solvers that reach the same phi (closed form, GD = the course's proximal_solve, L-BFGS, GD
    warm-started at the previous meta-parameters' solution) give iMAML meta-gradients that agree to
    1e-4 relative; MAML's meta-gradient through the cold GD path and through the warm-started one
    differs clearly although both paths end at the same phi."""
    feats, lin, theta, batch, lam, phi_star, lr = linear_setup
    g_star, _ = exact_imaml_grad(lin, theta, batch, lam, lr, 0, 0.0, phi=phi_star)
    gd = proximal_solve(lin, theta, batch.x_tr, batch.y_tr, lam, lr, 20_000, 1e-11)
    lbfgs, _ = solvers.lbfgs_solve(lin, theta, batch.x_tr, batch.y_tr, lam, tol=1e-11)
    for phi in (gd.phi, lbfgs):
        g, _ = exact_imaml_grad(lin, theta, batch, lam, lr, 0, 0.0, phi=phi)
        assert solvers.relative_error(g, g_star) <= 1e-4

    # warm start: the exact solution for the previous meta-parameters, one step of 1e-4 per
    # coordinate away (an Adam step of learning rate 1e-4); it does not depend on theta
    theta_prev = {"w0": theta["w0"] + 1e-4 * torch.sign(torch.randn(theta["w0"].shape, dtype=F64,
                                                                    generator=torch.Generator().manual_seed(0)))}
    warm = solvers.closed_form_solution(feats, theta_prev, batch.x_tr, batch.y_tr, lam)
    maml_warm, phi_warm = solvers.unrolled_meta_grad(lin, theta, batch, lam, lr, 16, start=warm)
    maml_cold, phi_cold = solvers.unrolled_meta_grad(lin, theta, batch, lam, lr, int(gd.steps.max()))
    imaml = []
    for phi in (phi_warm, phi_cold):
        assert (phi["w0"] - phi_star["w0"]).norm(dim=1).max() <= 1e-4
        imaml.append(exact_imaml_grad(lin, theta, batch, lam, lr, 0, 0.0, phi=phi)[0])
        assert solvers.relative_error(imaml[-1], g_star) <= 1e-4
    imaml_gap = solvers.relative_error(imaml[0], imaml[1])
    maml_gap = solvers.relative_error(maml_warm, maml_cold)
    assert imaml_gap <= 1e-4
    assert maml_gap >= 2e-2 and maml_gap >= 100 * imaml_gap, f"MAML's paths differ by only {maml_gap:.1e}"
    # the cold, converged path's unrolled derivative is the implicit one (a known limit)
    assert solvers.relative_error(maml_cold, g_star) <= 1e-4


@pytest.mark.numerics
def test_unrolled_meta_grad_is_maml_grad(linear_setup):
    _, lin, theta, batch, lam, _, lr = linear_setup
    a, _ = solvers.unrolled_meta_grad(lin, theta, batch, lam, lr, 5)
    b, _ = maml_grad(lin, theta, batch, 5, lr, lam=lam)
    assert solvers.relative_error(a, b) <= 1e-12


def test_path_study_shows_warm_start_gap(linear_setup):
    feats, lin, theta, batch, lam, phi_star, lr = linear_setup
    theta_prev = {"w0": theta["w0"] + 1e-3}
    warm = solvers.closed_form_solution(feats, theta_prev, batch.x_tr, batch.y_tr, lam)
    res = solvers.path_study(lin, theta, batch, lam, lr, [4, 16], warm, phi_star=phi_star)
    row = res["GD, warm start"]
    assert all(m > 10 * i for m, i in zip(row["maml"], row["imaml"], strict=True))


# ------------------------------------------------------------------ the stochastic inner loop

@pytest.mark.numerics
def test_inner_solve_full_batch_is_the_course_proximal_solve():
    """batch_size None or K is the course's proximal_solve (gradient descent whose step halves when
    G_i would rise), here at the shipped iMAML theta and lambda with a step 0.03, too large at first."""
    model, theta = load_pretrained("imaml")
    theta = {k: v.double() for k, v in theta.items()}
    lam = stochastic.CONFIG["lam"]
    batch = SinusoidTasks().sample(4, 10, 10, 2, F64)
    ref = proximal_solve(model, theta, batch.x_tr, batch.y_tr, lam, 0.03, 20, 0.0)
    assert (ref.steps < 20).any()  # some steps were rejected: the safeguard is exercised
    for b in (None, 10):
        phi = stochastic.inner_solve(model, theta, batch.x_tr, batch.y_tr, lam, 0.03, 20, b)
        assert all(torch.allclose(phi[k], ref.phi[k], atol=1e-12) for k in phi)


@pytest.mark.numerics
def test_sgd_imaml_grad_full_batch_is_imaml_grad():
    model = MLP()
    theta = model.init(1)
    batch = SinusoidTasks().sample(5, 10, 10, 4)
    a, _ = stochastic.sgd_imaml_grad(model, theta, batch, 2.0, 0.01, 8, 5)
    b, _ = imaml_grad(model, theta, batch, 2.0, 0.01, 8, 0.0, 5)
    assert solvers.relative_error(a, b) <= 1e-5


def test_minibatches_are_distinct_support_points():
    x = torch.arange(30.0).view(3, 10, 1)
    xb, yb = stochastic.minibatch(x, -x, 4, torch.Generator().manual_seed(0))
    assert xb.shape == (3, 4, 1) and torch.equal(yb, -xb)
    for i in range(3):
        vals = xb[i].flatten().tolist()
        assert len(set(vals)) == 4 and all(10 * i <= v < 10 * (i + 1) for v in vals)


def test_sgd_steps_are_unbiased_on_average():
    """The mean of many mini-batch inner steps from theta equals the full-batch step (K = 4, b = 2)."""
    model = MLP((1, 8, 1))
    theta = model.init(0, dtype=F64)
    batch = SinusoidTasks().sample(1, 4, 4, 0, F64)
    full = stochastic.inner_solve(model, theta, batch.x_tr, batch.y_tr, 1.0, 0.02, 1, None)
    xs = batch.x_tr.expand(4000, -1, -1)
    ys = batch.y_tr.expand(4000, -1, -1)
    sgd = stochastic.inner_solve(model, theta, xs, ys, 1.0, 0.02, 1, 2, torch.Generator().manual_seed(1))
    assert (sgd["w0"] != theta["w0"]).flatten(1).any(1).all()  # no step was rejected by the safeguard
    for k in theta:
        spread = (sgd[k] - full[k][0]).std(0).max()
        assert (sgd[k].mean(0) - full[k][0]).abs().max() <= 5 * spread / math.sqrt(4000) + 1e-12


@pytest.mark.numerics
def test_gd_arm_of_the_study_is_meta_train_imaml():
    kw = dict(iterations=2, seed=5, meta_batch=3, k_shot=10, k_query=10, outer_lr=1e-3)
    net = SoftplusMLP(beta=5.0)  # the network is passed through: the shipped iMAML's architecture
    _, a, _ = stochastic.meta_train_stochastic(None, model=net, lam=20.0, inner_lr=0.008, inner_steps=3,
                                               cg_steps=2, progress=False, **kw)
    _, b, _ = meta_train("imaml", net, lam=20.0, inner_lr=0.008, inner_steps=3, delta=0.0, cg_steps=2,
                         progress=False, **kw)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_stochastic_rejects_bad_batch_size():
    model = MLP()
    theta = model.init(0)
    batch = SinusoidTasks().sample(2, 5, 5, 0)
    for bad in (0, 6, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            stochastic.inner_solve(model, theta, batch.x_tr, batch.y_tr, 1.0, 0.01, 2, bad)


TINY = stochastic._merge(stochastic.CONFIG, {
    "seeds": [0], "inner": {"n_tasks": 1, "steps": 3, "checkpoints": [3], "batch_sizes": [10, 2],
                            "timing_tasks": 2, "timing_steps": 2, "timing_rounds": 1},
    "reference": {"newton_steps": 2, "gd_steps": 5}, "meta": {"iterations": 1, "batch_sizes": [10, 2],
                                                               "meta_batch": 2},
    "eval": {"n_tasks": 4}})


def test_study_runs_end_to_end_on_a_tiny_configuration():
    model = MLP()
    study = stochastic.run_study(TINY, model.init(0), model, progress=False)
    text = stochastic.conclusion(study)
    assert text.startswith("Over 1 seeds the conjecture is")
    assert set(study["meta"]) == {"10", "2"}
    assert study["meta"]["10"]["paired_vs_gd"] == [None]
    pair = study["meta"]["2"]["paired_vs_gd"][0]
    assert pair["n"] <= 4 and pair["ci"] >= 0 and "Paired on the same held-out tasks" in text
    stochastic.plot_study(study)


# ------------------------------------------------------------------ the shipped study and its conclusion

def test_study_uses_the_shipped_imaml_recipe():
    """lambda, the outer loop and the network are those of its iMAML (imaml_cg5, the tuning study's
    configuration); only the inner solver (GD or SGD of step alpha, which the Newton-CG solver does
    not have) differs."""
    record = pretrained_record(stochastic.CONFIG["inner"]["model"])
    recipe = record["config"]
    cfg = stochastic.CONFIG
    assert cfg["lam"] == recipe["lam"]
    for key in ("outer_lr", "meta_batch"):
        assert cfg["meta"][key] == recipe[key], key
    assert (cfg["k_shot"], cfg["k_query"]) == (recipe["k_shot"], recipe["k_query"])
    assert cfg["meta"]["cg_steps"] == recipe["cg_steps"]
    assert cfg["inner"]["model"] == cfg["eval"]["rule"] == "imaml_cg5"
    shipped, _ = load_pretrained("imaml_cg5")
    assert isinstance(shipped, SoftplusMLP)  # the study meta-trains this network from scratch
    assert stochastic.eval_rule(cfg) == Adaptation(**record["evaluation"]["rule"])
    assert cfg["meta"]["inner_lr"] >= cfg["inner"]["lr"]  # from scratch: a flatter start (see CONFIG)
    assert cfg["meta"]["inner_steps"] in cfg["inner"]["checkpoints"]
    study = stochastic.load_study()
    assert study["config"] == cfg  # the shipped study was run with this configuration
    # ... at the shipped iMAML weights: retrained weights need the study again
    # (`python -m helpers.lessons.beyond.sgd_study`)
    assert study["theta_sha256"] == pretrained_record(cfg["inner"]["model"])["sha256"]


@pytest.mark.numerics
def test_study_step_is_stable_for_gd_at_the_shipped_theta():
    """CONFIG's alpha (the shipped iMAML has no step) is below 2 / (lam + lambda_max(H_i)), GD's
    stability limit on G_i, for nearly every task at the study's theta, and not far below it."""
    model, theta = load_pretrained(stochastic.CONFIG["inner"]["model"])
    theta = {k: v.double() for k, v in theta.items()}
    cfg = stochastic.CONFIG
    batch = SinusoidTasks().sample(20, cfg["k_shot"], 1, 11, F64)
    H = task_hessians(model, {k: v.expand(20, *v.shape) for k, v in theta.items()}, batch.x_tr, batch.y_tr)
    limit = 2 / (cfg["lam"] + torch.linalg.eigvalsh(H)[:, -1])
    assert (cfg["inner"]["lr"] < limit).float().mean() >= 0.9
    assert cfg["inner"]["lr"] > limit.median() / 4  # stable-ish, not needlessly small


def test_study_deltas_lie_between_the_reference_accuracy_and_the_start():
    study = stochastic.load_study()
    s = stochastic.summarise(study)
    deltas = study["config"]["inner"]["deltas"]
    assert max(deltas) < s["start_dist"] and min(deltas) > 100 * s["reference_gap"]


def _independent_verdict(study):
    """The verdict rule of stochastic.verdict, recomputed from the raw lists."""
    cfg = study["config"]
    delta, gd = str(cfg["inner"]["delta"]), str(cfg["k_shot"])
    n = len(cfg["seeds"])

    def seconds(arm):
        out = []
        for settled in arm["settled"]:
            steps = sorted(math.inf if s is None else s for s in settled[delta])
            mid = len(steps) // 2
            med = steps[mid] if len(steps) % 2 else (steps[mid - 1] + steps[mid]) / 2
            out.append(med * arm["seconds_per_step"])
        return out

    arms = study["inner"]["arms"]
    gd_sec = seconds(arms[gd])
    faster = {b: sum(s < g for s, g in zip(seconds(a), gd_sec, strict=True))
              for b, a in arms.items() if b != gd}
    worse = {b: sum(m > g for m, g in zip(study["meta"][b]["final_mse"], study["meta"][gd]["final_mse"],
                                            strict=True))
             for b in study["meta"] if b != gd}
    if any(faster[b] == n and worse.get(b, 0) < n for b in faster):
        word = "supported"
    elif all(faster[b] == 0 or worse.get(b, 0) == n for b in faster):
        word = "not supported"
    else:
        word = "mixed"
    return word, faster, worse, n


def test_sgd_study_has_five_seeds_and_its_conclusion_matches_the_data():
    study = stochastic.load_study()
    assert len(study["config"]["seeds"]) >= 5
    for arm in list(study["inner"]["arms"].values()) + list(study["meta"].values()):
        for key in ("settled", "final_mse"):
            if key in arm:
                assert len(arm[key]) == len(study["config"]["seeds"])
    word, faster, worse, n = _independent_verdict(study)
    text = stochastic.conclusion(study)
    assert f"the conjecture is {word.upper()}:" in text
    for b, f in faster.items():
        assert f"b = {b}: " in text and f"faster than GD in {f} of {n} seeds" in text
    for b, w in worse.items():
        assert f"{w} of {n} seeds (b = {b})" in text
    assert stochastic.verdict(study)[0] == word


def _synthetic(sgd_steps, gd_steps, sgd_mse, gd_mse, n=5):
    """A study-shaped dict with chosen numbers (one task per seed)."""
    cfg = stochastic._merge(stochastic.CONFIG, {"seeds": list(range(n)), "inner": {"batch_sizes": [10, 2]},
                                                 "meta": {"batch_sizes": [10, 2]}})
    d = cfg["inner"]["deltas"]

    def arm(steps):
        return {"settled": [{str(x): [s] for x in d} for s in steps], "seconds_per_step": 1e-3,
                "dist": [[1.0, 0.5]] * n, "grad_norm": [[1.0, 0.5]] * n,
                "meta_grad_error": [[[0.5], [0.1]]] * n}

    return {"config": cfg,
            "inner": {"arms": {"10": arm(gd_steps), "2": arm(sgd_steps)}, "well_posed": [[True]] * n,
                      "reference_gap": {"median": 0.01, "max": 0.02}, "reference_meta_grad_gap": [[0.1]] * n},
            "meta": {"10": {"final_mse": gd_mse, "seconds": [1.0] * n},
                     "2": {"final_mse": sgd_mse, "seconds": [1.0] * n}}}


def test_verdict_follows_the_data_either_way():
    n = 5
    faster = _synthetic([10] * n, [50] * n, [1.0] * n, [1.1] * n)
    assert stochastic.verdict(faster)[0] == "supported"
    assert "SUPPORTED: an SGD inner loop was faster" in stochastic.conclusion(faster)
    slower = _synthetic([None] * n, [50] * n, [1.0] * n, [1.1] * n)
    assert stochastic.verdict(slower)[0] == "not supported"
    mixed = _synthetic([10, 10, 90, 90, 90], [50] * n, [1.0] * n, [1.1] * n)
    assert stochastic.verdict(mixed)[0] == "mixed"
    worse = _synthetic([10] * n, [50] * n, [2.0] * n, [1.1] * n)
    assert stochastic.verdict(worse)[0] == "not supported"
    for study in (faster, slower, mixed, worse):
        assert _independent_verdict(study)[0] == stochastic.verdict(study)[0]
    assert "never" in stochastic.delta_table(slower)
    with pytest.raises(ValueError, match="delta"):
        stochastic.summarise(faster, delta=0.5)


# ------------------------------------------------------------------ exercises

def test_posterior_mean_checker_accepts_right_rejects_wrong(capsys):
    def right(Phi, y, theta, lam, sigma):
        return bayes.posterior(Phi, y, theta, lam, sigma).mean

    assert check_posterior_mean(right)
    assert not check_posterior_mean(lambda Phi, y, theta, lam, sigma: theta)
    assert not check_posterior_mean(lambda Phi, y, theta, lam, sigma: None)
    assert "not yet right" in capsys.readouterr().out


def test_implicit_jacobian_checker_accepts_right_rejects_wrong(capsys):
    def right(Phi, lam, sigma):
        A = lam * torch.eye(Phi.shape[1], dtype=Phi.dtype) + Phi.T @ Phi / sigma**2
        return lam * torch.linalg.inv(A)

    def stub(Phi, lam, sigma):
        raise NotImplementedError

    assert check_implicit_jacobian(right)
    assert not check_implicit_jacobian(lambda Phi, lam, sigma: torch.eye(Phi.shape[1], dtype=Phi.dtype))
    assert not check_implicit_jacobian(stub)
    assert "not yet right" in capsys.readouterr().out
