"""Meta-iterations per second of helpers vs the peers `higher` (MAML) and `torchopt` (iMAML),
and the memory autograd holds for the backward pass as the inner loop grows.

    .venv/bin/python -m benchmarks.bench_peers [--quick] [--threads N] [--out results.json]

One run, one setup for everyone: sinusoid tasks, 1-40-40-1 ReLU MLP, 25 tasks, K = 10 support and
10 query points, float32, the same theta, the same batch, the same thread count. A meta-iteration is
one meta-gradient plus one torch.optim.Adam step (iMAML Algorithm 1, steps 4-8). The peers are
written the way their own examples are: a Python loop over tasks (higher.innerloop_ctx with SGD;
torchopt.diff.implicit.custom_root, or its ImplicitMetaGradientModule, with a CG linear solver).
Ours handle all tasks at once (helpers.maml.maml_grad, helpers.imaml.imaml_grad).

Timings interleave the methods repeat by repeat, so a load spike from other processes hits all of
them; each figure is the median over repeats after warm-up.
"""

import argparse
import importlib.metadata
import json
import math
import platform
import statistics
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from helpers.imaml import imaml_grad
from helpers.maml import maml_grad
from helpers.models import MLP, AutogradProducts
from helpers.profiling import saved_tensor_peak
from helpers.tasks import SinusoidTasks

# torchopt 0.7.3 calls functorch.vjp, deprecated since torch 2.0 but still working in 2.13.
warnings.filterwarnings("ignore", message="We've integrated functorch", category=FutureWarning)

SIZES = (1, 40, 40, 1)
K_SHOT = K_QUERY = 10
INNER_LR = 0.01  # alpha of the MAML paper's sinusoid runs; also iMAML's inner GD step here
MAML_STEPS = (1, 5)
LAM, IMAML_STEPS, CG_STEPS = 2.0, 16, 5  # the iMAML paper's Omniglot settings
TARGET_SPEEDUP = 10.0
FLAT_MEMORY = 1.1  # iMAML: saved bytes at the most inner steps within this factor of the fewest


def setup(n_tasks=25, k_shot=K_SHOT, k_query=K_QUERY, seed=0, dtype=torch.float32):
    """The shared problem: (model, theta, batch) with theta from MLP.init and one task batch."""
    model = MLP(SIZES)
    params = model.init(seed, dtype=dtype)
    batch = SinusoidTasks().sample(n_tasks, k_shot, k_query, generator=seed + 1, dtype=dtype)
    return model, params, batch


def torch_net(params):
    """The same network as an nn.Sequential holding a copy of theta (what the peers train)."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        lin = nn.Linear(n_in, n_out, dtype=params["w0"].dtype)
        with torch.no_grad():
            lin.weight.copy_(params[f"w{i}"])
            lin.bias.copy_(params[f"b{i}"])
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def net_grads(net):
    """The .grad of an nn.Sequential from torch_net as a dict named like helpers' params."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    out = {}
    for i, lin in enumerate(linears):
        out[f"w{i}"], out[f"b{i}"] = lin.weight.grad, lin.bias.grad
    return out


# --- ours ------------------------------------------------------------------------------------


def ours_step(method, model, params, batch, **kwargs):
    """One meta-iteration of ours: batched meta-gradient, then Adam on theta."""
    theta = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    opt = torch.optim.Adam(theta.values(), lr=1e-3)
    grad_fn = {"maml": maml_grad, "imaml": imaml_grad}[method]

    def step():
        grad, _ = grad_fn(model, theta, batch, **kwargs)
        for k, p in theta.items():
            p.grad = grad[k]
        opt.step()

    return step


# --- higher: MAML --------------------------------------------------------------------------


def higher_maml_backward(net, batch, inner_steps, inner_lr):
    """MAML as higher's maml-omniglot example does it: per task, innerloop_ctx with torch SGD,
    k differentiable steps on L_tr, then backward of L_test (scaled by 1/T: the mean over tasks).
    Accumulates the meta-gradient into net's .grad; returns the mean query loss."""
    import higher

    inner_opt = torch.optim.SGD(net.parameters(), lr=inner_lr)
    n_tasks = batch.n_tasks
    losses = []
    for i in range(n_tasks):
        with higher.innerloop_ctx(net, inner_opt, copy_initial_weights=False) as (fnet, diffopt):
            for _ in range(inner_steps):
                diffopt.step(F.mse_loss(fnet(batch.x_tr[i]), batch.y_tr[i]))
            qry_loss = F.mse_loss(fnet(batch.x_te[i]), batch.y_te[i])
            (qry_loss / n_tasks).backward()
            losses.append(qry_loss.detach())
    return torch.stack(losses).mean()


def higher_step(params, batch, inner_steps, inner_lr):
    net = torch_net(params)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        higher_maml_backward(net, batch, inner_steps, inner_lr)
        opt.step()

    return step


# --- torchopt: iMAML -----------------------------------------------------------------------


def torchopt_imaml_solver(net, lam, inner_lr, inner_steps, cg_steps):
    """iMAML's inner solver wrapped in torchopt.diff.implicit.custom_root (torchopt's functional
    iMAML example): `inner_steps` SGD steps on G(phi) = L_tr(phi) + lam/2 ||phi - theta||^2;
    the backward pass solves the implicit system by CG with `cg_steps` iterations."""
    import torchopt

    n_layers = len(list(net.parameters())) // 2

    def fnet(phi, x):
        # The MLP as a pure function of phi = (w0, b0, w1, b1, ...), net.parameters()' order.
        # Plain F.linear calls: a forward through torch.func.functional_call(net, ...) measured
        # about 90 us against 25 us for these on one task: we give the peer the faster one.
        for i in range(n_layers):
            x = F.linear(x, phi[2 * i], phi[2 * i + 1])
            x = F.relu(x) if i < n_layers - 1 else x
        return x

    def objective(phi, theta, x, y):
        reg = sum(((p - t) ** 2).sum() for p, t in zip(phi, theta, strict=True))
        return F.mse_loss(fnet(phi, x), y) + 0.5 * lam * reg

    # rtol = atol = 0: exactly cg_steps iterations, as helpers.imaml_grad with cg_tol = 0.
    # (torchopt's example uses solve_normal_cg, CG on A^T A: two products per iteration; A is
    # symmetric here, so plain CG is the cheaper and equally valid choice.)
    solve_cg = torchopt.linear_solve.solve_cg(maxiter=cg_steps, rtol=0.0, atol=0.0)

    @torchopt.diff.implicit.custom_root(torch.func.grad(objective, argnums=0), argnums=1,
                                        solve=solve_cg)
    def inner_solve(phi, theta, x, y):
        inner_opt = torchopt.sgd(lr=inner_lr)
        state = inner_opt.init(phi)
        with torch.enable_grad():
            for _ in range(inner_steps):
                grads = torch.autograd.grad(objective(phi, theta, x, y), phi)
                updates, state = inner_opt.update(grads, state, inplace=True)
                phi = torchopt.apply_updates(phi, updates, inplace=True)
        return phi

    return inner_solve, fnet


def torchopt_imaml_backward(net, batch, lam, inner_lr, inner_steps, cg_steps, solver=None):
    """The implicit meta-gradient, one task at a time, accumulated into net's .grad (mean over
    tasks). Returns the mean query loss."""
    inner_solve, fnet = solver or torchopt_imaml_solver(net, lam, inner_lr, inner_steps, cg_steps)
    theta = tuple(net.parameters())
    losses = []
    for i in range(batch.n_tasks):
        phi0 = tuple(t.detach().clone().requires_grad_() for t in theta)
        phi = inner_solve(phi0, theta, batch.x_tr[i], batch.y_tr[i])
        losses.append(F.mse_loss(fnet(phi, batch.x_te[i]), batch.y_te[i]))
    loss = torch.stack(losses).mean()
    loss.backward()
    return loss.detach()


def torchopt_step(params, batch, lam, inner_lr, inner_steps, cg_steps):
    net = torch_net(params)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    solver = torchopt_imaml_solver(net, lam, inner_lr, inner_steps, cg_steps)

    def step():
        opt.zero_grad()
        torchopt_imaml_backward(net, batch, lam, inner_lr, inner_steps, cg_steps, solver)
        opt.step()

    return step


def torchopt_module_inner_nets(net, n_tasks, lam, inner_lr, inner_steps, cg_steps):
    """The same iMAML with torchopt's object-oriented API (its imaml_omniglot example): one
    ImplicitMetaGradientModule per task, holding phi and the meta-network theta."""
    import torchopt
    from torchopt.diff.implicit import ImplicitMetaGradientModule

    solve_cg = torchopt.linear_solve.solve_cg(maxiter=cg_steps, rtol=0.0, atol=0.0)

    class InnerNet(ImplicitMetaGradientModule, linear_solve=solve_cg):
        def __init__(self, meta_net):
            super().__init__()
            self.meta_net = meta_net
            self.net = torchopt.module_clone(meta_net, by="deepcopy", detach_buffers=True)

        def reset_parameters(self):
            with torch.no_grad():
                for p, t in zip(self.parameters(), self.meta_parameters(), strict=True):
                    p.data.copy_(t.data)
                    p.detach_().requires_grad_()

        def forward(self, x):
            return self.net(x)

        def objective(self, x, y):
            reg = sum(((p - t) ** 2).sum()
                      for p, t in zip(self.parameters(), self.meta_parameters(), strict=True))
            return F.mse_loss(self(x), y) + 0.5 * lam * reg

        def solve(self, x, y):
            phi = tuple(self.parameters())
            inner_opt = torchopt.SGD(phi, lr=inner_lr)
            with torch.enable_grad():
                for _ in range(inner_steps):
                    loss = self.objective(x, y)
                    inner_opt.zero_grad()
                    loss.backward(inputs=phi)
                    inner_opt.step()
            return self

    return [InnerNet(net) for _ in range(n_tasks)]


def torchopt_module_backward(inner_nets, batch):
    """Per task: reset phi to theta, solve, query loss; backward of the mean into theta's .grad."""
    losses = []
    for i, inner in enumerate(inner_nets):
        inner.reset_parameters()
        solved = inner.solve(batch.x_tr[i], batch.y_tr[i])
        losses.append(F.mse_loss(solved(batch.x_te[i]), batch.y_te[i]))
    loss = torch.stack(losses).mean()
    loss.backward()
    return loss.detach()


def torchopt_module_step(params, batch, lam, inner_lr, inner_steps, cg_steps):
    net = torch_net(params)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    inner_nets = torchopt_module_inner_nets(
        net, batch.n_tasks, lam, inner_lr, inner_steps, cg_steps)

    def step():
        opt.zero_grad()
        torchopt_module_backward(inner_nets, batch)
        opt.step()

    return step


# --- measurement ---------------------------------------------------------------------------


def time_steps(steps, repeats=7, warmup=2, min_block=0.05):
    """Median seconds per call of each function in `steps` (a dict name -> callable).

    Each function is warmed up, then timed in blocks of n calls (n chosen so that a block lasts
    about min_block seconds); the functions take turns block by block so that load from other
    processes falls on all of them alike.
    """
    block = {}
    for name, fn in steps.items():
        for _ in range(warmup):
            fn()
        t0 = time.perf_counter()
        fn()
        block[name] = max(1, math.ceil(min_block / max(time.perf_counter() - t0, 1e-9)))
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            for _ in range(block[name]):
                fn()
            times[name].append((time.perf_counter() - t0) / block[name])
    return {name: statistics.median(t) for name, t in times.items()}


def bench_speed(model, params, batch, maml_steps=MAML_STEPS, inner_lr=INNER_LR, lam=LAM,
                imaml_steps=IMAML_STEPS, cg_steps=CG_STEPS, repeats=7, warmup=2, peers=True,
                min_block=0.05):
    """Meta-iterations per second of ours and the peers; returns a list of comparison rows."""
    steps, rows = {}, []
    for k in maml_steps:
        steps[f"ours maml k={k}"] = ours_step(
            "maml", model, params, batch, inner_steps=k, inner_lr=inner_lr)
        if peers:
            steps[f"higher maml k={k}"] = higher_step(params, batch, k, inner_lr)
        rows.append((f"MAML, {k} inner step{'s' * (k > 1)}", f"ours maml k={k}",
                     f"higher maml k={k}", "higher"))
    # delta = 0: every task takes all imaml_steps steps, as the peer's fixed-length loop does.
    steps["ours imaml"] = ours_step(
        "imaml", model, params, batch, lam=lam, inner_lr=inner_lr, inner_steps=imaml_steps,
        delta=0.0, cg_steps=cg_steps)
    imaml_label = f"iMAML, {imaml_steps} steps, {cg_steps} CG, lam={lam:g}"
    if peers:
        steps["torchopt imaml"] = torchopt_step(params, batch, lam, inner_lr, imaml_steps, cg_steps)
        steps["torchopt imaml (module API)"] = torchopt_module_step(
            params, batch, lam, inner_lr, imaml_steps, cg_steps)
    rows.append((imaml_label, "ours imaml", "torchopt imaml", "torchopt custom_root"))
    rows.append((imaml_label, "ours imaml", "torchopt imaml (module API)",
                 "torchopt ImplicitMetaGradientModule"))
    seconds = time_steps(steps, repeats, warmup, min_block)
    results = []
    for label, ours, peer, peer_name in rows:
        row = {"setting": label, "ours_it_per_s": 1.0 / seconds[ours]}
        if peer in seconds:
            row |= {"peer": peer_name, "peer_it_per_s": 1.0 / seconds[peer],
                    "speedup": seconds[peer] / seconds[ours]}
        if row not in results:
            results.append(row)
    return results


def bench_memory(model, params, batch, inner_steps=(5, 25, 100), inner_lr=INNER_LR, lam=LAM,
                 cg_steps=CG_STEPS):
    """Peak bytes saved by autograd for backprop, per number of inner steps, MAML and iMAML."""
    rows = []
    for k in inner_steps:
        _, maml_bytes = saved_tensor_peak(maml_grad, model, params, batch, k, inner_lr)
        # iMAML's products by double backprop, as the peers compute them (helpers' hand-written
        # product holds no autograd graph at all)
        _, imaml_bytes = saved_tensor_peak(
            imaml_grad, AutogradProducts(model), params, batch, lam=lam, inner_lr=inner_lr, inner_steps=k,
            delta=0.0, cg_steps=cg_steps)
        rows.append({"inner_steps": k, "maml_bytes": maml_bytes, "imaml_bytes": imaml_bytes})
    return rows


def memory_verdict(rows):
    """MAML must grow with the inner steps; iMAML must stay flat (most steps / fewest <= 1.1)."""
    maml = [r["maml_bytes"] for r in rows]
    first, last = rows[0]["imaml_bytes"], rows[-1]["imaml_bytes"]
    return {
        "maml_grows": all(b > a for a, b in zip(maml, maml[1:], strict=False)),
        "maml_ratio": maml[-1] / maml[0],
        "imaml_ratio": last / first,
        "imaml_flat": last <= FLAT_MEMORY * first,
    }


# --- report --------------------------------------------------------------------------------


def versions():
    """Python, torch and the peers' installed versions (None: not installed)."""
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("higher", "torchopt"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def format_speed(rows):
    lines = [f"{'setting':<34} {'ours it/s':>10} {'peer':<36} {'peer it/s':>10} {'ours/peer':>10}"]
    for r in rows:
        if "peer" in r:
            mark = "" if r["speedup"] >= TARGET_SPEEDUP else f"  (< {TARGET_SPEEDUP:g}x target)"
            lines.append(f"{r['setting']:<34} {r['ours_it_per_s']:>10.1f} {r['peer']:<36} "
                         f"{r['peer_it_per_s']:>10.2f} {r['speedup']:>9.1f}x{mark}")
        else:
            lines.append(f"{r['setting']:<34} {r['ours_it_per_s']:>10.1f} {'(no peer)':<36}")
    return "\n".join(lines)


def format_memory(rows, verdict):
    lines = [f"{'inner steps':>11} {'MAML saved MB':>14} {'iMAML saved MB':>15}"]
    for r in rows:
        lines.append(f"{r['inner_steps']:>11} {r['maml_bytes'] / 2**20:>14.3f} "
                     f"{r['imaml_bytes'] / 2**20:>15.3f}")
    lines.append(
        f"MAML {rows[-1]['inner_steps']} vs {rows[0]['inner_steps']} steps: "
        f"{verdict['maml_ratio']:.1f}x ({'grows' if verdict['maml_grows'] else 'DOES NOT GROW'}); "
        f"iMAML: {verdict['imaml_ratio']:.3f}x "
        f"({'flat' if verdict['imaml_flat'] else f'NOT within {FLAT_MEMORY}x'})")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 repeats and 1 warm-up instead of 7 and 2")
    p.add_argument("--threads", type=int, default=1, help="torch threads for every method")
    p.add_argument("--tasks", type=int, default=25, help="tasks per meta-batch (T)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 7, quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up calls (default 2, quick 1)")
    p.add_argument("--memory-steps", type=int, nargs="+", default=[5, 25, 100],
                   help="inner steps for the memory table")
    p.add_argument("--no-peers", action="store_true", help="time ours only")
    p.add_argument("--out", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    for name in ("threads", "tasks"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    torch.set_num_threads(args.threads)
    info = versions()
    peers = not args.no_peers
    if peers and (info["higher"] is None or info["torchopt"] is None):
        sys.exit("the peers are not installed: pip install -e '.[test]' (or pass --no-peers)")
    model, params, batch = setup(n_tasks=args.tasks)
    config = {"threads": torch.get_num_threads(), "tasks": args.tasks, "k_shot": K_SHOT,
              "k_query": K_QUERY, "sizes": SIZES, "dtype": "float32", "inner_lr": INNER_LR,
              "maml_inner_steps": MAML_STEPS, "lam": LAM, "imaml_inner_steps": IMAML_STEPS,
              "imaml_delta": 0.0, "cg_steps": CG_STEPS, "repeats": repeats, "warmup": warmup}
    print(f"torch threads: {config['threads']}  |  "
          + "  ".join(f"{k} {v}" for k, v in info.items()))
    print(f"sinusoid, MLP {'-'.join(map(str, SIZES))}, {args.tasks} tasks, K={K_SHOT} support / "
          f"{K_QUERY} query, float32, inner lr {INNER_LR}, median of {repeats} repeats after "
          f"{warmup} warm-up\n")
    speed = bench_speed(model, params, batch, repeats=repeats, warmup=warmup, peers=peers)
    print("Meta-iterations per second (meta-gradient + Adam step)")
    print(format_speed(speed), "\n")
    memory = bench_memory(model, params, batch, inner_steps=args.memory_steps)
    verdict = memory_verdict(memory)
    print("Memory saved by autograd for the backward pass (helpers.profiling.saved_tensor_peak)")
    print(format_memory(memory, verdict))
    results = {"config": config, "versions": info, "speed": speed, "memory": memory,
               "memory_verdict": verdict}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nwrote {args.out}")
    return results


if __name__ == "__main__":
    main()
