"""Dropout written out by hand: inverted, vanilla and DropPath, plus mask sampling.

`p` is always the probability of DROPPING a unit; a unit is kept with probability 1 - p.
Each function takes `p` as a float or as a tensor that broadcasts against `x`, so one call
can apply a different p to each of several stacked models (shape (models, 1, 1)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def keep_mask(shape: tuple[int, ...], p: float | torch.Tensor, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """A Bernoulli(1 - p) mask of 0.0/1.0: 1 keeps a unit, 0 drops it."""
    # rand is uniform on [0, 1): u >= p happens with probability 1 - p, and always when p = 0.
    return (torch.rand(shape, generator=generator, device=device) >= p).float()


def inverted_dropout(x: torch.Tensor, p: float | torch.Tensor, training: bool,
                     mask: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """PyTorch's and Keras's dropout: y = m ⊙ x / (1 - p) in training, y = x at test time."""
    if not training:
        return x
    if mask is None:
        mask = keep_mask(x.shape, p, generator, x.device)
    return x * mask / (1 - p)


def vanilla_dropout(x: torch.Tensor, p: float | torch.Tensor, training: bool,
                    mask: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """The original form: y = m ⊙ x in training, y = (1 - p) x at test time (same expectation)."""
    if not training:
        return x * (1 - p)
    if mask is None:
        mask = keep_mask(x.shape, p, generator, x.device)
    return x * mask


def torch_keep_mask(shape: tuple[int, ...], p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """The 0/1 mask torch.nn.functional.dropout itself draws (from torch's global generator).

    F.dropout(ones) is 0 for a dropped unit and 1/(1 - p) for a kept one.
    """
    return (F.dropout(torch.ones(shape, device=device), p, training=True) != 0).float()


def drop_path(x: torch.Tensor, p: float | torch.Tensor, training: bool,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Stochastic depth: zero a whole sample's branch with probability p, scale survivors by 1/(1 - p)."""
    if not training:
        return x
    # One draw per sample (dim 0), broadcast over every other dim: mask shape (batch, 1, 1, ...).
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    return x * keep_mask(shape, p, generator, x.device) / (1 - p)


# Forward functions by the config's `variant`. "torch" draws its masks with F.dropout
# (torch_keep_mask) and applies them with the inverted scaling F.dropout uses.
VARIANT_FUNCTIONS = {"inverted": inverted_dropout, "vanilla": vanilla_dropout, "torch": inverted_dropout}
