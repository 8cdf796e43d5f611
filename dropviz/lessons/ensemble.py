"""Dropout as an ensemble: every keep mask picks a sub-network; eval mode approximates their average.

The lab's MLP, written as plain tensors with a choice of activation. With ReLU and the lab's
settings, `train` gives the lab's dropout model: the same initial weights (StackedMLP's init),
the same masks (StackedMLP.sample_masks from a generator seeded like train.py's) and the lab's
own training step. With a linear activation the network is multilinear in its masks, so the
average of the sub-networks equals the eval-mode network exactly; ReLU breaks that, a little.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..config import LabConfig
from ..data import make_dataset
from ..dropout import VARIANT_FUNCTIONS, keep_mask
from ..model import StackedMLP, make_torch_optimizer
from ..train import make_trainer, train_step

ACTIVATIONS = {"relu": torch.relu, "linear": lambda h: h}
GRID = torch.linspace(-2, 2, 161).unsqueeze(1)  # wider than the data (x in [-1, 1]): where do sub-networks disagree?
# Training budget: width² × (depth − 1) × points × iterations; the source's size (200² × 2 × 10 × 2,000)
# trains in 0.5–0.9 s with ReLU (the lab's own step) and 2.2–3.2 s linear (autograd) on the shared
# 2-core dev box. Bigger lab settings train fewer iterations here.
BUDGET = 200 ** 2 * 2 * 10 * 2000
SAMPLE_BUDGET = 300 * 200 ** 2 * 2 * 161  # masks × width² × (depth − 1) × grid points: 300 masks at the source's size
LINEAR_CLIP = 1.0  # gradient-norm bound of the linear network's training, see _train_plain


@dataclass(frozen=True)
class Net:
    """A trained MLP as tensors: weights[l] (fan_in, fan_out), biases[l] (1, fan_out)."""

    weights: tuple[torch.Tensor, ...]
    biases: tuple[torch.Tensor, ...]
    p: float
    variant: str  # inverted / vanilla / torch (torch is inverted dropout with F.dropout's masks)
    activation: str  # relu / linear

    @property
    def depth(self) -> int:
        return len(self.weights) - 1

    @property
    def width(self) -> int:
        return self.weights[0].shape[1]


def forward(net: Net, x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """x (N, 1) → eval-mode output (N, 1) when masks is None, else train-mode output (T, N, 1).

    masks: 0/1 keep masks (T, depth, N or 1, H); one mask per sub-network shared by all N points
    (shape (T, depth, 1, H)) makes each of the T outputs one fixed sub-network's curve.
    """
    act, dropout = ACTIVATIONS[net.activation], VARIANT_FUNCTIONS[net.variant]
    training = masks is not None
    h = x.expand(masks.shape[0], *x.shape) if training else x
    for l in range(net.depth):
        h = act(h @ net.weights[l] + net.biases[l])
        h = dropout(h, net.p, training, mask=masks[:, l] if training else None)
    return h @ net.weights[-1] + net.biases[-1]


def budgeted(config: LabConfig) -> LabConfig:
    """The lab's config, with fewer iterations if it would take more than this page's budget."""
    cost = config.width ** 2 * max(config.depth - 1, 1) * config.n_points * config.epochs
    if cost <= BUDGET:
        return config
    return config.with_(epochs=max(1, int(config.epochs * BUDGET / cost)))


def budgeted_masks(masks: int, config: LabConfig, grid_points: int = len(GRID)) -> int:
    """How many of `masks` sub-networks fit the sampling budget at the lab's width and depth."""
    cost = config.width ** 2 * max(config.depth - 1, 1) * grid_points
    return max(2, min(masks, SAMPLE_BUDGET // cost))


def train(config: LabConfig, activation: str = "relu") -> Net:
    """The lab's dropout model (p = config.p), trained as the lab trains it, with `activation`, on the CPU.

    With ReLU it is the lab's own network (its StackedMLP, trained by train.py's step), so the
    weights are those of the lab's dropout model. A linear activation is this lesson's own: the
    same initial weights and masks, trained by the standard PyTorch loop (`_train_plain`). Every
    mask comes from this run's own generator, seeded as train.py seeds the model's (the "torch"
    variant too: F.dropout's masks drawn from it, see dropout.torch_keep_mask), so no other run
    or lesson in the server shifts them, nor this one theirs.
    """
    data = make_dataset(config)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    lab = StackedMLP([config.p], config.width, config.depth, [config.seed], config.variant)  # its init, its masks
    generators = [torch.Generator().manual_seed(config.seed)]  # train.py's generator for this seed
    if activation != "relu":
        return _train_plain(lab, x, y, generators, config, activation)
    trainer = make_trainer(lab, config)
    for _ in range(config.epochs):
        train_step(trainer, x, y, generators)
    return _net([w[0] for w in lab.weights], [b[0] for b in lab.biases], config, activation)


def _train_plain(lab: StackedMLP, x: torch.Tensor, y: torch.Tensor, generators: list[torch.Generator],
                 config: LabConfig, activation: str) -> Net:
    """A network without ReLU (not the lab's), from the lab's initial weights with the lab's masks:
    the standard PyTorch loop (zero_grad, backward, step), each step's gradient norm bounded."""
    net = _net([w[0] for w in lab.weights], [b[0] for b in lab.biases], config, activation)
    params = [t.requires_grad_(True) for t in (*net.weights, *net.biases)]
    optimizer = make_torch_optimizer(config.optimizer, params, config.lr, config.weight_decay)
    for _ in range(config.epochs):
        masks = lab.sample_masks(x.shape[0], generators)  # (1, depth, N, H): the lab's masks of this step
        optimizer.zero_grad()
        loss = (forward(net, x, masks)[0] - y).square().mean()
        loss.backward()
        # Without ReLU to cut them, the masks' noise multiplies through the layers and SGD with
        # momentum blows up (NaN within 100 steps at the source's settings): bound each step.
        torch.nn.utils.clip_grad_norm_(params, LINEAR_CLIP)
        optimizer.step()
    return _net(net.weights, net.biases, config, activation)


def _net(weights: list[torch.Tensor], biases: list[torch.Tensor], config: LabConfig, activation: str) -> Net:
    """A Net of copies of one model's weights (fan_in, fan_out) and biases (1, fan_out)."""
    copy = lambda t: t.detach().clone()
    return Net(tuple(map(copy, weights)), tuple(map(copy, biases)), config.p, config.variant, activation)


@dataclass(frozen=True)
class Ensemble:
    """T sub-network curves on a grid, their average, the eval-mode curve and their spread."""

    x: np.ndarray  # (G,)
    subnets: np.ndarray  # (T, G)
    eval: np.ndarray  # (G,) eval-mode (weight-scaled) curve
    x_train: np.ndarray  # (N,)
    y_train: np.ndarray  # (N,)

    @property
    def average(self) -> np.ndarray:
        return self.subnets.mean(0)

    @property
    def spread(self) -> np.ndarray:
        """Std of the sub-networks at each x: their disagreement (MC-dropout uncertainty)."""
        return self.subnets.std(0, ddof=1)

    @property
    def gap(self) -> np.ndarray:
        """|average of the sub-networks − eval curve| at each x."""
        return np.abs(self.average - self.eval)

    @property
    def stderr(self) -> np.ndarray:
        """Sampling error of the average at each x: spread / √T."""
        return self.spread / math.sqrt(self.subnets.shape[0])

    @property
    def distance(self) -> np.ndarray:
        """Distance of each grid x from the nearest training point."""
        return np.abs(self.x[:, None] - self.x_train[None, :]).min(1)


def gap_in_stderrs(ens: Ensemble) -> float:
    """Root mean square over the grid of gap / sampling error: ~1 when the gap is only sampling noise."""
    z = ens.gap / np.maximum(ens.stderr, 1e-12)
    return float(np.sqrt(np.mean(z ** 2)))


@torch.no_grad()
def sample(net: Net, config: LabConfig, masks: int, seed: int = 0, grid: torch.Tensor = GRID) -> Ensemble:
    """Draw `masks` sub-networks (one keep mask per layer each, from `seed`) and evaluate them on `grid`."""
    gen = torch.Generator().manual_seed(seed)
    keep = keep_mask((masks, net.depth, 1, net.width), net.p, gen)  # one mask per sub-network and layer
    subnets = forward(net, grid, keep)[..., 0]  # (T, G)
    data = make_dataset(config)
    return Ensemble(grid[:, 0].numpy(), subnets.numpy(), forward(net, grid)[:, 0].numpy(),
                    data.x_train[:, 0], data.y_train[:, 0])

