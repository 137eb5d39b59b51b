"""Train the new head on cached backbone features; early stopping; metrics.

The backbone is frozen, so its 1280-d features are computed once per segment
and the head trains in seconds on CPU. A track's prediction is the mean of its
segments' probabilities.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, log_loss

from .head import GenreHead
from .runtime import torch_threads


@dataclass(frozen=True)
class TrainConfig:
    """Head size and optimisation settings; stored in every bundle."""

    deep: int = 256
    shallow: int = 64
    dropout: float = 0.3
    learning_rate: float = 1e-3
    weight_decay: float = 1e-3
    label_smoothing: float = 0.1
    batch_size: int = 32
    max_epochs: int = 120
    patience: int = 20  # epochs without a better validation loss before stopping
    refit: bool = True  # after early stopping, retrain on train + val for the chosen epoch count
    # "paper": each training window also gets a copy with one of none/gain/pitch/noise.
    # Off by default: as in the paper, it did not help (track CV 0.837 with vs 0.879 without).
    # "specaugment": copies with time/frequency masks (experiments only). Augmented copies are
    # training data only; validation and test windows are always clean.
    augment: str = "none"
    # Mixup on the head's input (the frozen backbone's features): each batch is blended with a
    # shuffled copy of itself, weight ~ Beta(a, a); 0 = off.
    mixup_alpha: float = 0.0
    # "balanced": each genre's windows weigh n / (n_genres * n_genre) in the loss (and in the
    # early-stopping loss), so classical and pop (60 tracks each) do not drown the 14-track genres.
    class_weight: str = "balanced"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SegmentFeatures:
    """Backbone features of every segment, and which track each belongs to."""

    clean: np.ndarray  # (n_segments, dim)
    track: np.ndarray  # (n_segments,) track index
    augmented: np.ndarray | None = None  # (n_augmented, dim): augmented copies of windows, or None
    augmented_track: np.ndarray | None = None  # track of each augmented row; None: same order as ``clean``

    def select(self, tracks: np.ndarray, with_augmented: bool):
        """Features and track index of the segments of ``tracks`` (clean first, then their augmented copies)."""
        mask = np.isin(self.track, tracks)
        X, t = self.clean[mask], self.track[mask]
        if with_augmented and self.augmented is not None:
            at = self.track if self.augmented_track is None else self.augmented_track
            amask = np.isin(at, tracks)
            X, t = np.concatenate([X, self.augmented[amask]]), np.concatenate([t, at[amask]])
        return X, t


def track_probabilities(head: GenreHead, X: np.ndarray, track: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    """Mean segment probabilities per track, rows in the order of ``tracks``."""
    head.eval()
    with torch.no_grad():
        p = torch.softmax(head(torch.as_tensor(X, dtype=torch.float32))["logits"], -1).numpy()
    return np.stack([p[track == t].mean(0) for t in tracks])


def column_mean_std(X: np.ndarray, block_rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and (population) standard deviation, float32, a block of rows at a time.

    ``X.std(0)`` makes a centred copy of all of ``X`` (+190 MB for the 2 000-track build's training windows);
    here the largest temporary is one block. Sums are float64.
    """
    mean = X.mean(0, dtype=np.float64)
    squares = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, len(X), block_rows):
        centred = X[start : start + block_rows] - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    return mean.astype(np.float32), np.sqrt(squares / max(len(X), 1)).astype(np.float32)


def _new_head(X: np.ndarray, n_classes: int, cfg: TrainConfig):
    head = GenreHead(n_classes, cfg.deep, cfg.shallow, cfg.dropout, in_dim=X.shape[1])
    mean, std = column_mean_std(X)
    head.feature_mean.copy_(torch.as_tensor(mean))
    # Floor the scale: a feature (nearly) constant over a small training set
    # would otherwise be blown up by ~1e6 on new audio and swamp the head.
    head.feature_std.copy_(torch.as_tensor(np.maximum(std, 0.1 * np.median(std)) + 1e-6))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    return head, opt


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class weights n / (n_classes_present * count): every present class weighs the same in total."""
    counts = np.bincount(np.asarray(y), minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes)
    w[counts > 0] = len(y) / ((counts > 0).sum() * counts[counts > 0])
    return w


def _class_weights(y: torch.Tensor, n_classes: int, cfg: TrainConfig) -> torch.Tensor | None:
    if cfg.class_weight == "none":
        return None
    if cfg.class_weight != "balanced":
        raise ValueError(f"class_weight must be 'balanced' or 'none', not {cfg.class_weight!r}")
    return torch.as_tensor(balanced_weights(y.numpy(), n_classes), dtype=torch.float32)


def _mixup_loss(head, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
                weight: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy of a batch blended with a shuffled copy of itself (mixup, Zhang et al. 2018)."""
    lam = float(torch.distributions.Beta(cfg.mixup_alpha, cfg.mixup_alpha).sample())
    other = torch.randperm(len(x), generator=gen)
    logits = head(lam * x + (1 - lam) * x[other])["logits"]
    ce = lambda target: F.cross_entropy(logits, target, weight=weight, label_smoothing=cfg.label_smoothing)  # noqa: E731
    return lam * ce(y) + (1 - lam) * ce(y[other])


def _train_epoch(head, opt, X: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
                 weight: torch.Tensor | None = None) -> float:
    head.train()
    perm = torch.randperm(len(X), generator=gen)
    total = 0.0
    for i in range(0, len(X), cfg.batch_size):
        idx = perm[i : i + cfg.batch_size]
        if cfg.mixup_alpha > 0:
            loss = _mixup_loss(head, X[idx], y[idx], cfg, gen, weight)
        else:
            loss = F.cross_entropy(head(X[idx])["logits"], y[idx], weight=weight, label_smoothing=cfg.label_smoothing)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / len(X)


def _training_data(features: SegmentFeatures, labels: np.ndarray, tracks: np.ndarray, cfg: TrainConfig):
    X, t = features.select(tracks, with_augmented=cfg.augment != "none")
    return X, torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(labels[t])


def fit_head(features: SegmentFeatures, labels: np.ndarray, train: np.ndarray, val: np.ndarray,
             n_classes: int, cfg: TrainConfig, seed: int) -> tuple[GenreHead, dict]:
    """Train a head on the ``train`` tracks, early-stopping on ``val`` tracks' loss.

    With ``cfg.refit`` the head is then retrained from scratch on train + val
    for the early-stopped number of epochs: the validation tracks choose *when*
    to stop, then also count as training data (test tracks are never seen).

    Parameters
    ----------
    labels : genre index per track (all tracks).
    train, val : track indices.

    Returns
    -------
    head : in eval mode.
    history : per-epoch train/val loss and accuracy, and the best epoch.
    """
    with torch_threads(1):  # a small MLP: one thread is fastest, and never oversubscribes
        return _fit_head(features, labels, train, val, n_classes, cfg, seed)


def _fit_head(features, labels, train, val, n_classes, cfg, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    Xnp, X, y = _training_data(features, labels, train, cfg)
    head, opt = _new_head(Xnp, n_classes, cfg)
    weight = _class_weights(y, n_classes, cfg)
    Xv, tv = features.select(val, with_augmented=False)
    # The stopping loss weighs genres as the training loss does (per validation track).
    val_w = None if weight is None else balanced_weights(labels[val], n_classes)[labels[val]]
    best, best_epoch, best_state = np.inf, 0, None
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    for epoch in range(cfg.max_epochs):
        history["train_loss"].append(_train_epoch(head, opt, X, y, cfg, gen, weight))
        p = track_probabilities(head, Xv, tv, val)
        val_loss = float(log_loss(labels[val], p, labels=np.arange(n_classes), sample_weight=val_w))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(float(np.mean(p.argmax(1) == labels[val])))
        if val_loss < best - 1e-4:
            best, best_epoch = val_loss, epoch
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
        elif epoch - best_epoch >= cfg.patience:
            break
    history["best_epoch"] = int(best_epoch)
    if cfg.refit:
        del Xnp, X, y  # before the train + val copy is made: never two training sets at once
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        Xnp, X, y = _training_data(features, labels, np.concatenate([train, val]), cfg)
        head, opt = _new_head(Xnp, n_classes, cfg)
        weight = _class_weights(y, n_classes, cfg)
        for _ in range(best_epoch + 1):
            _train_epoch(head, opt, X, y, cfg, gen, weight)
    else:
        head.load_state_dict(best_state)
    head.eval()
    history["refit_on_train_and_val"] = bool(cfg.refit)
    return head, history


def scores(labels, predicted) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro-F1 of hard predictions.

    Balanced accuracy is the mean recall over the genres present in ``labels``
    (a genre absent from a test fold cannot be scored); macro-F1 averages the
    F1 of every genre that is present or predicted (a genre predicted but
    absent scores 0, so false alarms count).
    """
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": expected on small folds
        warnings.simplefilter("ignore", UserWarning)
        return {"accuracy": float(np.mean(predicted == labels)),
                "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
                "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0))}


def classification_metrics(labels: np.ndarray, probs: np.ndarray, genre_names) -> dict:
    """Accuracy, balanced accuracy, macro-F1, log loss, per-genre recall and F1, the confusion matrix (rows = true).

    ``per_genre_accuracy`` is each genre's recall (None when it has no track here).
    """
    n = len(genre_names)
    pred = probs.argmax(1)
    cm = confusion_matrix(labels, pred, labels=np.arange(n))
    per_genre = {g: (float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None) for i, g in enumerate(genre_names)}
    f1 = f1_score(labels, pred, labels=np.arange(n), average=None, zero_division=0)
    return {
        **scores(labels, pred),
        "loss": float(log_loss(labels, probs, labels=np.arange(n))),
        "n_tracks": int(len(labels)),
        "per_genre_accuracy": per_genre,
        "per_genre_f1": {g: (float(f1[i]) if cm[i].sum() or cm[:, i].sum() else None)
                         for i, g in enumerate(genre_names)},
        "confusion_matrix": cm.tolist(),
    }
