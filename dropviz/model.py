"""The MLP of the lab, several copies stacked into one set of tensors so they train as one.

Model m is  Linear(1,H) → ReLU → Dropout(p_m) → [Linear(H,H) → ReLU → Dropout(p_m)] × (depth-1)
→ Linear(H,1): the source's network for depth 3 and H = 200. Instead of M nn.Sequential models,
every weight has a leading model axis and each layer is one batched matmul (torch.bmm) for
all M models, so the same code trains the p=0 / p pair and a sweep of many p values.

All weights and biases live in ONE flat parameter, viewed per layer. That lets one optimizer
step update every layer of every model in one kernel, and lets the hand-written backward
(`forward_backward`) write gradients straight into one flat grad buffer. Each layer, the output
layer too, is stored as one block (M, rows, fan_out) = [W; b; 0…]: its weight rows, its bias as
one more row, so that with a column of ones appended to the layer's input ([h, 1] @ [W; b] =
h @ W + b) the layer is one matmul and so are its weight and bias gradients, and zero rows up to
a multiple of 64 bytes per model. The padding makes every model's slice start 64-byte aligned:
MKL picks its kernels by alignment, so without it model 1 of a p = 0 pair is computed in another
order than model 0 and drifts from it in the last bit. `flat` therefore holds a little more than
n_models × n_params numbers; the padding is zero, gets zero gradients and stays zero.

Speed (see `python -m dropviz bench`): at the source's size (10 points, width 200) a training
step is 6 batched 200-wide matmuls (~15 µs each for a pair on 2 threads, near MKL's speed for
10-row products), 4 tiny ones and ~15 small elementwise kernels, and each small kernel costs a
few µs whatever its size, so the fast path counts kernels: no autograd graph, no Python-side
optimizer machinery (`FlatSGD`), buffers reused across steps, the bias inside every matmul,
ReLU and dropout applied through one stored mask, 16 random bits per unit for the dropout masks
instead of a float, and one draw per generator however many models share it.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .dropout import VARIANT_FUNCTIONS, torch_keep_mask

MASK_BITS = 16  # random bits per unit: p is applied in steps of 1/65536 (drop rate off by < 2e-5)


class StackedMLP(nn.Module):
    """M independent MLPs in stacked tensors; layer l's weight has shape (M, fan_in, fan_out)."""

    def __init__(self, ps: list[float], width: int, depth: int, seeds: list[int],
                 variant: str = "inverted", device: torch.device | str = "cpu"):
        super().__init__()
        assert len(ps) == len(seeds), "one seed per model"
        self.sizes = [1] + [width] * depth + [1]
        per_model = [_init_linears(self.sizes, seed) for seed in seeds]  # [[W, b, W, b, ...], ...]
        stacked = [torch.stack(tensors) for tensors in zip(*per_model)]  # (M, in, out) / (M, 1, out)
        # Rows of each layer's block [W; b; 0…], see the module doc: 2, 202, 202, 208 for the source's net.
        self.block_rows = [_padded_rows(fan_in + 1, fan_out) for fan_in, fan_out in zip(self.sizes, self.sizes[1:])]
        self.n_params = sum(t[0].numel() for t in stacked)  # per model, no padding: 81,001 for the source's net
        self.flat = nn.Parameter(_flat_layout(stacked, self.block_rows).to(device))
        self.flat.grad = torch.zeros_like(self.flat)
        self.register_buffer("p", torch.tensor(ps, dtype=torch.float32, device=device).view(-1, 1, 1))
        self._m = len(ps)  # n_models, as a plain int: buffers and parameters cost a lookup each access
        self.variant = variant
        self.last_mult: torch.Tensor | None = None  # dropout multipliers of the last training step
        self._views: _Views | None = None  # see _layer_views
        self._work: _Workspace | None = None  # see _workspace
        self._x_aug: tuple | None = None  # (x, its version, [x, 1]), see _input_with_ones
        self._sink: tuple | None = None  # (buffer, its layer views, their transposes), see _sink_views
        # Mask sampling, per model: keep a unit when its 16 random bits, read as an int16 v, have
        # v >= threshold, which happens with probability (32768 - threshold) / 65536 ≈ 1 - p.
        p32 = [float(p) for p in self.p.flatten()]  # the float32 p, as nn.Dropout in to_sequential sees it
        self._dropping = [m for m, p in enumerate(p32) if p > 0]
        self.register_buffer("mask_threshold", torch.tensor(
            [min(math.ceil(p * 2**MASK_BITS) - 2**15, 2**15 - 1) for p in p32], dtype=torch.int16, device=device
        ).view(-1, 1), persistent=False)
        # The value of a kept unit: 1/(1 - p) for inverted dropout, as float32 1 / float32 (1 - p).
        keep = torch.tensor([1 - p for p in p32], dtype=torch.float32, device=device)
        self.register_buffer("keep_scale", (1 / keep if variant == "inverted" else torch.ones_like(keep)).view(-1, 1),
                             persistent=False)
        self._rescale = variant == "inverted" and bool(self._dropping)
        self._bits: _MaskBits | None = None  # see sample_multipliers

    @property
    def n_models(self) -> int:
        return self._m

    @property
    def depth(self) -> int:
        return len(self.sizes) - 2

    def params(self, of: torch.Tensor | None = None) -> list[torch.Tensor]:
        """[W0, b0, W1, b1, …] as views of the flat parameter (or of another flat buffer `of`).

        W_l is (M, fan_in, fan_out) and b_l is (M, 1, fan_out); both are strided views into
        layer l's block, not contiguous tensors (use .reshape, not .view, to flatten them).
        """
        out = []
        for block, fan_in in zip(self._blocks(of), self.sizes):
            out += [block[:, :fan_in], block[:, fan_in:fan_in + 1]]
        return out

    def _blocks(self, of: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Each layer's block [W; b; 0…], (M, rows, fan_out), as views of `flat` (or of `of`)."""
        of = self.flat if of is None else of
        shapes = [(self._m, rows, fan_out) for rows, fan_out in zip(self.block_rows, self.sizes[1:])]
        return [chunk.view(shape) for chunk, shape in zip(torch.split(of, [math.prod(s) for s in shapes]), shapes)]

    def sample_multipliers(self, n: int, generators: list[torch.Generator | None] | None = None) -> torch.Tensor:
        """Fresh dropout multipliers for every hidden layer of every model, (M, depth, n, H).

        0 drops a unit; a kept unit (probability 1 - p) is multiplied by 1/(1 - p) with inverted
        dropout, by 1 with vanilla. Model m draws from generators[m], so its masks do not depend
        on which other models train beside it; p = 0 models draw nothing. Models given the same
        generator object share one draw from it, each comparing those bits with its own p: the
        masks they would get from separate generators seeded alike, at the cost of one draw
        (train.py passes one generator per seed, so a sweep draws once per seed, not per model).

        The bits of the next few calls (up to 16) are drawn at once, as one draw of the same
        random sequence, so each call costs a view instead of four kernels. The tensor returned
        is that view: it holds its masks until that many calls later (copy it to keep it longer).
        A call with other generators or another n starts afresh; the steps drawn for the old
        ones are then skipped.
        """
        if self.variant == "torch":  # the masks F.dropout itself draws, already scaled
            shape, device = (self._m, self.depth, n, self.sizes[1]), self.p.device
            mult = torch.ones(shape, device=device)
            for m in self._dropping:
                p = float(self.p[m])
                mult[m] = torch_keep_mask(shape[1:], p, device).div_(1 - p)
            return mult
        key = (n, tuple(map(id, generators)) if generators else None)
        bits = self._bits if self._bits is not None and self._bits.key == key else self._new_bits(key, generators)
        if bits.next == bits.steps:
            bits.draw_ahead(self._rescale)
        bits.next += 1
        return bits.mult[bits.next - 1]

    def _new_bits(self, key: tuple, generators: list[torch.Generator | None] | None) -> "_MaskBits":
        self._bits = _MaskBits(key, self._m, (self.depth, key[0], self.sizes[1]), self._dropping, generators,
                               self.p.device, self.mask_threshold, self.keep_scale)
        return self._bits

    def _apply(self, fn, *args, **kwargs):
        """After .to(device) and the like: forget the buffers and views made for the old tensors."""
        self._bits = self._work = self._views = self._x_aug = self._sink = None
        return super()._apply(fn, *args, **kwargs)

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
    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, mult: torch.Tensor,
                         into: torch.Tensor | None = None, beta: float = 0.0,
                         update: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
        """One training forward and the backward of the MSE loss, written out; returns loss per model (M,).

        Gives what `forward` + `loss.backward()` give (a test checks it) with far fewer kernel
        launches: gradients go straight into views of `flat.grad` and nothing is recorded for
        autograd. At this size launches, not FLOPs, set the speed. Call `optimizer.step()` next.

        `into` (a buffer shaped like `flat`) receives the gradient instead of `flat.grad`, as
        beta·into + gradient: each layer's weight-gradient matmul adds to it in place. That is
        how FlatSGD's momentum buffer takes the gradient with no pass over a gradient buffer
        (FlatSGD.momentum_sink); flat.grad is then left as it was.

        `update(weights, gradient)` (FlatSGD.update_layer) is called with each layer's block of
        `flat` and of the gradient's buffer, last layer first, as soon as the backward has made
        that gradient and no longer reads those weights: the optimizer's update then finds both
        still in cache, instead of passing over the whole model after the backward.
        """
        M, N, D = self._m, x.shape[-2], len(self.sizes) - 2
        v, w = self._layer_views(), self._workspace(N, x.dtype)
        self.last_mult = mult
        grads, grads_T = (v.grads, v.grads_T) if into is None else self._sink_views(into)
        masks, blocks, hs, hs_T, keep = mult.unbind(1), v.blocks, w.hs, w.hs_T, w.keep
        # Forward. hs[l] is layer l's input as [h, 1, 0…], (M, N, rows of block l), so one bmm
        # with the block [W; b; 0…] is h @ W + b. keep[l] = mult where z > 0, else 0: both ReLU's
        # and dropout's factor, so the hidden layer is z * keep[l] and its backward is g * keep[l].
        hs[0], hs_T[0] = self._input_with_ones(x)
        z = w.z
        for l in range(D):
            torch.bmm(hs[l], blocks[l], out=z)
            torch.ops.aten.threshold_backward.grad_input(masks[l], z, 0, grad_input=keep[l])
            torch.mul(z, keep[l], out=w.h_body[l + 1])
        err = torch.bmm(hs[D], blocks[D], out=w.err).sub_(y)  # prediction - target, (M, N, 1)
        losses = torch.baddbmm(w.err_1, w.err_T, err, beta=0, alpha=1 / N).view(M)  # mean of err²
        g = err.mul_(w.two_over_n)  # now g = d loss / d prediction
        # Backward, last layer first: each block [W; b; 0…] gets [h, 1, 0…]^T @ g in one bmm (the
        # padding rows get 0); g then goes back through W^T and the mask of the layer below. From
        # the output layer that is an outer product, (M, N, 1) * (M, 1, H): ATen's multiply.
        # Each layer's g through W^T comes before its weight gradient: the forward has just read
        # those weights, so they are still in cache; `update` then reads them a third time.
        update = update or _no_update
        grads_T[D].baddbmm_(w.err_T, hs[D], beta=beta)  # as (M, 1, rows): MKL's faster path for one output column
        g = torch.mul(g, v.weights_T[D], out=w.g[0]).mul_(keep[D - 1])
        update(blocks[D], grads[D])
        for l in range(D - 1, 0, -1):
            g_below = torch.bmm(g, v.weights_T[l], out=w.g[(D - l) % 2])  # never its own input
            grads[l].baddbmm_(hs_T[l], g, beta=beta)  # beta = 0: the old contents are ignored, NaN too
            update(blocks[l], grads[l])
            g = g_below.mul_(keep[l - 1])
        grads[0].baddbmm_(hs_T[0], g, beta=beta)
        update(blocks[0], grads[0])
        return losses

    def _sink_views(self, into: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer views of a flat buffer `into`, and their transposes, cached for the same buffer."""
        cached = self._sink
        if cached is None or cached[0] is not into:
            cached = self._sink = (into, *self._blocks_and_transposes(into))
        return cached[1], cached[2]

    def _blocks_and_transposes(self, of: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """`_blocks(of)`, and each block's transpose (M, fan_out, rows), for the weight-gradient bmms."""
        blocks = self._blocks(of)
        return blocks, [b.mT for b in blocks]

    def _layer_views(self) -> "_Views":
        """Views of `flat` and `flat.grad` per layer, cached; rebuilt when either is replaced
        (optimizers update both in place, so in a training loop they are built once)."""
        flat = self._parameters["flat"]  # not self.flat: nn.Module's attribute lookup costs a µs
        if flat.grad is None:
            flat.grad = torch.zeros_like(flat)
        key = (flat.data_ptr(), flat.grad.data_ptr())
        if self._views is None or self._views.key != key:
            self._views = _Views(self, key)
        return self._views

    def _workspace(self, n: int, dtype: torch.dtype) -> "_Workspace":
        work = self._work
        if work is None or work.n != n or work.dtype != dtype:
            work = self._work = _Workspace(self._m, n, self.sizes[1], self.block_rows, dtype, self.p.device)
        return work

    def _input_with_ones(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[x, 1, 0…], (M, N, rows of the first block), and its transpose, for the first layer's block.

        Reused while x is the same tensor, unchanged (its version counter counts in-place writes).
        """
        cached = self._x_aug
        if cached is not None and cached[0] is x and cached[1] == x._version:
            return cached[2]
        x_aug = _with_ones(_aligned((self._m, x.shape[-2], self.block_rows[0]), x.dtype, x.device), 1)
        x_aug[..., :1] = x
        self._x_aug = x, x._version, (x_aug, x_aug.mT)
        return self._x_aug[2]

    def weight_norms(self) -> torch.Tensor:
        """Frobenius norm of each layer's weight per model: (layers, M)."""
        return torch.stack([w.detach().flatten(1).norm(dim=1) for w in self.params()[::2]])


MASK_AHEAD_FLOATS = 1 << 20  # multipliers drawn ahead at most (4 MB): 16 steps of the pair, 10 of a sweep


class _MaskBits:
    """The random bits and multipliers of sample_multipliers for n points and one set of generators.

    One int64 row of bits per draw: per dropping model, or per generator object that several
    dropping models share. Each row holds `steps` steps' bits, drawn in one call (the same
    sequence as one call per step). `mult[k]` is step k's multipliers, a view of `store`
    (M, steps, units), which starts as ones: p = 0 models keep every unit and are never written.
    Each row is compared, as (steps, units) int16, with the thresholds of the models that read it
    in one broadcast `ge`, straight into those models' part of `store` when they are evenly
    spaced (a sweep's p values × seeds are), else model by model: no gathered copy of the bits.
    """

    def __init__(self, key: tuple, m: int, unit_shape: tuple[int, ...], dropping: list[int],
                 generators: list[torch.Generator | None] | None, device: torch.device,
                 threshold: torch.Tensor, scale: torch.Tensor):
        self.key = key
        units = math.prod(unit_shape)
        readers: dict = {}  # generator (or the model itself, without one) -> (generator, models drawing from it)
        for i in dropping:
            generator = generators[i] if generators else None
            readers.setdefault(("own", i) if generator is None else id(generator), (generator, []))[1].append(i)
        self.steps = max(1, min(16, MASK_AHEAD_FLOATS // (m * units)))
        words = -(-units // 4)  # int64 words per step: 4 units of 16 bits each
        bits = torch.empty(len(readers), self.steps * words, dtype=torch.int64, device=device)
        rows = bits.view(torch.int16).view(len(bits), self.steps, 4 * words)[:, :, :units]
        self.store = torch.ones(m, self.steps, units, device=device)
        self.mult = [self.store[:, k].view(m, *unit_shape) for k in range(self.steps)]
        threshold, scale = threshold.view(m, 1, 1), scale.view(m, 1, 1)
        self.draws = [(bits[r], generator) for r, (generator, _) in enumerate(readers.values())]
        self.compares = []  # (bits as (steps, units), thresholds, keep scales, where the multipliers go)
        for row, (_, models) in zip(rows, readers.values()):
            for part in _evenly_spaced_runs(models):
                self.compares.append((row, threshold[part], scale[part], self.store[part]))
        self.next = self.steps  # the next step's index in mult; `steps`: draw first

    def draw_ahead(self, rescale: bool) -> None:
        """The next `steps` steps' multipliers: 1 kept, 0 dropped, times the keep scale if `rescale`."""
        for row, generator in self.draws:  # 16 random bits per unit, 4 units per int64: a third of torch.rand's cost
            row.random_(-2**63, None, generator=generator)
        for row, threshold, scale, out in self.compares:
            torch.ge(row, threshold, out=out)
            if rescale:
                out.mul_(scale)
        self.next = 0


def _evenly_spaced_runs(models: list[int]) -> list[slice]:
    """`models` (increasing) as slices: one if evenly spaced, else one per model."""
    step = models[1] - models[0] if len(models) > 1 else 1
    if models == list(range(models[0], models[-1] + 1, step)):
        return [slice(models[0], models[-1] + 1, step)]
    return [slice(i, i + 1) for i in models]


def _no_update(weights: torch.Tensor, gradient: torch.Tensor) -> None:
    """forward_backward's `update` when none is given: the caller steps the optimizer afterwards."""


class _Views:
    """The views forward_backward needs of `flat` and `flat.grad`, made once (each view costs µs)."""

    def __init__(self, model: StackedMLP, key: tuple):
        self.key = key
        self.blocks = model._blocks(model.flat.detach())  # [W; b; 0…] per layer
        self.weights_T = [b[:, :fan_in].mT for b, fan_in in zip(self.blocks, model.sizes)]  # W^T, for the backward
        self.grads, self.grads_T = model._blocks_and_transposes(model.flat.grad)


class _Workspace:
    """Buffers of forward_backward for n points, allocated once and reused every step, with their views.

    hs[l] (l ≥ 1): hidden layer l-1's output as [h, 1, 0…], (M, n, rows of block l); keep[l]:
    its ReLU-and-dropout mask (M, n, H); z: a pre-activation; g: two gradient buffers (M, n, H);
    err: prediction - target, (M, n, 1), a view of err_T (M, 1, n) for the loss's bmm. Every
    model's slice of every buffer starts 64-byte aligned, as in `flat`.
    """

    def __init__(self, m: int, n: int, h: int, block_rows: list[int], dtype: torch.dtype, device: torch.device):
        self.n, self.dtype = n, dtype
        new = lambda *shape: _aligned(shape, dtype, device)
        # [h, 1, 0…] @ [W; b; 0…] = h @ W + b, with as many columns as the next block has rows.
        self.hs = [None] + [_with_ones(new(m, n, rows), h) for rows in block_rows[1:]]
        self.hs_T = [None] + [t.mT for t in self.hs[1:]]  # [0]: the input's, set every step
        self.h_body = [None] + [t[..., :h] for t in self.hs[1:]]
        self.keep = [new(m, n, h) for _ in block_rows[1:]]
        self.z, self.g = new(m, n, h), [new(m, n, h), new(m, n, h)]
        self.err_T = new(m, 1, n)
        self.err, self.err_1 = self.err_T.view(m, n, 1), self.err_T[..., :1]
        self.two_over_n = torch.tensor(2 / n, dtype=dtype, device=device)  # d mean(err²) / d err, per err


ALIGN = 16  # floats in 64 bytes


def _padded(n: int) -> int:
    """n rounded up to a multiple of ALIGN."""
    return -(-n // ALIGN) * ALIGN


def _padded_rows(rows: int, width: int) -> int:
    """The fewest rows >= `rows` whose rows × width floats are a multiple of ALIGN (64 bytes)."""
    while (rows * width) % ALIGN:
        rows += 1
    return rows


def _with_ones(t: torch.Tensor, column: int) -> torch.Tensor:
    """t (…, rows) set to zeros with ones in `column`: [h, 1, 0…] once h is written before it."""
    t.zero_()
    t[..., column] = 1
    return t


def _aligned(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An empty (M, …) float32 buffer whose every model's slice starts on a 64-byte boundary (see
    the module doc); contiguous when a slice's size is already a multiple of 64 bytes."""
    per_model = math.prod(shape[1:])
    return torch.empty(shape[0], _padded(per_model), dtype=dtype, device=device)[:, :per_model].view(shape)


class FlatSGD:
    """torch.optim.SGD(lr, momentum, weight_decay) for one parameter, without torch.optim's overhead.

    The same update through the same kernel that `torch.optim.SGD(..., fused=True)` runs
    (torch._fused_sgd_), so results match it bit for bit (a test checks it). What it leaves out
    is torch.optim's Python around the kernel: ~25 µs a step of hooks, profiler scopes and
    checks, and the ~1 s import of torch._dynamo that constructing the first torch.optim
    optimizer in a process triggers. `param_groups[0]` is read at every step, so changing its
    "lr" works as with torch.optim.

    The kernel rounds the last (numel mod 16) elements differently from the rest (a fused
    multiply-add in its scalar tail); StackedMLP.flat is padded to a multiple of 16 per model,
    so there it has no tail and treats every model alike.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        (self.param,) = list(params)  # one flat parameter, e.g. StackedMLP.flat
        self.param_groups = [{"params": [self.param], "lr": lr, "momentum": momentum, "dampening": 0.0,
                              "weight_decay": weight_decay, "nesterov": False, "maximize": False}]
        self.momentum_buffer: torch.Tensor | None = None

    def step(self) -> None:
        grad = self.param.grad
        if grad is None:
            return
        group = self.param_groups[0]
        first = self.momentum_buffer is None
        if first and group["momentum"]:
            self.momentum_buffer = torch.empty_like(grad)
        buffers = [self.momentum_buffer] if group["momentum"] else []
        if not hasattr(torch, "_fused_sgd_"):  # a torch without the kernel: torch.optim.SGD's own loop
            return self._step_unfused(grad, group, first)
        torch._fused_sgd_([self.param.detach()], [grad], buffers, weight_decay=group["weight_decay"],
                          momentum=group["momentum"], lr=group["lr"], dampening=0.0, nesterov=False,
                          maximize=False, is_first_step=first)

    def momentum_sink(self) -> tuple[torch.Tensor, float] | None:
        """(buffer, beta) for `StackedMLP.forward_backward(..., into=buffer, beta=beta)`, with
        `update=self.update_layer` or followed by `step_from_sink()`: the same update as
        forward_backward + step(), one pass less.

        The buffer is the momentum buffer and beta the momentum, so the weight-gradient matmuls
        leave momentum·buffer + gradient in it: torch.optim.SGD's buffer update, done where the
        gradient is made instead of in a pass over a gradient buffer (in a 16-model sweep that
        pass reads and writes 5 MB). The first step's beta is 0: the buffer starts as the
        gradient, as in torch. The result equals step()'s to rounding, not bit for bit (the
        matmul adds in its own order). None without momentum, or with nesterov or dampening
        (the gradient itself is needed then); the param's .grad is not written.
        """
        group = self.param_groups[0]
        if not group["momentum"] or group["nesterov"] or group["dampening"] or group["maximize"]:
            return None
        if self.momentum_buffer is None:
            self.momentum_buffer = torch.empty_like(self.param, memory_format=torch.contiguous_format).detach()
            return self.momentum_buffer, 0.0
        return self.momentum_buffer, float(group["momentum"])

    def step_from_sink(self) -> None:
        """The update after forward_backward filled `momentum_sink()`'s buffer: `update_layer` for
        the whole parameter at once."""
        self.update_layer(self.param.detach(), self.momentum_buffer)

    def update_layer(self, param: torch.Tensor, buf: torch.Tensor) -> None:
        """The update of a part of the parameter (a layer's block, for forward_backward's `update`)
        from the same part of `momentum_sink()`'s buffer, once it holds momentum·buffer + gradient:
        weight decay joins the buffer (+ decay·param, as in torch), then param -= lr·buffer.
        Elementwise, so a layer at a time gives the same numbers as the whole parameter at once."""
        group = self.param_groups[0]
        if group["weight_decay"]:
            buf.add_(param, alpha=group["weight_decay"])
        param.add_(buf, alpha=-group["lr"])

    def _step_unfused(self, grad: torch.Tensor, group: dict, first: bool) -> None:
        param = self.param.detach()
        if group["weight_decay"]:
            grad = grad.add(param, alpha=group["weight_decay"])
        if group["momentum"]:
            buf = self.momentum_buffer
            grad = buf.copy_(grad) if first else buf.mul_(group["momentum"]).add_(grad)
        param.add_(grad, alpha=-group["lr"])

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Not needed with `forward_backward` (it overwrites the gradient); here for loops that use autograd."""
        if set_to_none:
            self.param.grad = None
        elif self.param.grad is not None:
            self.param.grad.zero_()


def _flat_layout(stacked: list[torch.Tensor], block_rows: list[int]) -> torch.Tensor:
    """[W0, b0, W1, b1, …] (M, in, out) / (M, 1, out) laid out as `flat`: one [W; b; 0…] block per layer."""
    blocks = [torch.cat([w, b, w.new_zeros(w.shape[0], rows - w.shape[1] - 1, w.shape[2])], dim=1)
              for w, b, rows in zip(stacked[::2], stacked[1::2], block_rows)]
    return torch.cat([t.flatten() for t in blocks])


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
