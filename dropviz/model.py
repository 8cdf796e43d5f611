"""The lab's MLP, several copies stacked so they train as one: the model to read first.

Model m is  Linear(in,H) → ReLU → Dropout(p_m) → [Linear(H,H) → ReLU → Dropout(p_m)] × (depth-1)
→ Linear(H,1): the source's network for in = 1, depth 3 and H = 200; in = 2 for the 2-D
classification datasets (dropviz.data2d), whose one output is a logit (loss "bce"). Instead of
M nn.Sequential models, every weight has a leading model axis, (M, fan_in, fan_out), and each
layer is one batched matmul (torch.baddbmm) for all M models. The same code trains the lab's
p = 0 / p pair, its further seeds and a sweep of many p values. The models share no weights and
no loss term, so autograd on the sum of their losses gives each model its own gradient.

It trains with the standard PyTorch loop (`ReferenceStep`): model.train(), fresh masks,
forward, loss, optimizer.zero_grad(), loss.backward(), optimizer.step(), with torch.optim;
the loss is the MSE (regression) or the binary cross-entropy of the logit (classification),
optionally plus an L1 penalty, on all the points or on a mini-batch (`MiniBatches`).
dropviz.fast_step does the same step with a hand-written backward, several times faster, and
is tested equal to this one (tests/test_backends.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .dropout import VARIANT_FUNCTIONS, keep_from_bits, random_bits, torch_keep_mask


class StackedMLP(nn.Module):
    """M independent MLPs in stacked tensors; layer l's weight has shape (M, fan_in, fan_out)."""

    def __init__(self, ps: list[float], width: int, depth: int, seeds: list[int],
                 variant: str = "inverted", device: torch.device | str = "cpu", in_features: int = 1):
        super().__init__()
        assert len(ps) == len(seeds), "one seed per model"
        self.sizes = [in_features] + [width] * depth + [1]
        per_model = [_init_linears(self.sizes, seed) for seed in seeds]  # per model: [W0, b0, W1, b1, …]
        stacked = [torch.stack(tensors).to(device) for tensors in zip(*per_model)]  # (M, fan_in, fan_out), (M, 1, fan_out)
        self.weights = nn.ParameterList(stacked[0::2])
        self.biases = nn.ParameterList(stacked[1::2])
        # p per model as float32, shaped to broadcast over (M, N, H); what nn.Dropout in to_sequential sees.
        self.register_buffer("p", torch.tensor(ps, dtype=torch.float32, device=device).view(-1, 1, 1))
        self.variant = variant
        self.last_masks: torch.Tensor | None = None  # keep masks of the last training forward, (M, depth, N, H)

    @property
    def n_models(self) -> int:
        return len(self.p)

    @property
    def depth(self) -> int:
        return len(self.sizes) - 2

    @property
    def n_params(self) -> int:
        """Weights and biases of one model: 81,001 for the source's network."""
        return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(self.sizes, self.sizes[1:]))

    def params(self) -> list[torch.Tensor]:
        """[W0, b0, W1, b1, …]: W_l is (M, fan_in, fan_out), b_l is (M, 1, fan_out)."""
        return [t for w, b in zip(self.weights, self.biases) for t in (w, b)]

    def forward(self, x: torch.Tensor, masks: torch.Tensor | None = None,
                generators: list[torch.Generator] | None = None,
                hidden: list[torch.Tensor] | None = None) -> torch.Tensor:
        """x: (N, in_features) shared by all models, or (M, N, in_features). Returns the
        predictions (M, N, 1): the regression's values, or the classifier's logits.

        In training mode hidden layer l is dropped out with masks[:, l] (0/1, see `sample_masks`),
        or with masks freshly drawn from `generators`; in eval mode dropout is off (vanilla
        dropout then scales by 1 - p, see dropout.py). A `hidden` list gets each hidden layer's
        unit outputs (after the ReLU, before dropout), (M, N, H) per layer: the network view's.
        """
        h = x.expand(self.n_models, *x.shape[-2:])
        if self.training:
            masks = self.sample_masks(h.shape[1], generators) if masks is None else masks
            self.last_masks = masks
        dropout = VARIANT_FUNCTIONS[self.variant]
        for l in range(self.depth):
            h = torch.relu(torch.baddbmm(self.biases[l], h, self.weights[l]))  # b + h @ W, (M, N, H)
            if hidden is not None:
                hidden.append(h)
            h = dropout(h, self.p, self.training, mask=masks[:, l] if self.training else None)
        return torch.baddbmm(self.biases[-1], h, self.weights[-1])

    def sample_masks(self, n: int, generators: list[torch.Generator]) -> torch.Tensor:
        """Fresh 0/1 keep masks for every hidden layer of every model, (M, depth, n, H).

        Model m draws from generators[m] only, so its masks do not depend on the models beside
        it, and p = 0 models draw nothing. Models given the same generator object (train.py
        gives one per seed) read one draw of random bits, each comparing them with its own p:
        the masks separate generators seeded alike would give, for one draw per seed. The
        "torch" variant draws each model's mask as F.dropout does (dropout.torch_keep_mask);
        train.py gives those models a generator each.
        """
        if generators is None:
            raise ValueError("dropout masks need the run's generators (one per model); the global one is never used")
        shape = (self.depth, n, self.sizes[1])
        masks = torch.ones(self.n_models, *shape, device=self.p.device)
        bits: dict[int, torch.Tensor] = {}  # id(generator) -> this step's random bits from it
        for m, generator in enumerate(generators):
            p = float(self.p[m])
            if p == 0:
                continue
            if self.variant == "torch":
                masks[m] = torch_keep_mask(shape, p, generator, self.p.device)
                continue
            if id(generator) not in bits:
                bits[id(generator)] = random_bits(shape, generator, self.p.device)
            masks[m] = keep_from_bits(bits[id(generator)], p)
        return masks

    def weight_norms(self) -> torch.Tensor:
        """Frobenius norm of each layer's weight per model: (layers, M)."""
        return torch.stack([w.detach().flatten(1).norm(dim=1) for w in self.weights])


class ReferenceStep:
    """One training iteration of every model, the standard PyTorch way: the reference backend.

    `optimizer` is "sgd" (momentum 0.9, as the source) or "adam", both torch.optim and both
    with weight decay (L2; torch.optim decays the biases too). `loss` is "mse" or "bce" (see
    `losses_per_model`). `l1` adds l1·Σ|W| to each model's objective (see `l1_penalty`).
    step() returns each model's training loss (M,) before the update, without the L1 term.
    """

    name = "reference"

    def __init__(self, model: StackedMLP, optimizer: str, lr: float, weight_decay: float = 0.0,
                 l1: float = 0.0, loss: str = "mse"):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}: one of {', '.join(LOSSES)}")
        self.model, self.l1, self.loss = model, l1, loss
        self.optimizer = make_torch_optimizer(optimizer, model.parameters(), lr, weight_decay)

    def step(self, x: torch.Tensor, y: torch.Tensor, generators: list[torch.Generator],
             batch: torch.Tensor | None = None) -> torch.Tensor:
        """x: (M, N, in) or (N, in); y: (M, N, 1) or (N, 1); generators: one per model (see
        StackedMLP.sample_masks); batch: this step's points per model, (M, B) from
        MiniBatches.next(), or None for all N."""
        x, y = select_batch(x, y, batch)
        self.model.train()
        masks = self.model.sample_masks(x.shape[-2], generators)
        self.optimizer.zero_grad()
        losses = losses_per_model(self.model(x, masks), y, self.loss)  # (M,)
        objective = losses.sum()  # the models share nothing: each gets the gradient of its own loss
        if self.l1:
            objective = objective + self.l1 * l1_penalty(self.model).sum()
        objective.backward()
        self.optimizer.step()
        return losses.detach()


LOSSES = ("mse", "bce")


def losses_per_model(prediction: torch.Tensor, y: torch.Tensor, loss: str = "mse") -> torch.Tensor:
    """Each model's loss, the mean over its points, (M,). prediction (M, N, 1); y (M, N, 1) or (N, 1).

    "mse": nn.MSELoss's mean squared error. "bce": nn.BCEWithLogitsLoss's binary cross-entropy of
    the labels 0/1 given the logits, computed from the logits, not from sigmoid(z): once σ(z)
    rounds to 1 (z ≳ 17) log(1 - σ(z)) is log 0 = -inf, where (1 - y)·z - log σ(z) stays exact.
    """
    if loss == "mse":
        return ((prediction - y) ** 2).mean(dim=(1, 2))
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(prediction, y.expand_as(prediction), reduction="none").mean(dim=(1, 2))
    raise ValueError(f"unknown loss {loss!r}: one of {', '.join(LOSSES)}")


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each model's share of points whose predicted class (logit > 0: probability > 0.5) is the
    label, (M,). logits (M, N, 1); y (M, N, 1) or (N, 1), labels 0/1."""
    return ((logits > 0) == (y > 0.5)).float().mean(dim=(1, 2))


def l1_penalty(model: StackedMLP) -> torch.Tensor:
    """Σ|W| over every weight of each model, (M,); its gradient is sign(W).

    Weights only, not biases, as Playground regularises (its L1 and L2 act on the links): a
    bias does not make the function more complex, and pulling it to 0 would only pull the
    decision boundary towards the origin.
    """
    return sum(w.abs().sum(dim=(1, 2)) for w in model.weights)


BATCH_SEED_OFFSET = 7_000_003  # batch generators are seeded apart from the mask generators (seeded with the seed)


class MiniBatches:
    """Which points each model trains on at each step: `next()` gives (M, B) point indices, or
    None when every point is used (batch_size 0 or ≥ n: full batch, the default).

    Each epoch shuffles the n points (torch.randperm) and cuts them into n // batch_size batches;
    the remainder sits the epoch out (DataLoader's drop_last), so every step has batch_size
    points and its masks one shape. One generator per distinct seed, seeded with seed +
    BATCH_SEED_OFFSET: the mask generators draw what they draw without batches, the batches do
    not depend on p, and the models of one seed (its p = 0 and dropout models) get the same ones.
    """

    def __init__(self, seeds: list[int], n: int, batch_size: int, device: torch.device | str = "cpu"):
        self.full = batch_size <= 0 or batch_size >= n
        self.n, self.size, self.per_epoch, self.device = n, batch_size, n // max(batch_size, 1), device
        distinct = list(dict.fromkeys(seeds))
        self.generators = [torch.Generator().manual_seed(s + BATCH_SEED_OFFSET) for s in distinct]
        self.rows = torch.tensor([distinct.index(s) for s in seeds])  # model m reads its seed's row
        self.epoch: torch.Tensor | None = None  # (M, batches per epoch, B): this epoch's batches
        self.k = self.per_epoch  # the next batch's index in the epoch: shuffle first

    def next(self) -> torch.Tensor | None:
        if self.full:
            return None
        if self.k == self.per_epoch:
            used = self.per_epoch * self.size
            orders = torch.stack([torch.randperm(self.n, generator=g)[:used] for g in self.generators])
            self.epoch = orders.view(len(orders), self.per_epoch, self.size)[self.rows].to(self.device)
            self.k = 0
        self.k += 1
        return self.epoch[:, self.k - 1]


def select_batch(x: torch.Tensor, y: torch.Tensor, batch: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """This step's points: x (M, B, in), y (M, B, 1) with model m's points batch[m]; x, y as
    given when batch is None. x, y: (N, ·) shared by the models, or (M, N, ·) per model. Both
    backends call this, so they train on the same points."""
    if batch is None:
        return x, y
    return _pick_rows(x, batch), _pick_rows(y, batch)


def _pick_rows(t: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    if t.dim() == 2:
        return t[batch]  # (N, ·) indexed by (M, B): (M, B, ·)
    return t.gather(1, batch.unsqueeze(-1).expand(-1, -1, t.shape[-1]))  # out[m, j] = t[m, batch[m, j]]


def make_torch_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The lab's optimizers as torch.optim builds them: SGD with momentum 0.9 (the source's), or Adam."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def _init_linears(sizes: list[int], seed: int) -> list[torch.Tensor]:
    """nn.Linear's default init, U(-1/√fan_in, 1/√fan_in) for weight and bias: [W0, b0, W1, b1, …]."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(fan_in)
        out.append((torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound)
        out.append((torch.rand(1, fan_out, generator=gen) * 2 - 1) * bound)
    return out


def to_sequential(model: StackedMLP, m: int) -> nn.Sequential:
    """Model m as a plain nn.Sequential with the same weights (nn.Dropout layers use p_m)."""
    layers: list[nn.Module] = []
    for l, (w, b) in enumerate(zip(model.weights, model.biases)):
        linear = nn.Linear(w.shape[1], w.shape[2])
        with torch.no_grad():
            linear.weight.copy_(w[m].T)  # nn.Linear stores (out, in)
            linear.bias.copy_(b[m, 0])
        layers.append(linear)
        if l < model.depth:
            layers += [nn.ReLU(), nn.Dropout(float(model.p[m]))]
    return nn.Sequential(*layers).to(model.p.device)
