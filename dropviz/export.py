"""A standalone PyTorch script that reproduces a lab run, for students to continue in a notebook."""

from __future__ import annotations

from .config import LabConfig
from .data import HELD_OUT_POINTS, SOURCE_TEST_NOISE, TEST_SEED_OFFSET

TEMPLATE = '''"""dropviz run, exported: {width}-wide, {depth} hidden layers, {variant} dropout p = {p} vs p = 0, {epochs} iterations.

Plain PyTorch, no dropviz needed: python {filename}
The data and the initial weights are made exactly as dropviz makes them, and every iteration
computes the same loss, gradients and optimizer step ({optimizer}), so the p = 0 model starts with
the lab's losses and follows them closely for the first tens of iterations. Not bit for bit: this script's
layers add their products in another order than the lab's batched ones, and over hundreds of
iterations such last-bit differences can grow (with SGD as with Adam), so the final numbers agree
only where training settles on the same fit; where the net chases the noise they can end some
percent apart. The dropout model draws its masks from torch's own generator, not the lab's, so its
numbers differ from the lab's run by chance.
"""
import math

import torch
from torch import nn

CONFIG = {config!r}

TARGETS = {{
    "source": lambda x: 1.5 * x,
    "linear": lambda x: 1.5 * x,
    "sine": lambda x: torch.sin(torch.pi * x),
    "step": lambda x: torch.where(x < 0, -1.0, 1.0),
}}


class VanillaDropout(nn.Module):
    """The original dropout: drop each unit with probability p and leave the kept ones as they are
    in training; multiply by 1 - p at test time instead (the same expectation)."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, h):
        if self.training:
            return h * (torch.rand_like(h) >= self.p)  # kept with probability 1 - p
        return h * (1 - self.p)


# PyTorch's nn.Dropout is inverted dropout: kept units × 1/(1 - p) in training, nothing at test time.
DROPOUT = {{"inverted": nn.Dropout, "torch": nn.Dropout, "vanilla": VanillaDropout}}


def make_data(c):
    """Training points on a line of x; test points at the same x ('source') or 200 fresh ones."""
    gen = torch.Generator().manual_seed(c["seed"])
    f = TARGETS[c["dataset"]]
    x = torch.linspace(-1, 1, c["n_points"]).unsqueeze(1)
    y = f(x) + c["noise"] * torch.randn(x.shape, generator=gen)
    if c["dataset"] == "source":
        return x, y, x.clone(), f(x) + {source_test_noise} * torch.randn(x.shape, generator=gen)
    test_gen = torch.Generator().manual_seed(c["seed"] + {test_seed_offset})  # the test set's own
    x_test = torch.rand({held_out}, 1, generator=test_gen) * 2 - 1
    return x, y, x_test, f(x_test)


def make_model(c, p):
    """Linear(1,H) → ReLU → Dropout(p) → … → Linear(H,1), weights U(±1/√fan_in) from the seed."""
    gen = torch.Generator().manual_seed(c["seed"])
    sizes = [1] + [c["width"]] * c["depth"] + [1]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out)
        bound = 1 / math.sqrt(fan_in)
        with torch.no_grad():
            linear.weight.copy_(((torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound).T)
            linear.bias.copy_(((torch.rand(1, fan_out, generator=gen) * 2 - 1) * bound)[0])
        layers.append(linear)
        if i < c["depth"]:
            layers += [nn.ReLU(), DROPOUT[c["variant"]](p)]  # p = probability of DROPPING a unit
    return nn.Sequential(*layers)


def make_optimizer(c, params):
    if c["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=c["lr"], weight_decay=c["weight_decay"])
    return torch.optim.SGD(params, lr=c["lr"], momentum=0.9, weight_decay=c["weight_decay"])


def main(c=CONFIG):
    torch.manual_seed(c["seed"])
    x, y, x_test, y_test = make_data(c)
    models = {{p: make_model(c, p) for p in (0.0, c["p"])}}
    optimizers = {{p: make_optimizer(c, m.parameters()) for p, m in models.items()}}
    loss_fn = nn.MSELoss()
    for it in range(1, c["epochs"] + 1):
        for p, model in models.items():
            model.train()  # dropout on
            loss = loss_fn(model(x), y)
            optimizers[p].zero_grad()
            loss.backward()
            optimizers[p].step()
    results = {{}}
    for p, model in models.items():
        model.eval()  # dropout off: the whole network (vanilla dropout scales by 1 - p instead)
        with torch.no_grad():
            results[p] = (loss_fn(model(x), y).item(), loss_fn(model(x_test), y_test).item())
        print(f"p = {{p:g}}: train loss {{results[p][0]:.4g}}, test loss {{results[p][1]:.4g}}")
    return results


if __name__ == "__main__":
    main()
'''


def pytorch_script(config: LabConfig, filename: str = "dropviz_run.py") -> str:
    """The script's source text, with this run's settings written into it."""
    settings = {k: v for k, v in config.to_dict().items()
                if k not in ("device", "snapshot_every", "mc_samples")}
    return TEMPLATE.format(config=settings, filename=filename, test_seed_offset=TEST_SEED_OFFSET, source_test_noise=SOURCE_TEST_NOISE,
                           held_out=HELD_OUT_POINTS, **settings)
