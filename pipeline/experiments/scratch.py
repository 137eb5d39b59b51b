"""MobileNetV2 trained from random initialisation: the baseline that shows what ImageNet transfer buys.

Same architecture as the frozen backbone (torchvision MobileNetV2 ``features``)
and the same head (deep 256 → shallow 64 → genres), but every weight is learned
from the training tracks' spectrogram windows. Batch-norm uses batch statistics
while training (random init has nothing folded into it, unlike the shared
ImageNet file).

CPU budget: on 2 shared cores one training step costs ~0.3 s per full-size
10 s image (128 x 431), so a fold of ~300 windows would take ~1.5 min per epoch.
To stay practical the images are block-averaged by ``downsample`` (2: 64 x 215),
epochs are few, early stopping watches the validation tracks' loss and the best
epoch's weights are kept (no refit on train + val, unlike the frozen-backbone
head). Every one of these choices is recorded with the results.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss
from torch import nn
from torchvision.models import mobilenet_v2
from tqdm.auto import tqdm

from ..embed import segment_images, track_means
from ..networks.mobilenet_v2_net import GenreHead
from ..spectrogram import SpectrogramConfig, downsample_image
from ..train import TrainConfig


@dataclass(frozen=True)
class ScratchConfig:
    """Optimisation of the from-scratch network (kept small for 2 CPU cores)."""

    downsample: int = 2  # mel images block-averaged by this factor in both axes
    max_epochs: int = 15
    patience: int = 5  # epochs without a better validation loss (it is noisy: ~15 validation tracks)
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class ScratchNet(nn.Module):
    """Randomly initialised MobileNetV2 features + the pipeline's head; (N, H, W) → logits."""

    def __init__(self, n_classes: int, train_cfg: TrainConfig):
        super().__init__()
        self.features = mobilenet_v2().features
        self.head = GenreHead(n_classes, train_cfg.deep, train_cfg.shallow, train_cfg.dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.unsqueeze(1).expand(-1, 3, -1, -1) - 0.5) / 0.25
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.head(x)["logits"]


def segment_image_stack(audios, spec: SpectrogramConfig, downsample: int, progress: bool = True) -> dict:
    """Every window's log-mel image, block-averaged; float16 to keep memory small.

    Returns
    -------
    dict with ``images`` (n_segments, H // downsample, W // downsample) and ``track``.
    """
    images, track = [], []
    for i, y in enumerate(tqdm(audios, desc="spectrograms (scratch)", unit="track", disable=not progress)):
        ims, _ = segment_images(y, spec)
        shape = (ims.shape[1] // downsample, ims.shape[2] // downsample)
        images.extend(downsample_image(im, shape) if downsample > 1 else im for im in ims)
        track.extend([i] * len(ims))
    return {"images": np.stack(images).astype(np.float16), "track": np.asarray(track)}


@torch.no_grad()
def segment_probabilities(model: ScratchNet, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Softmax output for every image, (n, n_classes)."""
    model.eval()
    parts = [torch.softmax(model(torch.as_tensor(images[i : i + batch_size], dtype=torch.float32)), -1)
             for i in range(0, len(images), batch_size)]
    return torch.cat(parts).numpy().astype(np.float64)


def fit_scratch(images: np.ndarray, track: np.ndarray, labels: np.ndarray, train: np.ndarray, val: np.ndarray,
                n_classes: int, cfg: ScratchConfig, train_cfg: TrainConfig, seed: int,
                progress: bool = False) -> tuple[ScratchNet, dict]:
    """Train the whole network on the ``train`` tracks' windows, early-stopping on ``val`` tracks.

    Parameters
    ----------
    images, track : from ``segment_image_stack``.
    labels : genre index per track.
    train, val : track indices.

    Returns
    -------
    model : best-validation-loss weights, eval mode.
    history : per-epoch train/val loss, val accuracy, best epoch.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ScratchNet(n_classes, train_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    mask = np.isin(track, train)
    X, y = torch.as_tensor(images[mask], dtype=torch.float32), torch.as_tensor(labels[track[mask]])
    vmask = np.isin(track, val)
    Xv, tv = images[vmask], track[vmask]
    val_row = np.zeros(len(labels), dtype=int)
    val_row[val] = np.arange(len(val))  # track index → its row among the val tracks
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    best, best_epoch, best_state = np.inf, 0, None
    bar = tqdm(range(cfg.max_epochs), desc="from-scratch epochs", unit="epoch", leave=False, disable=not progress)
    for epoch in bar:
        model.train()
        perm, total = torch.randperm(len(X), generator=gen), 0.0
        for i in range(0, len(X), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if len(idx) < 2:  # batch-norm needs two samples in train mode
                continue
            loss = F.cross_entropy(model(X[idx]), y[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        p = track_means(segment_probabilities(model, Xv), val_row[tv], len(val)).astype(np.float64)
        p /= p.sum(1, keepdims=True)
        val_loss = float(log_loss(labels[val], p, labels=np.arange(n_classes)))
        history["train_loss"].append(total / len(X))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(float(np.mean(p.argmax(1) == labels[val])))
        bar.set_postfix(val_loss=f"{val_loss:.3f}")
        if val_loss < best - 1e-4:
            best, best_epoch = val_loss, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= cfg.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    history["best_epoch"] = int(best_epoch)
    history["epochs_run"] = len(history["val_loss"])
    return model, history
