"""Dropout written out by hand: inverted, vanilla and DropPath, plus mask sampling.

`p` is always the probability of DROPPING a unit; a unit is kept with probability 1 - p.
Each function takes `p` as a float or as a tensor that broadcasts against `x`, so one call
can apply a different p to each of several stacked models (shape (models, 1, 1)).

Masks are exact: a unit is kept when 32 random bits, read as a signed integer, reach a threshold
set by p (`keep_threshold`), so the keep probability is 1 - p itself for every p the lab allows,
not p rounded to the 24 bits of a float from torch.rand or to the 16 bits the lab once drew
(−0.8 % in expectation at p = 0.999, +52 % at p = 0.99999). Every draw takes a generator: the
lab draws only from each run's own generators, never from torch's global one.
"""

from __future__ import annotations

import math

import torch

MASK_BITS = 32  # random bits per unit


def random_bits(shape: tuple[int, ...], generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform random int32 values of `shape`: 32 random bits per unit.

    Drawn as int64 words, two units each (a 64-bit draw per word). On the CPU words drawn in
    one call are the words drawn in several calls one after the other, so a step's bits are the
    same whether drawn alone or with the next steps' (dropviz.fast_step draws 16 steps at once).
    """
    _require(generator)
    units = math.prod(shape)
    words = torch.empty((units + 1) // 2, dtype=torch.int64, device=device)
    words.random_(-2**63, None, generator=generator)  # every int64 value equally likely
    return words.view(torch.int32)[:units].view(shape)


def keep_threshold(p: float | torch.Tensor) -> int | torch.Tensor:
    """Keep a unit when its random int32 v has v >= keep_threshold(p).

    Of the 2³² values of v, 2³¹ - threshold keep the unit: P(keep) = 1 - ceil(p·2³²)/2³². That
    is exactly 1 - p whenever p is a multiple of 2⁻³², as every float32 p ≥ 2⁻⁹ is (24
    significant bits), and within 2⁻³² of it below. A tensor p gives a float64 tensor of
    thresholds (whole numbers, exact in float64), which broadcasts in the comparison.
    """
    if isinstance(p, torch.Tensor):
        return torch.ceil(p.double() * 2**32) - 2**31
    return math.ceil(p * 2**32) - 2**31


def keep_from_bits(bits: torch.Tensor, p: float | torch.Tensor) -> torch.Tensor:
    """The 0.0/1.0 keep mask these random bits (from `random_bits`) give at drop probability p."""
    return (bits >= keep_threshold(p)).float()


def keep_mask(shape: tuple[int, ...], p: float | torch.Tensor, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """A Bernoulli(1 - p) mask of 0.0/1.0: 1 keeps a unit, 0 drops it; p = 0 keeps every unit."""
    return keep_from_bits(random_bits(shape, generator, device), p)


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


def torch_keep_mask(shape: tuple[int, ...], p: float, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """The 0/1 mask torch.nn.functional.dropout draws, drawn from `generator`.

    F.dropout takes no generator: it draws from torch's global one, which every thread of a
    server shares. On the CPU it draws its mask as `empty_like(x).bernoulli_(1 - p)`; this is
    that very draw from the given generator, so a run's "torch" masks are F.dropout's
    (tests/test_dropout.py checks it against F.dropout with the global generator seeded alike)
    without touching the global generator. On CUDA F.dropout runs a fused kernel of its own,
    so there these are Bernoulli(1 - p) masks of the same distribution, not its very bits.
    """
    _require(generator)
    if p == 0:
        return torch.ones(shape, device=device)  # F.dropout(x, 0) returns x: no draw
    return torch.empty(shape, device=device).bernoulli_(1 - p, generator=generator)


def _require(generator: torch.Generator | None) -> None:
    """Masks come from a generator the caller owns: torch's global one is shared by every thread
    of a server, so another run's draws or seeds would change this one's masks."""
    if generator is None:
        raise ValueError("dropout masks need a torch.Generator; torch's global generator is never used")


def drop_path(x: torch.Tensor, p: float | torch.Tensor, training: bool,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Stochastic depth: zero a whole sample's branch with probability p, scale survivors by 1/(1 - p)."""
    if not training:
        return x
    # One draw per sample (dim 0), broadcast over every other dim: mask shape (batch, 1, 1, ...).
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    return x * keep_mask(shape, p, generator, x.device) / (1 - p)


# Forward functions by the config's `variant`. "torch" draws its masks as F.dropout does
# (torch_keep_mask) and applies them with the inverted scaling F.dropout uses.
VARIANT_FUNCTIONS = {"inverted": inverted_dropout, "vanilla": vanilla_dropout, "torch": inverted_dropout}
