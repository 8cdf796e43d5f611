"""Why 1/(1−p)? The source's experiment: 10,000 ones → Dropout(p) → Linear(10000→1, all weights 1) → ReLU.

The linear layer just adds up the kept inputs, so a train-mode output is (number kept) × (value of
a kept input): K/(1−p) for inverted dropout, K for vanilla dropout, with K ~ Binomial(n, 1−p).
The eval-mode output is deterministic: n for inverted dropout, n(1−p) for vanilla (weights × (1−p)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..dropout import inverted_dropout, vanilla_dropout

N_INPUTS = 10_000  # the source's input size
CHUNK = 250  # draws per batch: 250 × 10,000 float64 = 20 MB at a time
VARIANTS = {"inverted": inverted_dropout, "vanilla": vanilla_dropout}


@dataclass(frozen=True)
class ScalingResult:
    """Train-mode outputs of many draws, the eval-mode output, and what theory predicts for them."""

    p: float
    variant: str
    n: int
    train: np.ndarray  # (draws,) train-mode outputs, one per fresh dropout mask
    eval: float  # the single eval-mode output
    theory_mean: float  # E[train output]
    theory_std: float  # std of the train output
    step: float  # the value of one kept input: outputs are whole multiples of it

    @property
    def mean(self) -> float:
        return float(self.train.mean())

    @property
    def std(self) -> float:
        return float(self.train.std(ddof=1)) if self.train.size > 1 else 0.0

    @property
    def stderr(self) -> float:
        """Standard error of the observed mean, from the theoretical std."""
        return self.theory_std / math.sqrt(self.train.size)

    @property
    def even_share(self) -> float:
        """Share of train-mode outputs that are even whole numbers."""
        whole = np.round(self.train)
        return float(np.mean((np.abs(self.train - whole) < 1e-6) & (whole % 2 == 0)))


def network(n: int = N_INPUTS) -> nn.Linear:
    """The source's layer: Linear(n → 1, no bias) with every weight 1, in float64 so sums are exact."""
    # skip_init: nn.Linear's own init would draw from torch's global generator, for weights we overwrite.
    linear = torch.nn.utils.skip_init(nn.Linear, n, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.fill_(1.0)
    return linear


def forward(x: torch.Tensor, p: float, variant: str, training: bool, linear: nn.Linear,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Dropout(p) → linear → ReLU on x (draws, n) → (draws,). Vanilla eval scales the weights by 1 − p."""
    if not training and variant == "vanilla":
        # The old recipe scales the WEIGHTS at test time; x·((1−p)w) equals vanilla_dropout's (1−p)x·w.
        return torch.relu(x @ (linear.weight.T * (1 - p)))[:, 0]
    h = VARIANTS[variant](x, p, training, generator=generator)
    return torch.relu(linear(h))[:, 0]


def theory(p: float, variant: str, n: int = N_INPUTS) -> tuple[float, float]:
    """Mean and std of a train-mode output: K/(1−p) (inverted) or K (vanilla), K ~ Binomial(n, 1−p)."""
    if variant == "inverted":
        return float(n), math.sqrt(n * p / (1 - p))
    return n * (1 - p), math.sqrt(n * p * (1 - p))


@torch.no_grad()
def run(p: float, draws: int, variant: str = "inverted", seed: int = 0, n: int = N_INPUTS) -> ScalingResult:
    """`draws` train-mode outputs with fresh masks from `seed`, and the eval-mode output."""
    linear, gen = network(n), torch.Generator().manual_seed(seed)
    outs = [forward(torch.ones(min(CHUNK, draws - start), n, dtype=torch.float64), p, variant, True, linear, gen)
            for start in range(0, draws, CHUNK)]
    eval_out = forward(torch.ones(1, n, dtype=torch.float64), p, variant, False, linear)
    mean, std = theory(p, variant, n)
    step = 1 / (1 - p) if variant == "inverted" else 1.0
    return ScalingResult(p, variant, n, torch.cat(outs).numpy(), float(eval_out[0]), mean, std, step)


def torch_dropout(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """torch's own nn.Dropout(p) in training on a CPU tensor, drawn from `generator`.

    nn.Dropout takes no generator: it draws from torch's global one, which every thread of the
    server shares (another student's run would shift this lesson's draws, and it theirs). On the
    CPU, F.dropout computes exactly this: noise = empty_like(x).bernoulli_(1 - p), noise /= 1 - p,
    x * noise. So these are nn.Dropout's very numbers for a generator in the same state
    (tests/lessons/test_scaling.py checks them bit for bit against nn.Dropout).
    """
    noise = torch.empty_like(x).bernoulli_(1 - p, generator=generator)
    return x * noise.div_(1 - p)


@torch.no_grad()
def torch_reference(p: float, draws: int, seed: int = 0, n: int = N_INPUTS) -> np.ndarray:
    """The same experiment through torch's own dropout (inverted): (draws,) train-mode outputs,
    nn.Dropout's numbers when torch's generator is seeded with `seed` (see torch_dropout)."""
    linear, gen = network(n), torch.Generator().manual_seed(seed)
    outs = [torch.relu(linear(torch_dropout(torch.ones(min(CHUNK, draws - start), n, dtype=torch.float64), p, gen)))[:, 0]
            for start in range(0, draws, CHUNK)]
    return torch.cat(outs).numpy()


def torch_eval(p: float, n: int = N_INPUTS) -> float:
    """torch's nn.Dropout in eval mode: the identity, so the output is n."""
    model = nn.Sequential(nn.Dropout(p), network(n), nn.ReLU()).eval()
    with torch.no_grad():
        return float(model(torch.ones(1, n, dtype=torch.float64))[0, 0])


def zoom(values: np.ndarray, center: float, half_width: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Counts of outputs in unit-wide bins around `center`: (bin left edges, counts), for the close-up."""
    lo = math.floor(center) - half_width
    edges = np.arange(lo, lo + 2 * half_width + 2, dtype=float)
    # Outputs are exact whole numbers at p = 0.5 (and in vanilla): centre the bins on them.
    counts, _ = np.histogram(values, bins=edges - 0.5)
    return edges[:-1], counts
