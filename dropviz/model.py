"""The lab's MLP, several copies stacked so they train as one: the model to read first.

Model m is  Linear(1,H) → ReLU → Dropout(p_m) → [Linear(H,H) → ReLU → Dropout(p_m)] × (depth-1)
→ Linear(H,1): the source's network for depth 3 and H = 200. Instead of M nn.Sequential models,
every weight has a leading model axis, (M, fan_in, fan_out), and each layer is one batched
matmul (torch.baddbmm) for all M models. The same code trains the lab's p = 0 / p pair, its
further seeds and a sweep of many p values. The models share no weights and no loss term, so
autograd on the sum of their losses gives each model its own gradient.

It trains with the standard PyTorch loop (`ReferenceStep`): model.train(), fresh masks,
forward, loss, optimizer.zero_grad(), loss.backward(), optimizer.step(), with torch.optim.
dropviz.fast_step does the same step with a hand-written backward, several times faster, and
is tested equal to this one (tests/test_backends.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .dropout import VARIANT_FUNCTIONS, keep_from_bits, random_bits, torch_keep_mask


class StackedMLP(nn.Module):
    """M independent MLPs in stacked tensors; layer l's weight has shape (M, fan_in, fan_out)."""

    def __init__(self, ps: list[float], width: int, depth: int, seeds: list[int],
                 variant: str = "inverted", device: torch.device | str = "cpu"):
        super().__init__()
        assert len(ps) == len(seeds), "one seed per model"
        self.sizes = [1] + [width] * depth + [1]
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
        """x: (N, 1) shared by all models, or (M, N, 1). Returns the predictions, (M, N, 1).

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
    with weight decay. step() returns each model's training loss (M,) before the update.
    """

    name = "reference"

    def __init__(self, model: StackedMLP, optimizer: str, lr: float, weight_decay: float = 0.0):
        self.model = model
        self.optimizer = make_torch_optimizer(optimizer, model.parameters(), lr, weight_decay)

    def step(self, x: torch.Tensor, y: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
        """x, y: (M, N, 1) or (N, 1); generators: one per model (see StackedMLP.sample_masks)."""
        self.model.train()
        masks = self.model.sample_masks(x.shape[-2], generators)
        self.optimizer.zero_grad()
        losses = ((self.model(x, masks) - y) ** 2).mean(dim=(1, 2))  # MSE of each model, (M,)
        losses.sum().backward()  # the models share nothing: each gets the gradient of its own loss
        self.optimizer.step()
        return losses.detach()


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
