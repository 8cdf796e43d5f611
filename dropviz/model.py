"""The MLP of the lab, several copies stacked into one set of tensors so they train as one.

Model m is  Linear(1,H) → ReLU → Dropout(p_m) → [Linear(H,H) → ReLU → Dropout(p_m)] × (depth-1)
→ Linear(H,1): the source's network for depth 3 and H = 200. Instead of M nn.Sequential models,
every weight has a leading model axis and each layer is one batched matmul (torch.baddbmm) for
all M models, so the same code trains the p=0 / p pair and a sweep of many p values.

All weights and biases live in ONE flat parameter, viewed per layer. That lets one optimizer
step update every layer of every model in a handful of kernels, and lets the hand-written
backward (`forward_backward`) write gradients straight into one flat grad buffer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .dropout import VARIANT_FUNCTIONS, torch_keep_mask


class StackedMLP(nn.Module):
    """M independent MLPs in stacked tensors; layer l's weight has shape (M, fan_in, fan_out)."""

    def __init__(self, ps: list[float], width: int, depth: int, seeds: list[int],
                 variant: str = "inverted", device: torch.device | str = "cpu"):
        super().__init__()
        assert len(ps) == len(seeds), "one seed per model"
        self.sizes = [1] + [width] * depth + [1]
        per_model = [_init_linears(self.sizes, seed) for seed in seeds]  # [[W, b, W, b, ...], ...]
        stacked = [torch.stack(tensors) for tensors in zip(*per_model)]  # (M, in, out) / (M, 1, out)
        self.shapes = [t.shape for t in stacked]
        self.flat = nn.Parameter(torch.cat([t.flatten() for t in stacked]).to(device))
        self.flat.grad = torch.zeros_like(self.flat)
        self.register_buffer("p", torch.tensor(ps, dtype=torch.float32, device=device).view(-1, 1, 1))
        self.variant = variant
        self.last_mult: torch.Tensor | None = None  # dropout multipliers of the last training step
        self._views: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    @property
    def n_models(self) -> int:
        return self.p.shape[0]

    @property
    def depth(self) -> int:
        return len(self.sizes) - 2

    def params(self, of: torch.Tensor | None = None) -> list[torch.Tensor]:
        """[W0, b0, W1, b1, …] as views of the flat parameter (or of another flat buffer `of`)."""
        of = self.flat if of is None else of
        chunks = torch.split(of, [s.numel() for s in self.shapes])
        return [chunk.view(shape) for chunk, shape in zip(chunks, self.shapes)]

    def sample_multipliers(self, n: int, generators: list[torch.Generator | None] | None = None) -> torch.Tensor:
        """Fresh dropout multipliers for every hidden layer of every model, (M, depth, n, H).

        0 drops a unit; a kept unit (probability 1 - p) is multiplied by 1/(1 - p) with inverted
        dropout, by 1 with vanilla. Model m draws from generators[m], so its masks do not depend
        on which other models train beside it; p = 0 models draw nothing.
        """
        shape = (self.n_models, self.depth, n, self.sizes[1])
        mult = torch.ones(shape, device=self.p.device)
        for m, p in enumerate(self.p.flatten().tolist()):
            if p == 0:
                continue
            if self.variant == "torch":  # the masks F.dropout itself draws, already scaled
                mult[m] = torch_keep_mask(shape[1:], p, self.p.device).div_(1 - p)
                continue
            gen = generators[m] if generators else None
            # In place on model m's slice: uniform u → (u >= p) as 0./1. → times the scale.
            torch.rand(shape[1:], generator=gen, device=self.p.device, out=mult[m]).ge_(p)
            if self.variant == "inverted":
                mult[m].div_(1 - p)
        return mult

    def forward(self, x: torch.Tensor, mult: torch.Tensor | None = None,
                generators: list[torch.Generator | None] | None = None) -> torch.Tensor:
        """x: (N, 1) shared by all models, or (M, N, 1). Returns (M, N, 1). Autograd-friendly.

        In training mode the hidden layers use the masks in `mult` (see `sample_multipliers`)
        or freshly sampled ones; in eval mode dropout is off (vanilla scales by 1 - p).
        """
        p = self.params()
        h = x.expand(self.n_models, *x.shape[-2:])
        if self.training:
            mult = self.sample_multipliers(h.shape[1], generators) if mult is None else mult
            self.last_mult = mult
        dropout = VARIANT_FUNCTIONS[self.variant]
        for l in range(self.depth):
            h = torch.relu(torch.baddbmm(p[2 * l + 1], h, p[2 * l]))
            h = dropout(h, self.p, self.training, mask=(mult[:, l] > 0).float() if self.training else None)
        return torch.baddbmm(p[-1], h, p[-2])

    @torch.no_grad()
    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, mult: torch.Tensor) -> torch.Tensor:
        """One training forward and the backward of the MSE loss, written out; returns loss per model (M,).

        Gives what `forward` + `loss.backward()` give (a test checks it) with far fewer kernel
        launches: gradients go straight into views of `flat.grad` and nothing is recorded for
        autograd. At this size launches, not FLOPs, set the speed. Call `optimizer.step()` next.
        """
        if self._views is None:  # views stay valid: the optimizer updates `flat` in place
            self._views = self.params(self.flat.detach()), self.params(self.flat.grad)
        params, grads = self._views
        self.last_mult = mult
        h = x.expand(self.n_models, *x.shape[-2:])
        inputs = [h]
        for l in range(self.depth):
            h = torch.baddbmm(params[2 * l + 1], h, params[2 * l]).relu_().mul_(mult[:, l])
            inputs.append(h)
        err = torch.baddbmm(params[-1], h, params[-2]).sub_(y)  # (M, N, 1)
        losses = err.square().mean(dim=(1, 2))
        grad_out = err.mul_(2 / err.shape[1])  # d mean(err²) / d prediction
        for l in range(self.depth, -1, -1):
            torch.bmm(inputs[l].transpose(1, 2), grad_out, out=grads[2 * l])
            torch.sum(grad_out, dim=1, keepdim=True, out=grads[2 * l + 1])
            if l > 0:  # back through layer l's input h = relu(z) * mult: zero where h is zero
                grad_h = torch.bmm(grad_out, params[2 * l].transpose(1, 2)).mul_(mult[:, l - 1])
                grad_out = torch.ops.aten.threshold_backward(grad_h, inputs[l], 0)
        return losses

    def weight_norms(self) -> torch.Tensor:
        """Frobenius norm of each layer's weight per model: (layers, M)."""
        return torch.stack([w.detach().flatten(1).norm(dim=1) for w in self.params()[::2]])


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
    params = model.params()
    layers: list[nn.Module] = []
    for l in range(model.depth + 1):
        w, b = params[2 * l], params[2 * l + 1]
        linear = nn.Linear(w.shape[1], w.shape[2])
        with torch.no_grad():
            linear.weight.copy_(w[m].T)  # nn.Linear stores (out, in)
            linear.bias.copy_(b[m, 0])
        layers.append(linear)
        if l < model.depth:
            layers += [nn.ReLU(), nn.Dropout(float(model.p[m]))]
    return nn.Sequential(*layers).to(model.p.device)
