"""The new genre head every network gets: frozen features → deep → shallow → genre logits.

Its two inner layers are the maps' *deep* and *shallow* embeddings.
"""
from __future__ import annotations

import torch
from torch import nn

FEATURE_DIM = 1280  # a default input width (the pooled output of an ImageNet mobile CNN's last block)


class GenreHead(nn.Module):
    """The new classifier: ``in_dim`` features → deep (256) → shallow (64) → genre logits."""

    def __init__(self, n_classes: int, deep: int = 256, shallow: int = 64, dropout: float = 0.3,
                 in_dim: int = FEATURE_DIM):
        super().__init__()
        self.deep = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, deep), nn.ReLU())
        self.shallow = nn.Sequential(nn.Dropout(dropout), nn.Linear(deep, shallow), nn.ReLU())
        self.out = nn.Linear(shallow, n_classes)
        # Standardising the backbone features (fitted on training data) makes
        # the head train quickly and stably; stored as buffers in the bundle.
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_std", torch.ones(in_dim))

    def forward(self, immediate: torch.Tensor) -> dict[str, torch.Tensor]:
        z = (immediate - self.feature_mean) / self.feature_std
        deep = self.deep(z)
        shallow = self.shallow(deep)
        return {"deep": deep, "shallow": shallow, "logits": self.out(shallow)}
