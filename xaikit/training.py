"""One `train` helper: seeded, with a progress bar, early stopping on a validation split and a checkpoint cache."""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .models import logits
from .runtime import progress, save_atomic, seeded


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int | None = None) -> float:
    """Top-1 accuracy of `model` (eval mode) on images x with labels y (batched by the model's forward plan)."""
    model.eval()
    if len(x) == 0:
        return 0.0
    return int((logits(model, x, batch_size).argmax(1) == torch.as_tensor(y).cpu()).sum()) / len(x)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 30, batch_size: int = 128,
          lr: float = 1e-3, weight_decay: float = 5e-4, optimizer: str = "adam", momentum: float = 0.9,
          nesterov: bool = False, label_smoothing: float = 0.0,
          val_fraction: float = 0.1, val: tuple | None = None, patience: int = 5, seed: int = 0,
          checkpoint: str | Path | None = None, augment=None, lr_schedule: dict | None = None,
          device: str | torch.device = "cpu", show_progress: bool = True) -> dict:
    """Train `model` in place on (x, y) and return its history.

    Validation: `val=(x_val, y_val)`, else the last `val_fraction` of a seeded permutation of x (e.g. 45,000 /
    5,000 of CIFAR-10's training set for 0.1). Early stopping after `patience` epochs without a better
    validation accuracy; the best weights are restored. With `checkpoint`, a second call with the same data
    size and settings loads the saved weights instead of training.
    """
    if x.ndim != 4 or len(x) != len(y):
        raise ValueError(f"x must be (N, C, H, W) with one label each; got {tuple(x.shape)} and {len(y)} labels")
    if not torch.isfinite(x).all():
        raise ValueError("training images contain NaN or inf")
    settings = dict(n=len(x), shape=list(x.shape[1:]), epochs=epochs, batch_size=batch_size, lr=lr,
                    weight_decay=weight_decay, optimizer=optimizer, momentum=momentum, val_fraction=val_fraction,
                    **({"nesterov": nesterov} if nesterov else {}),
                    **({"label_smoothing": label_smoothing} if label_smoothing else {}),
                    patience=patience, seed=seed, lr_schedule=lr_schedule, model=type(model).__name__,
                    data_sum=round(float(x.double().sum()), 3), labels=hashlib.sha1(y.numpy().tobytes()).hexdigest())
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if checkpoint.is_file():
            saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
            if saved.get("settings") == settings:
                model.load_state_dict(saved["state_dict"])
                model.to(device).eval()
                return dict(saved["history"], loaded_from=str(checkpoint))
    device = torch.device(device)
    with seeded(seed):
        if val is None:
            perm = torch.randperm(len(x))
            n_val = int(round(len(x) * val_fraction))
            val_idx, train_idx = perm[len(x) - n_val:], perm[:len(x) - n_val]
            x_val, y_val, x_tr, y_tr = x[val_idx], y[val_idx], x[train_idx], y[train_idx]
        else:
            (x_val, y_val), x_tr, y_tr = val, x, y
        model.to(device)
        params = model.parameters()
        if optimizer == "adam":
            opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        elif optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        else:
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
        sched = torch.optim.lr_scheduler.StepLR(opt, **lr_schedule) if lr_schedule else None
        best, best_acc, since, history = None, -1.0, 0, {"train_loss": [], "val_accuracy": []}
        bar = progress(range(epochs), desc=f"train {type(model).__name__}", disable=not show_progress)
        for epoch in bar:
            model.train()
            order = torch.randperm(len(x_tr))
            total = 0.0
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                xb, yb = x_tr[idx].to(device), y_tr[idx].to(device)
                if augment is not None:
                    xb = augment(xb)
                loss = F.cross_entropy(model(xb), yb, label_smoothing=label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            if sched:
                sched.step()
            acc = accuracy(model, x_val, y_val)
            history["train_loss"].append(total / len(x_tr))
            history["val_accuracy"].append(acc)
            bar.set_postfix(loss=f"{total / len(x_tr):.3f}", val_acc=f"{acc:.3f}")
            if acc > best_acc:
                best, best_acc, since = copy.deepcopy(model.state_dict()), acc, 0
            else:
                since += 1
                if since >= patience:
                    break
        bar.close()
    model.load_state_dict(best)
    model.eval()
    history.update(best_val_accuracy=best_acc, epochs_run=len(history["val_accuracy"]), n_train=len(x_tr),
                   n_val=len(x_val))
    if checkpoint is not None:
        save_atomic({"settings": settings, "state_dict": model.state_dict(), "history": history}, checkpoint)
    return history


def settings_digest(**settings) -> str:
    """A short stable name for a set of settings (for checkpoint file names)."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
