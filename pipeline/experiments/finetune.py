"""Partial fine-tuning of MobileNetV2's last blocks on cached activations.

The blocks before ``first`` stay frozen, so their output for every window is
computed once (``feature_sets.extract_block_features(tail_from=first)``) and
only blocks ``first..18`` + the head run per epoch — on a 10 s window that is a
4 x 14 grid, a few per cent of the network's cost.

The shared ImageNet weights have batch-norm folded into identities
(``../shared/weights/README.md``): batch statistics would wreck them, so every
batch-norm stays in eval mode while the tail trains (its affine parameters,
which hold the folded biases, still learn). Early stopping on the validation
tracks' class-weighted loss picks the epoch; that epoch's weights are kept
(no refit on train + val: it would double the cost on 2 shared cores).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss
from torch import nn

from ..networks.mobilenet_v2_net import Backbone, GenreHead, pooled_dim
from ..runtime import torch_threads
from ..train import TrainConfig, balanced_weights


@dataclass(frozen=True)
class FinetuneConfig:
    """What is fine-tuned and how (kept small: a few epochs on 2 CPU cores)."""

    first: int = 16  # the first trained block of ``features`` (16..18)
    max_epochs: int = 6
    patience: int = 2
    tail_learning_rate: float = 1e-4  # pretrained weights move slowly
    head_learning_rate: float = 1e-3
    weight_decay: float = 1e-3
    batch_size: int = 32

    def to_dict(self) -> dict:
        return asdict(self)


class TailNet(nn.Module):
    """Blocks ``first..18`` of an ImageNet MobileNetV2 + the head.

    Input: the cached activation entering block ``first`` and, when
    ``pool_blocks`` includes earlier blocks, their (fixed) cached pools.
    """

    def __init__(self, backbone: Backbone, first: int, n_classes: int, cfg: TrainConfig, pool_blocks=(18,)):
        super().__init__()
        self.first, self.pool_blocks = first, tuple(sorted(pool_blocks))
        self.tail = copy.deepcopy(backbone.features[first:])
        self.tail.requires_grad_(True)
        self.head = GenreHead(n_classes, cfg.deep, cfg.shallow, cfg.dropout,
                              in_dim=pooled_dim(self.pool_blocks))

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.tail.modules():  # folded batch-norm: never batch statistics
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def pooled(self, x: torch.Tensor, fixed: torch.Tensor | None) -> torch.Tensor:
        """Pools of ``pool_blocks``: the earlier ones from ``fixed``, the tail's computed here."""
        parts = [] if fixed is None else [fixed]
        for i, block in enumerate(self.tail, start=self.first):
            x = block(x)
            if i in self.pool_blocks:
                parts.append(F.adaptive_avg_pool2d(x, 1).flatten(1))
        return torch.cat(parts, 1)

    def forward(self, x: torch.Tensor, fixed: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.head(self.pooled(x, fixed))


def _batches(n: int, size: int, gen: torch.Generator | None):
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    return [order[i : i + size] for i in range(0, n, size)]


@torch.no_grad()
def tail_probabilities(net: TailNet, x: np.ndarray, fixed: np.ndarray | None, batch_size: int = 64) -> np.ndarray:
    """Window probabilities, (n, n_classes)."""
    net.eval()
    out = []
    for idx in _batches(len(x), batch_size, None):
        f = None if fixed is None else torch.as_tensor(fixed[idx])
        out.append(torch.softmax(net(torch.as_tensor(x[idx]), f)["logits"], -1))
    return torch.cat(out).numpy()


def _init_standardisation(net: TailNet, x: np.ndarray, fixed: np.ndarray | None) -> None:
    with torch.no_grad():
        net.eval()
        feats = torch.cat([net.pooled(torch.as_tensor(x[i]), None if fixed is None else torch.as_tensor(fixed[i]))
                           for i in _batches(len(x), 64, None)]).numpy()
    std = feats.std(0)
    net.head.feature_mean.copy_(torch.as_tensor(feats.mean(0)))
    net.head.feature_std.copy_(torch.as_tensor(np.maximum(std, 0.1 * np.median(std)) + 1e-6))


def fit_tail(backbone: Backbone, tail_input: np.ndarray, fixed: np.ndarray | None, window_track: np.ndarray,
             labels: np.ndarray, train: np.ndarray, val: np.ndarray, n_classes: int, cfg: TrainConfig,
             ft: FinetuneConfig, seed: int, pool_blocks=(18,)) -> tuple[TailNet, dict]:
    """Fine-tune blocks ``ft.first..18`` + a new head on the windows of ``train``; early-stop on ``val``.

    Parameters
    ----------
    tail_input : (n_windows, C, h, w) activations entering block ``ft.first``.
    fixed : (n_windows, d) cached pools of the blocks in ``pool_blocks`` before ``ft.first``, or None.
    window_track : track index per window; ``labels`` per track; ``train``/``val`` track indices.
    """
    with torch_threads(1):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = TailNet(backbone, ft.first, n_classes, cfg, pool_blocks)
        tr, va = np.isin(window_track, train), np.isin(window_track, val)
        x, f, yw = tail_input[tr], None if fixed is None else fixed[tr], labels[window_track[tr]]
        _init_standardisation(net, x, f)
        weight = torch.as_tensor(balanced_weights(yw, n_classes), dtype=torch.float32) \
            if cfg.class_weight == "balanced" else None
        val_w = balanced_weights(labels[val], n_classes)[labels[val]] if weight is not None else None
        opt = torch.optim.AdamW([{"params": net.tail.parameters(), "lr": ft.tail_learning_rate},
                                 {"params": net.head.parameters(), "lr": ft.head_learning_rate}],
                                weight_decay=ft.weight_decay)
        history, best, best_state, best_epoch = {"val_loss": []}, np.inf, None, 0
        for epoch in range(ft.max_epochs):
            net.train()
            for idx in _batches(len(x), ft.batch_size, gen):
                logits = net(torch.as_tensor(x[idx]), None if f is None else torch.as_tensor(f[idx]))["logits"]
                loss = F.cross_entropy(logits, torch.as_tensor(yw[idx]), weight=weight,
                                       label_smoothing=cfg.label_smoothing)
                opt.zero_grad()
                loss.backward()
                opt.step()
            p = tail_probabilities(net, tail_input[va], None if fixed is None else fixed[va])
            vt = window_track[va]
            pt = np.stack([p[vt == t].mean(0) for t in val])
            vl = float(log_loss(labels[val], pt, labels=np.arange(n_classes), sample_weight=val_w))
            history["val_loss"].append(vl)
            if vl < best - 1e-4:
                best, best_epoch, best_state = vl, epoch, copy.deepcopy(net.state_dict())
            elif epoch - best_epoch >= ft.patience:
                break
        net.load_state_dict(best_state)
        net.eval()
        history.update(best_epoch=best_epoch, epochs_run=len(history["val_loss"]))
        return net, history
