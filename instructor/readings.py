"""Readings: what a panel's figure shows that its caption does not say, computed from the panel's
own data (a probe's `reading`, or a setting chosen by it; instructor/probe.py)."""

import numpy as np


def hurt_amplitudes(panel):
    """TradeOffPanel: the amplitudes of the training tasks that sharing hurts, against those of all M."""
    m = panel.values()["n_tasks"]
    t, amplitude = panel.table[m], panel.amplitude[:m]
    hurt = amplitude[t["shared"] > t["separate"]]
    return (f"sharing hurts the tasks of amplitude {', '.join(f'{a:.2f}' for a in sorted(hurt.tolist()))}; "
            f"the {m} tasks' amplitudes: median {np.median(amplitude.numpy()):.2f}, "
            f"from {amplitude.min():.2f} to {amplitude.max():.2f}")


def widest_gap(panel, a, b, k_shot, start=0):
    """HeadToHeadPanel: the step n >= start at which the gap between methods a and b is largest
    against the sum of their 95% intervals (their bands in the figure), with K = k_shot."""
    (mean_a, ci_a), (mean_b, ci_b) = panel.stats[k_shot][a], panel.stats[k_shot][b]
    return start + int(np.argmax((np.abs(mean_a - mean_b) / (ci_a + ci_b))[start:]))


def gap(panel, a, b):
    """HeadToHeadPanel: the gap between a and b after the panel's n steps, and their intervals."""
    v = panel.values()
    stats, n = panel.stats[v["k_shot"]], v["steps"]
    (mean_a, ci_a), (mean_b, ci_b) = stats[a], stats[b]
    return (f"gap {abs(mean_a[n] - mean_b[n]):.3f}, intervals ±{ci_a[n]:.3f} and ±{ci_b[n]:.3f} "
            f"({abs(mean_a[n] - mean_b[n]) / (ci_a[n] + ci_b[n]):.1f} times their sum)")


def bytes_held(panel):
    """MemoryPanel: the exact bytes MAML and iMAML hold for backprop at the panel's k."""
    k = panel.values()["inner_steps"]
    return f"bytes held: MAML {panel.saved['maml', k]:,}, iMAML {panel.saved['imaml', k]:,}"
