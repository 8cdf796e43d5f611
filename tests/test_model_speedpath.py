"""The fused step's parts (fast_step: forward_backward, FlatSGD, mask bits, buffer layout) against
autograd, torch.optim and model.py. tests/test_backends.py compares whole runs of the two backends."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dropviz.fast_step as fast_step
from dropviz.fast_step import FlatSGD, FusedStep
from dropviz.model import StackedMLP

PS = {1: (0.5,), 2: (0.0, 0.5), 5: (0.0, 0.5, 0.1, 0.9, 0.3)}


def gens(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def pair_of_models(m, depth, variant, width=24):
    """Two identical StackedMLPs: one for the fused step, one for autograd."""
    ps, seeds = list(PS[m]), [3 + i % 2 for i in range(m)]
    return [StackedMLP(ps, width, depth, seeds, variant).train() for _ in range(2)]


def data(m, n=10, shared=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 1) if shared else (m, n, 1), generator=g) * 2 - 1
    y = 1.5 * x + 0.5 * torch.randn(x.shape, generator=g)
    return x, y


def autograd_losses(model, x, y, masks):
    """The textbook way: forward with autograd, MSE per model, backward into each parameter's .grad."""
    model.zero_grad(set_to_none=True)
    losses = ((model(x, masks) - y) ** 2).mean(dim=(1, 2))
    losses.sum().backward()  # models are independent: the sum's gradient is each model's own
    return losses.detach()


@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
@pytest.mark.parametrize("m", [1, 2, 5])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("shared", [False, True])
def test_forward_backward_gradients_equal_autograd(variant, m, depth, shared):
    fast, ref = pair_of_models(m, depth, variant)
    step = FusedStep(fast, "sgd", 0.01)
    x, y = data(m, shared=shared)
    masks, mult = step.masks.next(10, gens(range(m)))

    losses = step.forward_backward(x, y, mult)
    ref_losses = autograd_losses(ref, x, y, masks)

    torch.testing.assert_close(losses, ref_losses, rtol=1e-5, atol=1e-6)
    grads = step.layout.params(step.flat.grad)
    for got, param in zip(grads, ref.params(), strict=True):
        torch.testing.assert_close(got, param.grad, rtol=1e-4, atol=1e-6)
    assert step.flat.grad.abs().sum() > 0


def test_forward_backward_overwrites_old_gradients_and_follows_a_new_buffer():
    step = FusedStep(StackedMLP([0.0, 0.5, 0.3], 16, 3, [1, 2, 3]), "sgd", 0.01)
    x, y = data(3)
    _, mult = step.masks.next(10, gens([1, 2, 3]))
    step.forward_backward(x, y, mult)
    first = step.flat.grad.clone()
    step.forward_backward(x, y, mult)
    torch.testing.assert_close(step.flat.grad, first)  # not accumulated: no zero_grad needed
    step.flat.grad = None  # what optimizer.zero_grad() does by default
    step.forward_backward(x, y, mult)
    torch.testing.assert_close(step.flat.grad, first)  # written into the new buffer, not a stale one


def test_the_models_parameters_are_views_of_the_flat_buffer():
    """Snapshots read the model: they must see the weights the fused step updates in place."""
    model = StackedMLP([0.0, 0.5], 16, 2, [1, 1])
    start = [p.detach().clone() for p in model.params()]
    step = FusedStep(model, "sgd", 0.01)
    for got, want in zip(model.params(), start, strict=True):
        assert torch.equal(got.detach(), want)  # adopting keeps the values
    x, y = data(2)
    step.step(x, y, gens([1, 1]))
    for param, view in zip(model.params(), step.layout.params(step.flat.detach()), strict=True):
        assert param.data_ptr() == view.data_ptr() and torch.equal(param.detach(), view)
    assert not torch.equal(model.params()[2].detach(), start[2])


@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_training_steps_match_autograd_and_torch_optim(variant, depth, weight_decay):
    """forward_backward + FlatSGD.step and autograd + torch.optim.SGD stay together over several steps."""
    fast, ref = pair_of_models(5, depth, variant, width=32)
    step = FusedStep(fast, "sgd", 0.01, weight_decay, into_momentum=False)
    x, y = data(5)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.9, weight_decay=weight_decay)
    generators = gens(range(5))
    for _ in range(8):
        step.step(x, y, generators)
        autograd_losses(ref, x, y, fast.last_masks)
        opt_ref.step()
    for got, want in zip(fast.params(), ref.params(), strict=True):
        assert torch.isfinite(want).all()
        # rtol 3e-4: the p = 0.9 model's kept units are ×10, and the reference divides by (1 - p)
        # where the fused step multiplies by its float32 reciprocal: a last-bit difference, ×10 per layer.
        torch.testing.assert_close(got.detach(), want.detach(), rtol=3e-4, atol=5e-5)
    assert not torch.equal(fast.params()[0].detach(), StackedMLP(list(PS[5]), 32, depth, [3, 4, 3, 4, 3]).params()[0])


@pytest.mark.parametrize("momentum,weight_decay", [(0.9, 0.0), (0.9, 0.01), (0.0, 0.0), (0.5, 0.1)])
def test_flat_sgd_is_torch_sgd_exactly(momentum, weight_decay):
    g = torch.Generator().manual_seed(1)
    start = torch.randn(1003, generator=g)
    params = [torch.nn.Parameter(start.clone()) for _ in range(3)]
    ours = FlatSGD([params[0]], lr=0.01, momentum=momentum, weight_decay=weight_decay)
    fused = torch.optim.SGD([params[1]], lr=0.01, momentum=momentum, weight_decay=weight_decay, fused=True)
    plain = torch.optim.SGD([params[2]], lr=0.01, momentum=momentum, weight_decay=weight_decay)
    for step in range(6):
        grad = torch.randn(1003, generator=g)
        if step == 3:  # a changed learning rate is honoured, as with torch.optim
            for opt in (ours, fused, plain):
                opt.param_groups[0]["lr"] = 0.1
        for p, opt in zip(params, (ours, fused, plain)):
            p.grad = grad.clone()
            opt.step()
    assert torch.equal(params[0], params[1])  # the same kernel: bit for bit
    torch.testing.assert_close(params[0], params[2])  # torch's default (single-tensor) SGD: to rounding


@pytest.mark.parametrize("width", [1, 7, 16, 31, 37, 200, 201])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_a_p_zero_pair_stays_bit_identical(width, depth):
    """Two p = 0 models from one seed are the same net: every kernel must treat model 1 like model 0.
    MKL picks kernels by alignment and torch's fused SGD rounds a tensor's tail differently, so this
    holds only because every model's slice of every buffer is 64-byte aligned and padded."""
    for seed in (1, 2, 3):
        model = StackedMLP([0.0, 0.0], width, depth, [seed, seed])
        step = FusedStep(model, "sgd", 0.01)
        x = torch.linspace(-1, 1, 10).view(10, 1)
        generators = gens([1, 1])
        for _ in range(25):
            step.step(x, 1.5 * x, generators)
        for w in model.params():
            assert torch.equal(w[0], w[1])


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_the_gradient_taken_into_the_momentum_buffer_is_the_same_update(weight_decay):
    """The momentum sink (gradient straight into FlatSGD's buffer, each layer updated inside the
    backward) trains as forward_backward + FlatSGD.step() does, to rounding."""
    x, y = data(5)
    ps, seeds = list(PS[5]), [3, 4, 3, 4, 3]
    steps = [FusedStep(StackedMLP(ps, 32, 3, seeds), "sgd", 0.01, weight_decay, into_momentum=sink)
             for sink in (False, True)]
    generators = [gens(seeds) for _ in steps]
    for _ in range(12):
        for step, g in zip(steps, generators):
            step.step(x, y, g)
    plain, sink = steps
    assert sink.optimizer.momentum_sink() is not None and plain.flat.grad.abs().sum() > 0
    # The matmul adds momentum·buffer and the gradient in its own order: a last-bit difference, which
    # the p = 0.9 model's ×10 dropout scaling carries to ~1e-5 of its largest weights.
    torch.testing.assert_close(sink.flat.detach(), plain.flat.detach(), rtol=5e-5, atol=1e-6)
    torch.testing.assert_close(sink.optimizer.momentum_buffer, plain.optimizer.momentum_buffer, rtol=5e-5, atol=1e-6)
    assert not torch.equal(sink.flat.detach(), FusedStep(StackedMLP(ps, 32, 3, seeds), "sgd", 0.01).flat.detach())


def test_no_momentum_sink_where_the_update_needs_the_gradient_itself():
    p = torch.nn.Parameter(torch.ones(4))
    assert FlatSGD([p], lr=0.1, momentum=0.0).momentum_sink() is None
    opt = FlatSGD([p], lr=0.1, momentum=0.9)
    opt.param_groups[0]["nesterov"] = True
    assert opt.momentum_sink() is None


def test_flat_is_padded_per_model_and_the_padding_stays_zero():
    model = StackedMLP([0.0, 0.5, 0.3], 37, 2, [1, 2, 3])
    step = FusedStep(model, "sgd", 0.01, weight_decay=0.01, into_momentum=False)
    assert model.n_params == 37 * 2 + 38 * 37 + 37 + 1  # [W0; b0], [W1; b1], W2, b2
    assert step.flat.numel() % 16 == 0 and step.flat.numel() >= 3 * model.n_params
    x, y = data(3)
    for _ in range(3):
        step.step(x, y, gens([1, 2, 3]))
    used = torch.zeros_like(step.flat, dtype=torch.bool)
    for w in step.layout.params(used):
        w.fill_(True)
    assert used.sum() == 3 * model.n_params
    assert torch.all(step.flat.detach()[~used] == 0) and torch.all(step.flat.grad[~used] == 0)


def test_flat_sgd_without_the_fused_kernel_is_the_same_update(monkeypatch):
    g = torch.Generator().manual_seed(2)
    params = [torch.nn.Parameter(torch.randn(100, generator=g)) for _ in range(2)]
    params[1].data.copy_(params[0].data)
    fused, unfused = (FlatSGD([p], lr=0.01, momentum=0.9, weight_decay=0.01) for p in params)
    for _ in range(4):
        grad = torch.randn(100, generator=g)
        params[0].grad, params[1].grad = grad.clone(), grad.clone()
        fused.step()
        with monkeypatch.context() as m:
            m.delattr(torch, "_fused_sgd_")
            unfused.step()
    torch.testing.assert_close(params[0], params[1])


def test_flat_sgd_skips_a_missing_gradient_and_zero_grad_works():
    p = torch.nn.Parameter(torch.ones(4))
    opt = FlatSGD([p], lr=0.1, momentum=0.9)
    opt.step()
    assert torch.equal(p.detach(), torch.ones(4))
    p.grad = torch.ones(4)
    opt.zero_grad(set_to_none=False)
    assert torch.equal(p.grad, torch.zeros(4))
    opt.zero_grad()
    assert p.grad is None


# --- masks from random bits ---------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
def test_the_fused_masks_are_the_models_masks_and_factors(variant):
    """_MaskSource gives StackedMLP.sample_masks' masks, and factors mask × 1/(1 - p) (1 for vanilla)."""
    ps, seeds = [0.2, 0.5, 0.0, 0.3, 0.5], [1, 1, 2, 2, 1]  # uneven positions: compared model by model
    model = StackedMLP(ps, 16, 2, seeds, variant)
    source = fast_step._MaskSource(model)
    by_seed = {s: torch.Generator().manual_seed(s) for s in (1, 2)}
    # train.py's generators: one per seed (one draw for its models), one per model for "torch".
    source_generators = [by_seed[s] for s in seeds] if variant != "torch" else gens(seeds)
    model_generators = gens(seeds)  # one per model, seeded alike: the same masks
    for _ in range(20):  # past one draw-ahead of steps
        masks, mult = source.next(10, source_generators)
        assert torch.equal(masks, model.sample_masks(10, model_generators))
        for m, p in enumerate(model.p.flatten().tolist()):
            scale = 1.0 if variant == "vanilla" else 1 / (1 - p)
            torch.testing.assert_close(mult[m], masks[m] * scale, rtol=1e-6, atol=0)


@pytest.mark.parametrize("p", [0.5, 0.1, 0.37, 0.9, 0.999, 1e-4])
def test_mask_drop_rate_and_values(p):
    model = StackedMLP([0.0, p], 100, 4, [1, 1])
    source = fast_step._MaskSource(model)
    g = gens([7, 8])
    draws = [source.next(50, g) for _ in range(5)]
    masks = torch.cat([m[1].clone() for m, _ in draws])  # 100,000 units
    mult = torch.cat([f[1].clone() for _, f in draws])
    rate = (masks == 0).float().mean().item()
    assert abs(rate - p) <= 5 * math.sqrt(p * (1 - p) / masks.numel()) + 1e-9
    kept = mult[masks != 0].unique()
    assert kept.numel() <= 1 and (kept.numel() == 0 or kept.item() == pytest.approx(1 / (1 - float(model.p[1])), rel=1e-6))
    assert torch.equal(draws[0][0][0], torch.ones_like(draws[0][0][0]))  # p = 0: every unit kept


def test_masks_are_independent_across_units_layers_and_steps():
    source = fast_step._MaskSource(StackedMLP([0.5], 64, 3, [1]))
    g = gens([1])
    a, b = source.next(40, g)[0], source.next(40, g)[0]
    assert a is not b and not torch.equal(a, b)  # a fresh tensor every step: snapshots may keep the old one
    keep = torch.cat([a, b]).flatten()
    # Neighbouring units come from the same 64-bit word: they must still be uncorrelated.
    for lag in (1, 2, 3, 4):
        corr = torch.corrcoef(torch.stack([keep[:-lag], keep[lag:]]))[0, 1].item()
        assert abs(corr) < 0.03, (lag, corr)


def test_masks_drawn_steps_ahead_are_the_masks_drawn_one_step_at_a_time(monkeypatch):
    """_MaskBits draws several steps' bits in one call: the same random sequence as one call a step."""

    def masks(ahead_floats: int) -> tuple[list[torch.Tensor], int]:
        monkeypatch.setattr(fast_step, "MASK_AHEAD_FLOATS", ahead_floats)
        source = fast_step._MaskSource(StackedMLP([0.0, 0.5, 0.3], 32, 2, [1, 1, 2]))
        shared = {s: torch.Generator().manual_seed(s) for s in (1, 2)}
        generators = [shared[1], shared[1], shared[2]]
        out = [source.next(7, generators)[0].clone() for _ in range(40)]
        return out, source.bits.steps

    one_by_one, steps_one = masks(1)
    ahead, steps_ahead = masks(1 << 20)
    assert (steps_one, steps_ahead) == (1, 16)
    assert all(torch.equal(a, b) for a, b in zip(one_by_one, ahead))
    assert not torch.equal(ahead[0], ahead[1])  # fresh masks every step


# --- cold start ---------------------------------------------------------------------------------------------

def test_first_step_does_not_import_torch_dynamo():
    """torch.optim's first optimizer imports torch._dynamo (~1 s); the fused SGD step must not need it."""
    code = (
        "import sys, torch\n"
        "from dropviz.model import StackedMLP\n"
        "from dropviz.fast_step import FusedStep\n"
        "step = FusedStep(StackedMLP([0.0, 0.5], 16, 2, [1, 1]), 'sgd', 0.01)\n"
        "x = torch.linspace(-1, 1, 10).view(10, 1)\n"
        "g = torch.Generator().manual_seed(1)\n"
        "step.step(x, 1.5 * x, [g, g])\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
