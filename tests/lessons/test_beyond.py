"""Notebook 07: the Bayesian reading (MAP = posterior mean), path independence of iMAML's
meta-gradient (and not MAML's), the stochastic inner loop, its study and the stated conclusion."""

import math

import pytest
import torch

from helpers.imaml import exact_imaml_grad, imaml_grad, task_hessians
from helpers.inner import Adaptation, proximal_solve
from helpers.lessons.beyond import bayes, payoff, solvers, stochastic
from helpers.lessons.beyond.exercises import check_implicit_jacobian, check_posterior_mean
from helpers.lessons.beyond.panels import BayesPanel, family_mean_weights
from helpers.lessons.explanation import accuracy_sentence
from helpers.lessons.maml.cost import growth_per_step
from helpers.maml import maml_grad
from helpers.models import MLP, SoftplusMLP, flatten, unflatten
from helpers.pretrained import load_pretrained, pretrained_record
from helpers.report import load_pairs
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


# ------------------------------------------------------------------ where implicit gradients pay off

@pytest.fixture(scope="module")
def payoff_setup():
    return payoff.setup()


@pytest.fixture(scope="module")
def payoff_memory(payoff_setup):
    return payoff.memory_curves(payoff_setup)


@pytest.fixture(scope="module")
def payoff_norms(payoff_setup):
    return payoff.norm_curves(payoff_setup, 0.02)


@pytest.mark.numerics
def test_payoff_maml_norms_are_each_tasks_maml_grad(payoff_setup):
    """maml_norms (one unrolled loop, differentiated at each k) against helpers.maml.maml_grad run on
    each task alone, at a step size where some tasks diverge (their norms must be non-finite too)."""
    s = payoff_setup
    model, theta = s.maml
    steps = (1, 5, 20)
    norms = payoff.maml_norms(model, theta, s.batch, 0.02, steps)
    for row, k in zip(norms, steps, strict=True):
        ref = torch.stack([flatten(maml_grad(model, theta, s.batch[i], k, 0.02, check=False)[0]).norm()
                           for i in range(s.batch.n_tasks)])
        finite = torch.isfinite(ref)
        assert torch.equal(torch.isfinite(row), finite)
        assert torch.allclose(row[finite], ref[finite], rtol=1e-3)
    assert not torch.isfinite(norms[-1]).all()  # the case the panel counts does occur here


def test_maml_grad_raises_on_a_diverged_task_unless_asked_not_to(payoff_setup):
    s = payoff_setup
    model, theta = s.maml
    norms = payoff.maml_norms(model, theta, s.batch, 0.05, (20,))[0]
    bad = int((~torch.isfinite(norms)).nonzero()[0])
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        maml_grad(model, theta, s.batch[bad], 20, 0.05)
    grad, _ = maml_grad(model, theta, s.batch[bad], 20, 0.05, check=False)
    assert not torch.isfinite(flatten(grad)).all()


@pytest.mark.numerics
def test_payoff_imaml_task_grads_average_to_imaml_grad(payoff_setup):
    s = payoff_setup
    model, theta = s.imaml
    steps = (1, 5, 20)
    per_task_grads = payoff.imaml_task_grads(model, theta, s.batch, s.lam, 0.02, steps, s.cg_steps)
    for k in steps:
        ref, _ = imaml_grad(model, theta, s.batch, s.lam, inner_lr=0.02, inner_steps=k, delta=0.0,
                            cg_steps=s.cg_steps)
        ref = flatten(ref)
        assert (per_task_grads[k].mean(0) - ref).norm() <= 1e-4 * ref.norm()


@pytest.mark.numerics
def test_maml_meta_gradient_explodes_at_a_large_step_imaml_stays_bounded(payoff_setup, payoff_norms):
    maml, imaml = payoff_norms["maml"], payoff_norms["imaml"]
    small = maml[0][torch.isfinite(maml[0])].max()
    for row in maml[payoff.STEPS.index(20):]:  # from 20 steps on: non-finite or 1000x larger than at k = 1
        assert (~torch.isfinite(row)).any() or row.max() > 1e3 * small
    assert torch.isfinite(imaml).all()
    assert imaml.max() < 1e4
    assert imaml[-1].max() < imaml[0].max()  # iMAML's largest norm does not grow with k
    # the explosion is the step size's: at a small step MAML's meta-gradients stay finite and moderate
    calm = payoff.norm_curves(payoff_setup, 0.001)["maml"]
    assert torch.isfinite(calm).all() and calm.max() < 1e3


def test_maml_memory_grows_linearly_in_steps_imaml_memory_is_flat(payoff_setup, payoff_memory):
    memory = payoff_memory
    slope, _, r2 = growth_per_step([{"inner_steps": k, "saved_bytes": b}
                                    for k, b in zip(payoff.STEPS, memory["maml"], strict=True)])
    assert slope > 0 and r2 > 0.999
    assert memory["maml"][-1] > 50 * memory["imaml"][-1]
    assert max(memory["imaml"]) - min(memory["imaml"]) <= 0.01 * max(memory["imaml"])
    assert min(memory["imaml"]) > 0  # products by double backprop: the hand-written one holds no graph
    # bytes depend on shapes only: the same at another step size (where some tasks diverge)
    assert payoff.memory_curves(payoff_setup, (1, 20), inner_lr=0.05) == {
        m: [v[0], v[payoff.STEPS.index(20)]] for m, v in memory.items()}


def test_payoff_panel_shows_a_figure_over_every_slider_range_and_counts_non_finite():
    panel = payoff.PayoffPanel()
    assert panel.sweep_problems() == {}  # latency: make bench
    panel.set(inner_lr=0.05, inner_steps=20)
    bad = panel.stats["maml"][2]
    assert bad > 0 and f"{bad} of 25 tasks' meta-gradients are not finite" in panel.summary
    panel.set(inner_lr=0.001)
    assert "MAML median" in panel.summary and "not finite" not in panel.summary
    with pytest.raises(ValueError, match="inner_steps"):
        panel.draw(inner_lr=0.01, inner_steps=3)


def test_accuracy_sentence_calls_what_the_paired_intervals_allow():
    """The records' verdicts behind notebook 07's summary: trained at K = 10, tuned MAML lower at 5 shots;
    trained at K = 5, iMAML lower."""
    pairs = load_pairs()
    text = accuracy_sentence(pairs)
    at5, k5 = pairs["imaml", "maml_tuned", 5], pairs["imaml_k5", "maml_tuned_k5", 5]
    assert at5.mean - at5.ci > 0 and "it does not buy 5-shot accuracy" in text
    assert k5.mean + k5.ci < 0 and f"iMAML lower than tuned MAML by {-k5.mean:.3f} ± {k5.ci:.3f}" in text
    for k in (10, 20):
        p = pairs["imaml", "maml_tuned", k]
        side = "lower" if p.mean < 0 else "higher"
        assert f"{k} shots: iMAML {side} than tuned MAML by {abs(p.mean):.3f} ± {p.ci:.3f}" in text


def test_what_imaml_buys_states_the_measurements_beside_it(payoff_norms, payoff_memory):
    conv = {"steps": [1, 2, 3], "maml": [10e6, 17e6, 24e6], "imaml": [7e6] * 3}
    text = payoff.what_imaml_buys(payoff_norms, payoff_memory, conv, 0.02)
    growth = payoff.memory_growth(payoff_memory)
    assert f"holds {payoff_memory['imaml'][0] / 1e6:.2f} MB" in text
    assert f"grows by {growth['maml'][0]:.2f} MB per inner step, to {growth['maml'][1]:.0f} MB" in text
    assert "grows by 7.0 MB per step (24 MB at k = 3) against iMAML's 7.0 MB" in text
    stats = payoff.summarize(payoff_norms["maml"])
    first = next(k for k, r in zip(payoff.STEPS, stats, strict=True) if r[2])
    assert f"not finite on up to {max(r[2] for r in stats)} of 25 tasks (from k = {first})" in text
    assert "iMAML's is finite on all 25 tasks at every k" in text
    assert text.endswith(accuracy_sentence())


def test_conv_memory_maml_grows_by_a_step_graph_per_step_imaml_is_flat():
    result = payoff.conv_memory(steps=(1, 2, 3))
    maml, imaml = result["maml"], result["imaml"]
    assert maml[0] < maml[1] < maml[2]
    assert abs((maml[2] - maml[1]) - (maml[1] - maml[0])) <= 0.01 * (maml[1] - maml[0])
    assert imaml[0] == imaml[1] == imaml[2] < maml[1]
    assert result["parameters"] == 112_261  # 4 x (64 filters of 3x3, bias, batch-norm scale and shift) + head


def _tiny_conv(seed=0):
    params = {k: v.double() for k, v in payoff.conv_init(n_way=3, filters=3, seed=seed).items()}
    task = tuple(t.double() if t.is_floating_point() else t for t in payoff.conv_task(3, 2, 2, seed))
    return params, task


def test_conv_maml_grad_matches_finite_differences():
    params, task = _tiny_conv()
    x_te, y_te = task[2:]
    grads = payoff.conv_maml_grad(params, task, 3, 0.1)
    gen = torch.Generator().manual_seed(1)
    u = {k: torch.randn(v.shape, generator=gen, dtype=F64) for k, v in params.items()}

    def outer(eps):
        theta = {k: v + eps * u[k] for k, v in params.items()}
        phi = theta
        for _ in range(3):
            with torch.enable_grad():
                leaves = {k: v.detach().requires_grad_() for k, v in phi.items()}
                g = torch.autograd.grad(payoff.conv_loss(leaves, *task[:2]), list(leaves.values()))
            phi = {k: p - 0.1 * gi for (k, p), gi in zip(phi.items(), g, strict=True)}
        return payoff.conv_loss(phi, x_te, y_te).item()

    fd = (outer(1e-6) - outer(-1e-6)) / 2e-6
    exact = sum((g * u[k]).sum() for k, g in zip(params, grads, strict=True)).item()
    assert abs(fd - exact) <= 1e-5 * max(1.0, abs(exact))


def test_conv_imaml_grad_matches_dense_solve():
    """Against a dense Hessian by central differences of the gradient (torch.func.hessian disagrees
    with finite differences through training-mode batch norm here, by ~10%), lam large enough for
    I + H/lam to be positive definite on this tiny net."""
    params, task = _tiny_conv()
    lam = 50.0
    g = payoff.conv_imaml_grad(params, task, 5, 0.01, lam, cg_steps=200)
    # the same inner solve, then a dense Hessian of L_tr at phi and a direct solve
    theta = {k: v.detach() for k, v in params.items()}
    phi = dict(theta)
    for _ in range(5):
        with torch.enable_grad():
            leaves = {k: v.detach().requires_grad_() for k, v in phi.items()}
            grads = torch.autograd.grad(payoff.conv_loss(leaves, *task[:2]), list(leaves.values()))
        phi = {k: p - 0.01 * (gi + lam * (p - theta[k]))
               for (k, p), gi in zip(phi.items(), grads, strict=True)}
    flat = flatten(phi)

    def grad(f, x, y):
        return torch.func.grad(lambda f: payoff.conv_loss(unflatten(f, params), x, y))(f)

    eye = torch.eye(len(flat), dtype=F64)
    x_tr, y_tr = task[:2]
    H = torch.stack([(grad(flat + 1e-5 * e, x_tr, y_tr) - grad(flat - 1e-5 * e, x_tr, y_tr)) / 2e-5
                     for e in eye])
    H = (H + H.T) / 2
    assert torch.linalg.eigvalsh(eye + H / lam)[0] > 0
    exact = torch.linalg.solve(eye + H / lam, grad(flat, *task[2:]))
    assert (g - exact).norm() <= 1e-6 * exact.norm()
