"""Shipped meta-parameters: small .npz weight files plus a JSON record each, in helpers/weights/.

Loaded without pickle (np.load(allow_pickle=False)); a file whose checksum or shapes do not match its
record is reported, never silently loaded. `python -m helpers.lessons.pretrain` regenerates them all.
"""

import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import torch

from .inner import Adaptation

WEIGHTS = Path(__file__).parent / "weights"


def available():
    """Names of the shipped models."""
    return sorted(p.stem for p in WEIGHTS.glob("*.json"))


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_pretrained(name, model, params, record, folder=WEIGHTS):
    """Write folder/name.npz and folder/name.json (record + model class "module:QualName", config and
    checksum)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    npz = folder / f"{name}.npz"
    np.savez(npz, **{k: v.detach().cpu().numpy() for k, v in params.items()})
    record = {
        "name": name,
        "model": {"class": f"{type(model).__module__}:{type(model).__qualname__}", "config": model.config()},
        "sha256": _sha256(npz),
        **record,
    }
    (folder / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def pretrained_record(name, folder=WEIGHTS):
    """The JSON record of a shipped model: configuration, training time, evaluation."""
    path = Path(folder) / f"{name}.json"
    if not path.exists():
        names = sorted(p.stem for p in Path(folder).glob("*.json"))
        raise ValueError(f"unknown pretrained model {name!r}; available: {', '.join(names) or 'none'}")
    return json.loads(path.read_text())


def _model(record):
    """The record's model: its class "module:QualName" (imported only from helpers) and config."""
    path = record["model"]["class"]
    module, _, name = path.partition(":")
    if not module.startswith("helpers."):
        raise ValueError(f"model class {path!r} is not from helpers: not imported")
    return getattr(importlib.import_module(module), name)(**record["model"]["config"])


def adapter(name, folder=WEIGHTS):
    """The one adaptation rule of shipped model `name`, the rule it was trained for and is evaluated
    with: adapt(params, batch, steps) -> phi, task-batched over a TaskBatch (a helpers.inner.Adaptation
    bound to the model; adapt.rule and adapt.model say which)."""
    record = pretrained_record(name, folder)
    if "rule" not in record["evaluation"]:
        raise ValueError(f"{name!r} has no gradient-based adaptation rule: "
                         f"{record['evaluation']['adaptation']}")
    model, rule = _model(record), Adaptation(**record["evaluation"]["rule"])

    def adapt(params, batch, steps):
        return rule(model, params, batch, steps)

    adapt.rule, adapt.model = rule, model
    return adapt


def load_pretrained(name, folder=WEIGHTS):
    """(model, params) of a shipped model, checked against its record (checksum, names, shapes)."""
    record = pretrained_record(name, folder)
    npz = Path(folder) / f"{name}.npz"
    if not npz.exists() or _sha256(npz) != record["sha256"]:
        raise ValueError(
            f"weights file {npz} is missing or corrupted (checksum differs from {name}.json); "
            "regenerate it with `python -m helpers.lessons.pretrain`"
        )
    model = _model(record)
    with np.load(npz, allow_pickle=False) as z:
        params = {k: torch.from_numpy(z[k].copy()) for k in z.files}
    expected = {k: tuple(v.shape) for k, v in model.init(0).items()}
    found = {k: tuple(v.shape) for k, v in params.items()}
    if expected != found:
        raise ValueError(f"{npz} does not match its model {model}: expected {expected}, found {found}")
    return model, params
