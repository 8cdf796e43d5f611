"""A standalone PyTorch script that reproduces a lab run, for students to continue in a notebook.

The script is put together from pieces: its docstring, the data (1-D: the target functions; 2-D:
Playground's point sets, the very functions of data2d.py copied in), then the model, the loss
(MSE, or BCEWithLogitsLoss for the 2-D data), the optional L1 penalty and mini-batches, and the loop.
"""

from __future__ import annotations

import inspect

from . import data2d
from .config import LabConfig
from .data import HELD_OUT_POINTS, SOURCE_TEST_NOISE, TEST_SEED_OFFSET
from .model import BATCH_SEED_OFFSET

HEADER = '''"""dropviz run, exported: {width}-wide, {depth} hidden layers, {variant} dropout p = {p} vs p = 0, {epochs} iterations.

Plain PyTorch, no dropviz needed: python {filename}
The data and the initial weights are made exactly as dropviz makes them, and every iteration
computes the same loss, gradients and optimizer step ({optimizer}{extras}),
so the p = 0 model starts with the lab's losses and follows them closely for the first tens of iterations.
Not bit for bit: this script's layers add their products in another order than the lab's batched
ones, and over hundreds of iterations such last-bit differences can grow (with SGD as with Adam), so
the final numbers agree only where training settles on the same fit; where the net chases the noise
they can end some percent apart. The dropout model draws its masks from torch's own generator, not
the lab's, so its numbers differ from the lab's run by chance.
"""
import math

{numpy}import torch
from torch import nn

CONFIG = {config!r}
'''

DATA_1D = '''
TARGETS = {{
    "source": lambda x: 1.5 * x,
    "linear": lambda x: 1.5 * x,
    "sine": lambda x: torch.sin(torch.pi * x),
    "step": lambda x: torch.where(x < 0, -1.0, 1.0),
}}
INPUTS = 1  # x
LOSS = nn.MSELoss  # regression: the mean squared error


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
'''

DATA_2D = '''
# TensorFlow Playground's "{dataset}" points, as dropviz draws them (its data2d.py): in Playground's
# units, [-6, 6]², then divided by {scale:g}; labels 0/1.
PLAYGROUND_SCALE = {scale!r}
MAX_NOISE = {max_noise!r}
INPUTS = 2  # (x1, x2)
LOSS = nn.BCEWithLogitsLoss  # classification: the model outputs a logit; sigmoid(logit) = P(class 1)


{functions}

def make_data(c):
    """The points, shuffled, the first ratio % for training; one numpy generator seeded with the seed."""
    rng = np.random.default_rng(c["seed"])
    n = c["n_points"]
    x, y = {generator}(rng, n, c["noise"])
    order = rng.permutation(n)  # Playground shuffles before it splits
    x, y = (x[order] / PLAYGROUND_SCALE).astype(np.float32), y[order].astype(np.float32).reshape(-1, 1)
    n_train = min(max(round(c["ratio"] / 100 * n), 1), n - 1)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
'''

MODEL_AND_LOOP = '''

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


def make_model(c, p):
    """Linear(INPUTS,H) → ReLU → Dropout(p) → … → Linear(H,1), weights U(±1/√fan_in) from the seed."""
    gen = torch.Generator().manual_seed(c["seed"])
    sizes = [INPUTS] + [c["width"]] * c["depth"] + [1]
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
        return torch.optim.Adam(params, lr=c["lr"], weight_decay=c["weight_decay"])  # weight decay = L2
    return torch.optim.SGD(params, lr=c["lr"], momentum=0.9, weight_decay=c["weight_decay"])


def l1_penalty(model):
    """The sum of |w| over the weights, not the biases (as Playground's L1)."""
    return sum(layer.weight.abs().sum() for layer in model if isinstance(layer, nn.Linear))


def batches(c, n):
    """Each step's training points: None for all n (batch_size 0, full batch), else the lab's
    mini-batches: each epoch a permutation of the n points from a generator seeded with
    seed + {batch_seed_offset}, cut into n // batch_size batches (the rest sits that epoch out)."""
    size = c["batch_size"]
    if size <= 0 or size >= n:
        while True:
            yield None
    gen = torch.Generator().manual_seed(c["seed"] + {batch_seed_offset})
    while True:
        order = torch.randperm(n, generator=gen)
        for k in range(n // size):
            yield order[k * size:(k + 1) * size]


def accuracy(logits, y):
    return ((logits > 0) == (y > 0.5)).float().mean().item()  # class 1 where sigmoid(logit) > 0.5


def main(c=CONFIG):
    torch.manual_seed(c["seed"])
    x, y, x_test, y_test = make_data(c)
    models = {{p: make_model(c, p) for p in (0.0, c["p"])}}
    optimizers = {{p: make_optimizer(c, m.parameters()) for p, m in models.items()}}
    loss_fn = LOSS()
    steps = batches(c, len(x))
    for it in range(1, c["epochs"] + 1):
        batch = next(steps)  # both models train on the same points
        xb, yb = (x, y) if batch is None else (x[batch], y[batch])
        for p, model in models.items():
            model.train()  # dropout on
            loss = loss_fn(model(xb), yb)
            if c["l1"]:
                loss = loss + c["l1"] * l1_penalty(model)
            optimizers[p].zero_grad()
            loss.backward()
            optimizers[p].step()
    results = {{}}
    for p, model in models.items():
        model.eval()  # dropout off: the whole network (vanilla dropout scales by 1 - p instead)
        with torch.no_grad():
            out, out_test = model(x), model(x_test)
            results[p] = (loss_fn(out, y).item(), loss_fn(out_test, y_test).item())
        line = f"p = {{p:g}}: train loss {{results[p][0]:.4g}}, test loss {{results[p][1]:.4g}}"
        if INPUTS == 2:
            line += f", train accuracy {{accuracy(out, y):.1%}}, test accuracy {{accuracy(out_test, y_test):.1%}}"
        print(line)
    return results


if __name__ == "__main__":
    main()
'''


def pytorch_script(config: LabConfig, filename: str = "dropviz_run.py") -> str:
    """The script's source text, with this run's settings written into it."""
    settings = {k: v for k, v in config.to_dict().items()
                if k not in ("device", "snapshot_every", "mc_samples")}
    extras = "".join([f", L1 {config.l1:g}" if config.l1 else "",
                      f", batches of {config.batch_size}" if config.batch_size else ""])
    header = HEADER.format(config=settings, filename=filename, extras=extras,
                           numpy="import numpy as np\n" if config.task == "classification" else "", **settings)
    return header + _data_code(config) + MODEL_AND_LOOP.format(batch_seed_offset=BATCH_SEED_OFFSET)


def _data_code(config: LabConfig) -> str:
    """make_data for the config's dataset: the 1-D targets, or data2d's own functions for its 2-D set."""
    if config.task == "regression":
        return DATA_1D.format(test_seed_offset=TEST_SEED_OFFSET, source_test_noise=SOURCE_TEST_NOISE,
                              held_out=HELD_OUT_POINTS)
    generator = data2d._GENERATORS[config.dataset]
    functions = "\n\n".join(inspect.getsource(f) for f in (data2d._halves, generator))
    return DATA_2D.format(dataset=config.dataset, scale=data2d.PLAYGROUND_SCALE, max_noise=data2d.MAX_NOISE,
                          functions=functions, generator=generator.__name__)
