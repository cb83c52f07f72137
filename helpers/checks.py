"""Argument checks: bad input raises ValueError naming the argument, never a silent NaN later."""

import numbers

import torch


def check_positive(**kwargs):
    """Raise ValueError naming the first argument that is not > 0."""
    for name, value in kwargs.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def check_non_negative(**kwargs):
    """Raise ValueError naming the first argument that is < 0."""
    for name, value in kwargs.items():
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def check_range(name, low_high):
    """Raise ValueError unless low_high is a (low, high) pair with low <= high."""
    low, high = low_high
    if not low <= high:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {low_high}")


def check_int(name, value, low, high=None):
    """Raise ValueError unless value is an integer (not a bool) with low <= value (<= high, if given)."""
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low
            or (high is not None and value > high)):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def check_finite(**tensors):
    """Raise ValueError naming the first tensor (or dict of tensors) that holds a NaN or an inf."""
    for name, value in tensors.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, t in items:
            if not torch.isfinite(t).all():
                where = name if key is None else f"{name}[{key!r}]"
                raise ValueError(f"{where} contains NaN or inf")
