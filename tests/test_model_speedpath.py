"""The fast training path (forward_backward, sample_multipliers, FlatSGD) against autograd and torch.optim."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dropviz.model import MASK_BITS, FlatSGD, StackedMLP

PS = {1: (0.5,), 2: (0.0, 0.5), 5: (0.0, 0.5, 0.1, 0.9, 0.3)}


def gens(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def pair_of_models(m, depth, variant, width=24):
    """Two identical StackedMLPs: one trained by the fast path, one by autograd."""
    ps, seeds = list(PS[m]), [3 + i % 2 for i in range(m)]
    return [StackedMLP(ps, width, depth, seeds, variant).train() for _ in range(2)]


def data(m, n=10, shared=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 1) if shared else (m, n, 1), generator=g) * 2 - 1
    y = 1.5 * x + 0.5 * torch.randn(x.shape, generator=g)
    return x, y


def autograd_step(model, x, y, mult):
    """The textbook way: forward with autograd, MSE per model, backward."""
    model.flat.grad = None
    losses = ((model(x, mult=mult) - y) ** 2).mean(dim=(1, 2))
    losses.sum().backward()  # models are independent: the sum's gradient is each model's own
    return losses.detach()


@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
@pytest.mark.parametrize("m", [1, 2, 5])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("shared", [False, True])
def test_forward_backward_gradients_equal_autograd(variant, m, depth, shared):
    fast, ref = pair_of_models(m, depth, variant)
    x, y = data(m, shared=shared)
    torch.manual_seed(0)  # the torch variant draws from the global generator
    mult = fast.sample_multipliers(10, gens(range(m)))

    losses = fast.forward_backward(x, y, mult)
    ref_losses = autograd_step(ref, x, y, mult)

    torch.testing.assert_close(losses, ref_losses, rtol=1e-5, atol=1e-6)
    for got, want in zip(fast.params(fast.flat.grad), ref.params(ref.flat.grad)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert fast.flat.grad.abs().sum() > 0


@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_training_steps_match_autograd_and_torch_optim(variant, depth, weight_decay):
    """Fast path + FlatSGD and autograd + torch.optim.SGD stay together over several steps."""
    fast, ref = pair_of_models(5, depth, variant, width=32)
    x, y = data(5)
    opt_fast = FlatSGD([fast.flat], lr=0.01, momentum=0.9, weight_decay=weight_decay)
    opt_ref = torch.optim.SGD([ref.flat], lr=0.01, momentum=0.9, weight_decay=weight_decay)
    generators = gens(range(5))
    torch.manual_seed(0)
    for _ in range(8):
        mult = fast.sample_multipliers(10, generators)
        fast.forward_backward(x, y, mult)
        opt_fast.step()
        autograd_step(ref, x, y, mult)
        opt_ref.step()
    assert torch.isfinite(ref.flat).all()
    torch.testing.assert_close(fast.flat.detach(), ref.flat.detach(), rtol=1e-4, atol=5e-5)
    assert not torch.equal(fast.flat.detach(), StackedMLP(list(PS[5]), 32, depth, [3, 4, 3, 4, 3]).flat.detach())


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
        model = StackedMLP([0.0, 0.0], width, depth, [seed, seed]).train()
        x = torch.linspace(-1, 1, 10).view(10, 1)
        opt = FlatSGD([model.flat], lr=0.01, momentum=0.9)
        for _ in range(25):
            model.forward_backward(x, 1.5 * x, model.sample_multipliers(10, gens([1, 1])))
            opt.step()
        for w in model.params():
            assert torch.equal(w[0], w[1])


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_the_gradient_taken_into_the_momentum_buffer_is_the_same_update(weight_decay):
    """train_step (FlatSGD.momentum_sink) trains as forward_backward + step() to rounding; where a
    snapshot follows (keep_grad) flat.grad holds that step's gradient; and when snapshots come
    does not change a single bit of the run."""
    from dropviz.train import train_step

    x, y = data(5)
    ps, seeds = list(PS[5]), [3, 4, 3, 4, 3]
    models = [StackedMLP(ps, 32, 3, seeds).train() for _ in range(3)]
    opts = [FlatSGD([m.flat], lr=0.01, momentum=0.9, weight_decay=weight_decay) for m in models]
    generators = [gens(seeds) for _ in models]
    for step in range(12):
        mult = models[0].sample_multipliers(10, generators[0])
        models[0].forward_backward(x, y, mult)  # the plain path: the gradient, then step()
        train_step(models[1], opts[1], x, y, generators[1], keep_grad=step in (0, 5, 9))
        train_step(models[2], opts[2], x, y, generators[2], keep_grad=step % 2 == 1)
        if step in (0, 5, 9):  # new - 0.9 · old buffer: exact to the buffer's rounding, not the gradient's
            scale = float(opts[1].momentum_buffer.abs().max())
            torch.testing.assert_close(models[1].flat.grad, models[0].flat.grad, rtol=1e-4, atol=1e-6 * scale)
        opts[0].step()
    torch.testing.assert_close(models[1].flat.detach(), models[0].flat.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(opts[1].momentum_buffer, opts[0].momentum_buffer, rtol=1e-5, atol=1e-6)
    assert torch.equal(models[1].flat.detach(), models[2].flat.detach())
    assert not torch.equal(models[0].flat.detach(), StackedMLP(ps, 32, 3, seeds).flat.detach())


def test_no_momentum_sink_where_the_update_needs_the_gradient_itself():
    p = torch.nn.Parameter(torch.ones(4))
    assert FlatSGD([p], lr=0.1, momentum=0.0).momentum_sink() is None
    opt = FlatSGD([p], lr=0.1, momentum=0.9)
    opt.param_groups[0]["nesterov"] = True
    assert opt.momentum_sink() is None


def test_flat_is_padded_per_model_and_the_padding_stays_zero():
    model = StackedMLP([0.0, 0.5, 0.3], 37, 2, [1, 2, 3]).train()
    assert model.n_params == 37 * 2 + 38 * 37 + 37 + 1  # [W0; b0], [W1; b1], W2, b2
    assert model.flat.numel() % 16 == 0 and model.flat.numel() >= 3 * model.n_params
    x, y = data(3)
    opt = FlatSGD([model.flat], lr=0.01, momentum=0.9, weight_decay=0.01)
    for _ in range(3):
        model.forward_backward(x, y, model.sample_multipliers(10, gens([1, 2, 3])))
        opt.step()
    used = torch.zeros_like(model.flat, dtype=torch.bool)
    for w in model.params(used):
        w.fill_(True)
    assert used.sum() == 3 * model.n_params
    assert torch.all(model.flat.detach()[~used] == 0) and torch.all(model.flat.grad[~used] == 0)


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


def test_forward_backward_survives_replaced_gradient_and_weights():
    """The cached layer views follow a new flat.grad (zero_grad(set_to_none)) or new weights."""
    model = StackedMLP([0.0, 0.5], 16, 2, [1, 1]).train()
    x, y = data(2)
    mult = model.sample_multipliers(10, gens([1, 2]))
    model.forward_backward(x, y, mult)
    first = model.flat.grad.clone()
    model.flat.grad = None
    model.forward_backward(x, y, mult)
    torch.testing.assert_close(model.flat.grad, first)
    with torch.no_grad():
        model.flat.data = model.flat.data * 2  # a new storage
    model.forward_backward(x, y, mult)
    ref = StackedMLP([0.0, 0.5], 16, 2, [1, 1]).train()
    with torch.no_grad():
        ref.flat.mul_(2)
    autograd_step(ref, x, y, mult)
    torch.testing.assert_close(model.flat.grad, ref.flat.grad, rtol=1e-4, atol=1e-6)


# --- masks from random bits ---------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.5, 0.1, 0.37, 0.9, 0.999, 1e-4])
def test_mask_drop_rate_and_values(p):
    model = StackedMLP([0.0, p], 100, 4, [1, 1])
    mult = torch.cat([model.sample_multipliers(50, gens([7, 8]))[1] for _ in range(5)])  # 100,000 units
    rate = (mult == 0).float().mean().item()
    quantized = math.ceil(float(torch.tensor(p)) * 2**MASK_BITS) / 2**MASK_BITS  # p in steps of 1/65536
    assert abs(quantized - p) < 2 ** -MASK_BITS
    assert abs(rate - quantized) <= 5 * math.sqrt(quantized * (1 - quantized) / mult.numel()) + 1e-9
    kept = mult[mult != 0].unique()
    assert kept.numel() <= 1 and (kept.numel() == 0 or kept.item() == pytest.approx(1 / (1 - float(model.p[1])), rel=1e-6))


def test_masks_are_independent_across_units_layers_and_steps():
    model = StackedMLP([0.5], 64, 3, [1])
    g = gens([1])
    a, b = model.sample_multipliers(40, g), model.sample_multipliers(40, g)
    assert a is not b and not torch.equal(a, b)  # a fresh tensor every step: snapshots may keep the old one
    keep = (torch.cat([a, b]) > 0).float().flatten()
    # Neighbouring units come from the same 64-bit word: they must still be uncorrelated.
    for lag in (1, 2, 3, 4):
        corr = torch.corrcoef(torch.stack([keep[:-lag], keep[lag:]]))[0, 1].item()
        assert abs(corr) < 0.03, (lag, corr)


def test_p_zero_models_draw_nothing_from_their_generator():
    model = StackedMLP([0.0, 0.0], 8, 2, [1, 1])
    g = gens([1, 2])
    states = [x.get_state() for x in g]
    mult = model.sample_multipliers(10, g)
    assert torch.equal(mult, torch.ones_like(mult))
    assert all(torch.equal(x.get_state(), s) for x, s in zip(g, states))


def test_models_sharing_a_generator_share_its_draw():
    """One generator object for several models: drawn once per step, and each model's masks are
    those it would get from its own generator seeded alike (as train.py's per-seed generators)."""
    ps, seeds = [0.0, 0.2, 0.5, 0.0, 0.2, 0.5], [1, 1, 1, 2, 2, 2]
    model = StackedMLP(ps, 16, 2, seeds)
    by_seed = {s: torch.Generator().manual_seed(s) for s in (1, 2)}
    shared, separate = [by_seed[s] for s in seeds], gens(seeds)
    for step in range(3):
        got, want = model.sample_multipliers(10, shared), model.sample_multipliers(10, separate)
        assert torch.equal(got, want), step
        assert not torch.equal(got[1], got[4])  # the two seeds' masks differ
    assert all(torch.equal(by_seed[s].get_state(), separate[1 + 3 * i].get_state()) for i, s in enumerate((1, 2)))
    # One model alone on a generator is unaffected by others sharing theirs.
    mixed = [by_seed[1], by_seed[1], torch.Generator().manual_seed(9), by_seed[2], by_seed[2], by_seed[2]]
    alone = StackedMLP([0.5], 16, 2, [9]).sample_multipliers(10, gens([9]))
    assert torch.equal(model.sample_multipliers(10, mixed)[2], alone[0])


def test_models_sharing_a_generator_at_uneven_positions_get_their_own_masks():
    # Models 0, 1 and 4 read one draw (compared model by model: their positions are not evenly
    # spaced); 3 reads another; 2 has p = 0.
    ps, seeds = [0.2, 0.5, 0.0, 0.3, 0.5], [1, 1, 2, 2, 1]
    model = StackedMLP(ps, 16, 2, seeds)
    by_seed = {s: torch.Generator().manual_seed(s) for s in (1, 2)}
    shared, separate = [by_seed[s] for s in seeds], gens(seeds)
    for step in range(20):  # past one draw-ahead of steps
        got, want = model.sample_multipliers(10, shared), model.sample_multipliers(10, separate)
        assert torch.equal(got, want), step
        assert torch.equal(got[2], torch.ones_like(got[2]))
        assert torch.equal(got[1] > 0, got[4] > 0) and not torch.equal(got[0] > 0, got[1] > 0)


def test_vanilla_masks_are_zero_one():
    model = StackedMLP([0.0, 0.5], 32, 2, [1, 1], variant="vanilla")
    mult = model.sample_multipliers(20, gens([1, 2]))
    assert set(mult.unique().tolist()) == {0.0, 1.0}


# --- cold start ---------------------------------------------------------------------------------------------

def test_first_step_does_not_import_torch_dynamo():
    """torch.optim's first optimizer imports torch._dynamo (~1 s); the fast path must not need it."""
    code = (
        "import sys, torch\n"
        "from dropviz.model import StackedMLP, FlatSGD\n"
        "m = StackedMLP([0.0, 0.5], 16, 2, [1, 1]).train()\n"
        "opt = FlatSGD([m.flat], lr=0.01, momentum=0.9)\n"
        "x = torch.linspace(-1, 1, 10).view(10, 1)\n"
        "m.forward_backward(x, 1.5 * x, m.sample_multipliers(10)); opt.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_moving_the_model_drops_its_cached_buffers():
    model = StackedMLP([0.0, 0.5], 16, 2, [1, 1]).train()
    x, y = data(2)
    mult = model.sample_multipliers(10, gens([1, 2]))
    first = model.forward_backward(x, y, mult)
    model.to("cpu")
    assert model._work is None and model._views is None and model._bits is None
    torch.testing.assert_close(model.forward_backward(x, y, mult), first)


def test_masks_drawn_steps_ahead_are_the_masks_drawn_one_step_at_a_time(monkeypatch):
    """sample_multipliers draws several steps' bits in one call: the same random sequence."""
    import dropviz.model as model_module

    def masks(ahead_floats: int) -> tuple[list[torch.Tensor], int]:
        monkeypatch.setattr(model_module, "MASK_AHEAD_FLOATS", ahead_floats)
        model = StackedMLP([0.0, 0.5, 0.3], 32, 2, [1, 1, 2]).train()
        shared = {s: torch.Generator().manual_seed(s) for s in (1, 2)}
        generators = [shared[1], shared[1], shared[2]]
        out = [model.sample_multipliers(7, generators).clone() for _ in range(40)]
        return out, model._bits.steps

    one_by_one, steps_one = masks(1)
    ahead, steps_ahead = masks(1 << 20)
    assert (steps_one, steps_ahead) == (1, 16)
    assert all(torch.equal(a, b) for a, b in zip(one_by_one, ahead))
    assert not torch.equal(ahead[0], ahead[1])  # fresh masks every step
