"""The fused training step: model.py's training iteration, several times faster, tested equal to it.

`FusedStep(model, ...)` trains a StackedMLP as `model.ReferenceStep` does (same masks, same
losses, same weights to float rounding: tests/test_backends.py), without autograd or
torch.optim's per-step Python. At the source's size (10 points, width 200) a step is 6 batched
200-wide matmuls (~15 µs each for a pair on 2 threads), 4 tiny ones and ~15 small elementwise
kernels, and each small kernel costs a few µs whatever its size, so this module counts kernels:

- Buffer layout. All weights and biases live in ONE flat buffer. Each layer is one block
  (M, rows, fan_out) = [W; b; 0…]: its weight rows, its bias as one more row, then zero rows up
  to a multiple of 64 bytes per model. With a column of ones appended to the layer's input,
  [h, 1] @ [W; b] = h @ W + b: a layer is one matmul, and so are its weight and bias gradients.
  The padding makes every model's slice start 64-byte aligned: MKL picks its kernels by
  alignment, so without it model 1 of a p = 0 pair is computed in another order than model 0
  and drifts from it in the last bit. The padding is zero, gets zero gradients and stays zero.
  The model's own parameters become views of this buffer (`_adopt`), so whatever reads the
  model (snapshots, the eval forward) sees the weights this step trains.
- Hand-written backward (`forward_backward`): ReLU and dropout applied through one stored
  factor, gradients written straight into views of the gradient buffer.
- FlatSGD: torch.optim.SGD's fused kernel on the one flat buffer, and a momentum "sink": the
  weight-gradient matmuls add into the momentum buffer directly, and each layer is updated as
  soon as its gradient is complete (while its weights are still in cache).
- Mask bits (`_MaskBits`): the masks of model.py (dropout.random_bits compared with each p),
  16 steps drawn in one call per generator, and one draw per generator however many models
  share it.
- Classification: any number of inputs (the first block has in_features + 1 rows before its
  padding), the binary cross-entropy of a logit output (`_bce_loss_and_gradient`), an L1
  penalty on the weights and mini-batches (model.select_batch, as the reference).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .dropout import keep_threshold
from .model import LOSSES, StackedMLP, select_batch

FUSED_OPTIMIZERS = ("sgd", "adam")
FUSED_VARIANTS = ("inverted", "vanilla", "torch")
ALIGN = 16  # floats in 64 bytes
# Mask values drawn ahead at most: 16 steps of the pair, 5 of a 16-model sweep. Masks and factors
# are two stores of this size (2 MB each), together what one store of 16-bit masks' factors took.
MASK_AHEAD_FLOATS = 1 << 19


def supports(optimizer: str, variant: str) -> bool:
    """Whether FusedStep trains these settings (train.py falls back to the reference otherwise)."""
    return optimizer in FUSED_OPTIMIZERS and variant in FUSED_VARIANTS


class FusedStep:
    """One training iteration of every model of `model`, fused: same interface as model.ReferenceStep.

    `loss` ("mse" or "bce") and `l1` as model.ReferenceStep's. `into_momentum` (SGD only): the
    gradient goes straight into the momentum buffer and each layer is updated inside the
    backward (FlatSGD.momentum_sink); without it, the gradient goes to `flat.grad` and
    FlatSGD.step() follows, as torch.optim.SGD(fused=True) would do it.
    """

    name = "fused"

    def __init__(self, model: StackedMLP, optimizer: str, lr: float, weight_decay: float = 0.0,
                 l1: float = 0.0, loss: str = "mse", into_momentum: bool = True):
        if not supports(optimizer, model.variant):
            raise ValueError(f"FusedStep does not train optimizer={optimizer!r}, variant={model.variant!r}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}: one of {', '.join(LOSSES)}")
        self.model, self.l1, self.bce = model, l1, loss == "bce"
        self.layout = _Layout(model.sizes, model.n_models)
        self.flat = self.layout.adopt(model)
        self.flat.grad = torch.zeros_like(self.flat)
        if optimizer == "sgd":
            self.optimizer = FlatSGD([self.flat], lr=lr, momentum=0.9, weight_decay=weight_decay)
        else:  # fused=True: one kernel for the whole buffer, as FlatSGD for SGD
            self.optimizer = torch.optim.Adam([self.flat], lr=lr, weight_decay=weight_decay, fused=True)
        self.into_momentum = into_momentum and isinstance(self.optimizer, FlatSGD)
        self.masks = _MaskSource(model)
        self._views: _Views | None = None
        self._work: _Workspace | None = None
        self._x_aug: tuple | None = None  # (x, its version, ([x, 1, 0…], its transpose))
        self._sink: tuple | None = None  # (momentum buffer, its blocks, their transposes)
        self._m, self._depth = model.n_models, model.depth  # plain ints: a module's attributes cost a lookup each

    def step(self, x: torch.Tensor, y: torch.Tensor, generators: list[torch.Generator],
             batch: torch.Tensor | None = None) -> torch.Tensor:
        """x: (M, N, in) or (N, in); y: (M, N, 1) or (N, 1); generators: one per model; batch:
        (M, B) point indices or None, as model.ReferenceStep.step. Returns each model's loss (M,)."""
        x, y = select_batch(x, y, batch)
        masks, mult = self.masks.next(x.shape[-2], generators)
        # As `model.last_masks = masks`, without nn.Module.__setattr__'s checks (a µs a step).
        object.__setattr__(self.model, "last_masks", masks)
        sink = self.optimizer.momentum_sink() if self.into_momentum else None
        if sink is None:
            losses = self.forward_backward(x, y, mult)
            self.optimizer.step()
            return losses
        buffer, beta = sink
        return self.forward_backward(x, y, mult, into=buffer, beta=beta, update=self.optimizer.update_layer)

    @torch.no_grad()
    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, mult: torch.Tensor,
                         into: torch.Tensor | None = None, beta: float = 0.0,
                         update: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
        """One training forward and the backward of the loss, written out; returns loss per model (M,).

        `mult` (M, depth, N, H): each hidden unit's dropout factor, 0 or its keep scale. The
        gradient goes to `flat.grad`, or, with `into` (a buffer shaped like `flat`), into it as
        beta·into + gradient. `update(weights, gradient)` is called with each layer's block of
        `flat` and of the gradient, last layer first, as soon as that gradient is complete.
        """
        M, N, D = self._m, x.shape[-2], self._depth
        v, w = self._layer_views(), self._workspace(N, x.dtype)
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
        out = torch.bmm(hs[D], blocks[D], out=w.err)  # the prediction or logit, (M, N, 1)
        if self.bce:
            g, losses = out, _bce_loss_and_gradient(out, y, w)  # out now holds d loss / d logit
        else:
            err = out.sub_(y)  # prediction - target
            losses = torch.baddbmm(w.err_1, w.err_T, err, beta=0, alpha=1 / N).view(M)  # mean of err²
            g = err.mul_(w.two_over_n)  # now g = d loss / d prediction
        # Backward, last layer first: each block [W; b; 0…] gets [h, 1, 0…]^T @ g in one bmm (the
        # padding rows get 0); g then goes back through W^T and the mask of the layer below. From
        # the output layer that is an outer product, (M, N, 1) * (M, 1, H): ATen's multiply.
        # Each layer's g through W^T comes before its weight gradient: the forward has just read
        # those weights, so they are still in cache; `update` then reads them a third time.
        # With an L1 penalty each gradient gets l1·sign(W) (`_add_l1`) before its layer is updated.
        update, l1 = update or _no_update, self.l1
        grads_T[D].baddbmm_(w.err_T, hs[D], beta=beta)  # as (M, 1, rows): MKL's faster path for one output column
        g = torch.mul(g, v.weights_T[D], out=w.g[0]).mul_(keep[D - 1])
        if l1:
            self._add_l1(D, blocks[D], grads[D])
        update(blocks[D], grads[D])
        for l in range(D - 1, 0, -1):
            g_below = torch.bmm(g, v.weights_T[l], out=w.g[(D - l) % 2])  # never its own input
            grads[l].baddbmm_(hs_T[l], g, beta=beta)  # beta = 0: the old contents are ignored, NaN too
            if l1:
                self._add_l1(l, blocks[l], grads[l])
            update(blocks[l], grads[l])
            g = g_below.mul_(keep[l - 1])
        grads[0].baddbmm_(hs_T[0], g, beta=beta)
        if l1:
            self._add_l1(0, blocks[0], grads[0])
        update(blocks[0], grads[0])
        return losses

    def _add_l1(self, layer: int, block: torch.Tensor, grad: torch.Tensor) -> None:
        """grad += l1·sign(W) on the block's weight rows: the gradient of l1·Σ|W| (model.l1_penalty:
        weights only, so neither the bias row nor the padding)."""
        fan_in = self.layout.sizes[layer]
        grad[:, :fan_in].add_(block[:, :fan_in].sign(), alpha=self.l1)

    def _sink_views(self, into: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer views of a flat buffer `into` and their transposes, made once for the same buffer."""
        if self._sink is None or self._sink[0] is not into:
            self._sink = (into, *self.layout.blocks_and_transposes(into))
        return self._sink[1], self._sink[2]

    def _layer_views(self) -> "_Views":
        """Views of `flat` and `flat.grad` per layer, cached; rebuilt when flat.grad is replaced
        (optimizer.zero_grad(set_to_none=True) does that; in this step's loop it never happens)."""
        if self.flat.grad is None:
            self.flat.grad = torch.zeros_like(self.flat)
        key = (self.flat.data_ptr(), self.flat.grad.data_ptr())
        if self._views is None or self._views.key != key:
            self._views = _Views(self.layout, self.flat, key)
        return self._views

    def _workspace(self, n: int, dtype: torch.dtype) -> "_Workspace":
        work = self._work
        if work is None or work.n != n or work.dtype != dtype:
            work = self._work = _Workspace(self.model.n_models, n, self.model.sizes[1], self.layout.block_rows,
                                           dtype, self.flat.device)
        return work

    def _input_with_ones(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[x, 1, 0…], (M, N, rows of the first block), and its transpose, for the first layer's block.

        Reused while x is the same tensor, unchanged (its version counter counts in-place writes);
        a new x of the same shape (a mini-batch) is copied into the same buffer.
        """
        cached = self._x_aug
        if cached is not None and cached[0] is x and cached[1] == x._version:
            return cached[2]
        n_in, shape = x.shape[-1], (self._m, x.shape[-2], self.layout.block_rows[0])
        old = cached[2][0] if cached is not None else None
        if old is not None and (old.shape, old.dtype, old.device) == (shape, x.dtype, x.device):
            x_aug_and_T = cached[2]
        else:
            x_aug = _with_ones(_aligned(shape, x.dtype, x.device), n_in)
            x_aug_and_T = x_aug, x_aug.mT
        x_aug_and_T[0][..., :n_in] = x
        self._x_aug = x, x._version, x_aug_and_T
        return x_aug_and_T


def _no_update(weights: torch.Tensor, gradient: torch.Tensor) -> None:
    """forward_backward's `update` when none is given: the caller steps the optimizer afterwards."""


def _bce_loss_and_gradient(z: torch.Tensor, y: torch.Tensor, w: "_Workspace") -> torch.Tensor:
    """Each model's binary cross-entropy of labels y given logits z (M, N, 1), mean over points (M,);
    z is then overwritten with d loss / d z = (σ(z) - y) / N.

    Per point (1 - y)·z - log σ(z), the form F.binary_cross_entropy_with_logits computes: log σ
    never exponentiates a large positive number (log(1 - σ(z)) would be log 0 for z ≳ 17).
    log σ(z) is softplus with beta -1, a quarter of F.logsigmoid's cost at this size; the mean is
    a bmm with a row of ones, a third of torch.mean's (whose sum and division are two kernels).
    """
    per_point = torch.sub(z, F.softplus(z, beta=-1)).addcmul_(y, z, value=-1)  # z - log σ(z) - y·z
    losses = torch.baddbmm(w.loss, w.ones_T, per_point, beta=0, alpha=1 / z.shape[1]).view(-1)
    z.sigmoid_().sub_(y).mul_(w.one_over_n)
    return losses


# --- buffer layout ---------------------------------------------------------------------------------------------

class _Layout:
    """Where each layer's [W; b; 0…] block lies in a flat buffer of M models (see the module doc)."""

    def __init__(self, sizes: list[int], m: int):
        self.sizes, self.m = sizes, m
        # Rows of each block: 2, 202, 202, 208 for the source's network (fan_in + 1, then padding).
        self.block_rows = [_padded_rows(fan_in + 1, fan_out) for fan_in, fan_out in zip(sizes, sizes[1:])]
        self.shapes = [(m, rows, fan_out) for rows, fan_out in zip(self.block_rows, sizes[1:])]

    def blocks(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's block [W; b; 0…], (M, rows, fan_out), as views of `flat`."""
        chunks = torch.split(flat, [math.prod(s) for s in self.shapes])
        return [chunk.view(shape) for chunk, shape in zip(chunks, self.shapes)]

    def params(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """[W0, b0, W1, b1, …] as views of `flat`: W_l (M, fan_in, fan_out), b_l (M, 1, fan_out)."""
        out = []
        for block, fan_in in zip(self.blocks(flat), self.sizes):
            out += [block[:, :fan_in], block[:, fan_in:fan_in + 1]]
        return out

    def blocks_and_transposes(self, flat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """`blocks(flat)`, and each block's transpose (M, fan_out, rows), for the weight-gradient bmms."""
        blocks = self.blocks(flat)
        return blocks, [b.mT for b in blocks]

    def adopt(self, model: StackedMLP) -> nn.Parameter:
        """A flat buffer holding the model's weights; the model's parameters become views of it.

        After this the model reads (forward, snapshots) exactly the weights the fused step
        updates in place. Moving the model to another device afterwards would break the link.
        """
        flat = torch.zeros(sum(math.prod(s) for s in self.shapes), device=model.p.device)
        with torch.no_grad():
            for view, param in zip(self.params(flat), model.params()):
                view.copy_(param)
                param.data = view  # the parameter now shares the buffer's storage
        return nn.Parameter(flat)


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
    """An empty (M, …) buffer whose every model's slice starts on a 64-byte boundary (see the
    module doc); contiguous when a slice's size is already a multiple of 64 bytes."""
    per_model = math.prod(shape[1:])
    return torch.empty(shape[0], _padded(per_model), dtype=dtype, device=device)[:, :per_model].view(shape)


class _Views:
    """The views forward_backward needs of `flat` and `flat.grad`, made once (each view costs µs)."""

    def __init__(self, layout: _Layout, flat: torch.Tensor, key: tuple):
        self.key = key
        self.blocks = layout.blocks(flat.detach())  # [W; b; 0…] per layer
        self.weights_T = [b[:, :fan_in].mT for b, fan_in in zip(self.blocks, layout.sizes)]  # W^T, for the backward
        self.grads, self.grads_T = layout.blocks_and_transposes(flat.grad)


class _Workspace:
    """Buffers of forward_backward for n points, allocated once and reused every step, with their views.

    hs[l] (l ≥ 1): hidden layer l-1's output as [h, 1, 0…], (M, n, rows of block l); keep[l]:
    its ReLU-and-dropout factor (M, n, H); z: a pre-activation; g: two gradient buffers (M, n, H);
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
        self.one_over_n = torch.tensor(1 / n, dtype=dtype, device=device)  # d mean / d term, for the BCE
        self.ones_T, self.loss = torch.ones(m, 1, n, dtype=dtype, device=device), new(m, 1, 1)  # the BCE's mean


# --- mask bits -----------------------------------------------------------------------------------------------------

class _MaskSource:
    """Each step's keep masks (M, depth, N, H), the very masks StackedMLP.sample_masks draws, and
    the dropout factors forward_backward applies: mask × 1/(1 - p) (inverted, torch) or mask (vanilla)."""

    def __init__(self, model: StackedMLP):
        self.model = model
        p = model.p.view(-1, 1)
        self.scale = 1 / (1 - p) if model.variant != "vanilla" else torch.ones_like(p)  # (M, 1), float32
        self.bits: _MaskBits | None = None

    def next(self, n: int, generators: list[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
        """(masks, factors) of the next step, both (M, depth, n, H). Bits drawn ahead: the tensors
        hold this step's values until up to 16 steps later (copy them to keep them longer)."""
        model = self.model
        if model.variant == "torch":  # one Bernoulli draw per model and step, as F.dropout's
            masks = model.sample_masks(n, generators)
            return masks, masks * self.scale.view(-1, 1, 1, 1)
        key = (n, tuple(map(id, generators)))
        if self.bits is None or self.bits.key != key:
            self.bits = _MaskBits(key, model, generators, self.scale)
        return self.bits.next()


class _MaskBits:
    """The random bits, masks and factors of the next few steps, for n points and one set of generators.

    One int64 row of bits per generator object that dropping models read; each row holds
    `steps` steps' bits, drawn in one call (on the CPU the same sequence as one call per step,
    see dropout.random_bits). masks[k] and mult[k] are step k's, views of `store` and
    `mult_store` (M, steps, units), which start as ones: p = 0 models keep every unit and are
    never written. Each row is compared, as (steps, units) int32, with the thresholds of the
    models that read it in one broadcast `ge`, straight into those models' part of `store` when
    they are evenly spaced (a sweep's p values × seeds are), else model by model.
    """

    def __init__(self, key: tuple, model: StackedMLP, generators: list[torch.Generator], scale: torch.Tensor):
        self.key, m, device = key, model.n_models, model.p.device
        unit_shape = (model.depth, key[0], model.sizes[1])
        units = math.prod(unit_shape)
        readers: dict[int, tuple[torch.Generator, list[int]]] = {}  # id(generator) -> (it, models reading it)
        for i, p in enumerate(model.p.flatten().tolist()):
            if p > 0:
                readers.setdefault(id(generators[i]), (generators[i], []))[1].append(i)
        # On a GPU one call's numbers are not those of several calls (counter-based generators): one step a call.
        self.steps = max(1, min(16, MASK_AHEAD_FLOATS // (m * units))) if device.type == "cpu" else 1
        words = (units + 1) // 2  # int64 words per step: 2 units of 32 bits each, as dropout.random_bits
        bits = torch.empty(len(readers), self.steps * words, dtype=torch.int64, device=device)
        rows = bits.view(torch.int32).view(len(bits), self.steps, 2 * words)[:, :, :units]
        self.store = torch.ones(m, self.steps, units, device=device)
        self.mult_store = self.store if model.variant == "vanilla" else torch.ones(m, self.steps, units, device=device)
        self.masks = [self.store[:, k].view(m, *unit_shape) for k in range(self.steps)]
        self.mult = [self.mult_store[:, k].view(m, *unit_shape) for k in range(self.steps)]
        thresholds = torch.tensor([keep_threshold(p) for p in model.p.flatten().tolist()], dtype=torch.int64)
        thresholds = thresholds.to(torch.int32).to(device).view(m, 1, 1)  # every one fits: p < 1
        self.draws = [(bits[r], generator) for r, (generator, _) in enumerate(readers.values())]
        self.compares = []  # (bits as (steps, units), thresholds, keep scales, masks out, factors out)
        for row, (_, models) in zip(rows, readers.values()):
            for part in _evenly_spaced_runs(models):
                self.compares.append((row, thresholds[part], scale[part].view(-1, 1, 1),
                                      self.store[part], self.mult_store[part]))
        self.rescale = self.mult_store is not self.store
        self.k = self.steps  # the next step's index; `steps`: draw first

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k == self.steps:
            self._draw_ahead()
        self.k += 1
        return self.masks[self.k - 1], self.mult[self.k - 1]

    def _draw_ahead(self) -> None:
        """The next `steps` steps' masks (1 kept, 0 dropped) and factors (mask × keep scale)."""
        for row, generator in self.draws:  # 64 random bits per word, 2 units per word
            row.random_(-2**63, None, generator=generator)
        for row, threshold, scale, masks, mult in self.compares:
            torch.ge(row, threshold, out=masks)
            if self.rescale:
                torch.mul(masks, scale, out=mult)
        self.k = 0


def _evenly_spaced_runs(models: list[int]) -> list[slice]:
    """`models` (increasing) as slices: one if evenly spaced, else one per model."""
    step = models[1] - models[0] if len(models) > 1 else 1
    if models == list(range(models[0], models[-1] + 1, step)):
        return [slice(models[0], models[-1] + 1, step)]
    return [slice(i, i + 1) for i in models]


# --- the optimizer ---------------------------------------------------------------------------------------------------

class FlatSGD:
    """torch.optim.SGD(lr, momentum, weight_decay) for one parameter, without torch.optim's overhead.

    The same update through the same kernel that `torch.optim.SGD(..., fused=True)` runs
    (torch._fused_sgd_), so results match it bit for bit (a test checks it). What it leaves out
    is torch.optim's Python around the kernel: ~25 µs a step of hooks, profiler scopes and
    checks, and the ~1 s import of torch._dynamo that constructing the first torch.optim
    optimizer in a process triggers. `param_groups[0]` is read at every step, so changing its
    "lr" works as with torch.optim.

    The kernel rounds the last (numel mod 16) elements differently from the rest (a fused
    multiply-add in its scalar tail); the flat buffer is padded to a multiple of 16 per model,
    so there it has no tail and treats every model alike.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        (self.param,) = list(params)  # one flat parameter, e.g. FusedStep.flat
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
        """(buffer, beta) for `FusedStep.forward_backward(..., into=buffer, beta=beta)`, with
        `update=self.update_layer`: the same update as forward_backward + step(), one pass less.

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
