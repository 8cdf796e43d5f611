"""Hand-written dropout against torch.nn.functional.dropout as the reference (drop rate, scaling, eval)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from dropviz.dropout import (MASK_BITS, VARIANT_FUNCTIONS, drop_path, inverted_dropout, keep_from_bits, keep_mask,
                             keep_threshold, random_bits, torch_keep_mask, vanilla_dropout)

N = 1_000_000  # units per statistical test
PS = [0.1, 0.5, 0.9]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tolerance(p: float, n: int) -> float:
    """5 binomial standard deviations of an observed drop rate over n units."""
    return 5 * math.sqrt(p * (1 - p) / n)


def positive(n: int, seed: int = 1) -> torch.Tensor:
    """Values bounded away from 0, so a zero in the output can only mean a dropped unit."""
    return torch.rand(n, generator=gen(seed)) + 0.5


@pytest.mark.parametrize("p", PS)
def test_drop_rate_agrees_with_torch(p):
    x = positive(N)
    ours = (inverted_dropout(x, p, training=True, generator=gen(2)) == 0).float().mean().item()
    torch.manual_seed(3)
    ref = (F.dropout(x, p, training=True) == 0).float().mean().item()
    assert abs(ours - p) < tolerance(p, N)
    assert abs(ref - p) < tolerance(p, N)
    assert abs(ours - ref) < math.sqrt(2) * tolerance(p, N)


@pytest.mark.parametrize("p", PS + [0.3])
def test_kept_values_are_scaled_by_one_over_keep_probability(p):
    x = positive(10_000)
    y = inverted_dropout(x, p, training=True, generator=gen(4))
    kept = y != 0
    assert 0 < kept.sum() < x.numel()
    assert torch.equal(y[kept], x[kept] / (1 - p))  # exactly the formula
    torch.manual_seed(5)
    ref = F.dropout(x, p, training=True)
    ref_kept = ref != 0
    torch.testing.assert_close(ref[ref_kept], x[ref_kept] / (1 - p), rtol=1e-6, atol=0)  # torch does the same


@pytest.mark.parametrize("p", PS)
def test_same_mask_gives_the_same_output_as_torch(p):
    """With torch's own mask, the hand-written layer reproduces F.dropout element for element."""
    x = torch.randn(4, 500, generator=gen(6))
    torch.manual_seed(7)
    ref = F.dropout(x, p, training=True)
    mask = torch_keep_mask(x.shape, p, gen(7))  # a private generator seeded as the global one was
    torch.testing.assert_close(inverted_dropout(x, p, training=True, mask=mask), ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("p", PS)
def test_eval_mode_is_the_identity_like_torch(p):
    x = torch.randn(1000, generator=gen(8))
    assert torch.equal(inverted_dropout(x, p, training=False), x)
    assert torch.equal(F.dropout(x, p, training=False), x)
    assert torch.equal(VARIANT_FUNCTIONS["torch"](x, p, False), x)


def test_the_source_scaling_experiment():
    """10,000 ones → Dropout(0.5) → Linear(10000, 1, no bias, weights 1) → ReLU (DESIGN.md)."""
    ones = torch.ones(10_000)
    for seed in range(5):
        train = torch.relu(inverted_dropout(ones, 0.5, training=True, generator=gen(seed)).sum()).item()
        assert train % 2 == 0  # kept values are doubled
        assert abs(train - 10_000) < 2 * 5 * math.sqrt(10_000 * 0.25)  # 2 × 5 binomial stds
    assert torch.relu(inverted_dropout(ones, 0.5, training=False).sum()).item() == 10_000


@pytest.mark.parametrize("p", PS)
def test_vanilla_does_not_scale_in_training_and_scales_at_test(p):
    x = positive(10_000)
    y = vanilla_dropout(x, p, training=True, generator=gen(9))
    kept = y != 0
    assert torch.equal(y[kept], x[kept])  # no rescaling while training
    assert abs(1 - kept.float().mean().item() - p) < tolerance(p, x.numel())
    assert torch.equal(vanilla_dropout(x, p, training=False), x * (1 - p))


@pytest.mark.parametrize("p", PS)
def test_vanilla_and_inverted_match_in_expectation(p):
    x = torch.full((N,), 2.0)
    vanilla = vanilla_dropout(x, p, training=True, generator=gen(10)).mean().item()
    inverted = inverted_dropout(x, p, training=True, generator=gen(11)).mean().item()
    # Each unit's output is 2·Bernoulli(1-p) (vanilla) or 2·Bernoulli(1-p)/(1-p) (inverted).
    std = 2 * math.sqrt(p * (1 - p) / N)
    assert abs(vanilla - vanilla_dropout(x[:1], p, False).item()) < 5 * std
    assert abs(inverted - inverted_dropout(x[:1], p, False).item()) < 5 * std / (1 - p)
    # With the same mask, vanilla training output is inverted's times (1 - p): one net, two scalings.
    mask = keep_mask(x.shape, p, gen(12))
    torch.testing.assert_close(vanilla_dropout(x, p, True, mask=mask),
                               inverted_dropout(x, p, True, mask=mask) * (1 - p))


@pytest.mark.parametrize("p", PS)
def test_keep_mask_is_bernoulli_keep_probability(p):
    m = keep_mask((N,), p, gen(13))
    assert set(m.unique().tolist()) <= {0.0, 1.0} and m.dtype == torch.float32
    assert abs(m.mean().item() - (1 - p)) < tolerance(p, N)
    assert torch.equal(m, keep_mask((N,), p, gen(13)))  # reproducible from the generator


def test_keep_mask_takes_a_p_per_model():
    p = torch.tensor([0.0, 0.5, 0.9]).view(3, 1, 1)
    m = keep_mask((3, 100, 1000), p, gen(14))
    rates = 1 - m.mean(dim=(1, 2))
    assert rates[0].item() == 0
    for r, q in zip(rates[1:].tolist(), (0.5, 0.9)):
        assert abs(r - q) < tolerance(q, 100_000)
    y = inverted_dropout(torch.ones(3, 100, 1000), p, True, generator=gen(15))
    assert torch.equal(y[0], torch.ones(100, 1000))
    assert set(y[1].unique().tolist()) == {0.0, 2.0}


@pytest.mark.parametrize("p", PS)
def test_torch_keep_mask_is_the_mask_f_dropout_draws(p):
    """The same draw as F.dropout's, from the generator given: torch's global one is left alone."""
    torch.manual_seed(16)
    before = torch.random.get_rng_state()
    m = torch_keep_mask((1000, 1000), p, gen(16))
    assert torch.equal(torch.random.get_rng_state(), before)
    ref = (F.dropout(torch.ones(1000, 1000), p, training=True) != 0).float()  # from the global generator, seeded 16
    assert torch.equal(m, ref)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert abs(1 - m.mean().item() - p) < tolerance(p, N)


@pytest.mark.parametrize("p", PS)
def test_drop_path_zeroes_whole_samples(p):
    batch = 100_000
    x = torch.rand(batch, 3, 4, generator=gen(17)) + 0.5
    y = drop_path(x, p, training=True, generator=gen(18))
    zero = (y == 0).flatten(1)  # per sample: all units dropped or none, i.e. a (batch, 1, 1) mask
    dropped = zero.all(dim=1)
    assert torch.equal(zero.any(dim=1), dropped)
    assert torch.equal(y[dropped], torch.zeros_like(x[dropped]))
    assert torch.equal(y[~dropped], x[~dropped] / (1 - p))  # survivors scaled by 1/(1-p)
    assert abs(dropped.float().mean().item() - p) < tolerance(p, batch)
    assert torch.equal(drop_path(x, p, training=False), x)


def test_drop_path_on_2d_input():
    x = torch.ones(1000, 7)
    y = drop_path(x, 0.5, True, generator=gen(19))
    assert torch.equal(y.min(dim=1).values, y.max(dim=1).values)  # rows are all-or-nothing
    assert 0 < (y[:, 0] == 0).sum() < 1000


def test_p_zero_keeps_everything():
    x = torch.randn(10_000, generator=gen(20))
    assert torch.equal(keep_mask(x.shape, 0.0, gen(21)), torch.ones_like(x))
    assert torch.equal(inverted_dropout(x, 0.0, True, generator=gen(22)), x)
    assert torch.equal(vanilla_dropout(x, 0.0, True, generator=gen(23)), x)
    assert torch.equal(vanilla_dropout(x, 0.0, False), x)
    assert torch.equal(drop_path(x.view(100, 100), 0.0, True, generator=gen(24)), x.view(100, 100))
    assert torch.equal(torch_keep_mask(x.shape, 0.0, gen(25)), torch.ones_like(x))


def test_variant_table_names_every_config_variant():
    from dropviz.config import VARIANTS

    assert set(VARIANT_FUNCTIONS) == set(VARIANTS)
    assert VARIANT_FUNCTIONS["inverted"] is inverted_dropout and VARIANT_FUNCTIONS["vanilla"] is vanilla_dropout


# --- exact masks: the keep probability is 1 - p itself ------------------------------------------------------

def float32(p: float) -> float:
    return float(torch.tensor(p, dtype=torch.float32))  # the p a StackedMLP stores and draws with


@pytest.mark.parametrize("p", [0.5, 0.1, 0.3, 0.37, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999, 1 - 2**-24, 2**-9])
def test_keep_threshold_realises_p_exactly(p):
    """Of the 2³² values of 32 random bits, exactly a fraction 1 - p keeps a unit, for every float32 p ≥ 2⁻⁹
    (16 bits realised p = 0.999 as 0.99901, −0.8 % in the expected multiplier, and 0.99999 as 0.999985, +52 %)."""
    p = float32(p)
    threshold = keep_threshold(p)
    assert MASK_BITS == 32 and -2**31 <= threshold < 2**31  # an int32 comparison
    keep_probability = Fraction(2**31 - threshold, 2**32)  # the int32 values v >= threshold
    assert keep_probability == 1 - Fraction(p)
    # The boundary: the value just below the threshold drops a unit, the threshold keeps it.
    bits = torch.tensor([threshold - 1, threshold] if threshold > -2**31 else [threshold, threshold], dtype=torch.int32)
    assert keep_from_bits(bits, p).tolist() == ([0.0, 1.0] if threshold > -2**31 else [1.0, 1.0])
    # So the rescaled expectation is 1 up to float32 rounding of the scale 1/(1 - p) alone.
    scale = float(1 / (1 - torch.tensor(p)))
    assert abs(float(keep_probability) * scale - 1) < 2e-7


@pytest.mark.parametrize("p", [1e-4, 1e-6, 3e-9])
def test_small_p_is_realised_within_two_to_the_minus_32(p):
    p = float32(p)
    keep_probability = Fraction(2**31 - keep_threshold(p), 2**32)
    assert abs(keep_probability - (1 - Fraction(p))) < Fraction(1, 2**32)
    assert keep_threshold(0.0) == -2**31  # p = 0: every value keeps the unit


def test_a_tensor_p_gives_the_same_thresholds():
    ps = [0.0, 0.5, float32(0.99999), float32(0.3)]
    thresholds = keep_threshold(torch.tensor(ps, dtype=torch.float32))
    assert thresholds.tolist() == [keep_threshold(p) for p in ps]
    bits = random_bits((4, 1000), gen(30))
    assert torch.equal(keep_from_bits(bits, torch.tensor(ps).view(4, 1)),
                       torch.stack([keep_from_bits(bits[i], p) for i, p in enumerate(ps)]))


@pytest.mark.parametrize("p", [0.99999, 0.999])
def test_realised_drop_fraction_and_rescaled_expectation_at_p_near_one(p):
    """40 million units: the kept fraction is 1 - p and the mean inverted-dropout multiplier is 1 (5 σ).
    At p = 0.99999 16-bit masks gave a mean multiplier of 1.52, far outside."""
    p = float32(p)
    units, kept = 40_000_000, 0
    g = gen(31)
    for _ in range(10):
        kept += int(keep_mask((units // 10,), p, g).sum())
    q = 1 - p  # keep probability
    sigma = math.sqrt(q * (1 - q) / units)  # of the kept fraction
    assert abs(kept / units - q) < 5 * sigma
    mean_multiplier = kept / units / float(torch.tensor(q, dtype=torch.float32))
    assert abs(mean_multiplier - 1) < 5 * sigma / q


def test_random_bits_drawn_at_once_are_the_bits_drawn_in_steps():
    """The fused backend draws 16 steps' bits in one call; on the CPU that is the same sequence."""
    g1, g2 = gen(32), gen(32)
    once = random_bits((3, 2 * 7 * 5), g1)  # three steps of 2·7·5 units (an even count: whole words)
    steps = torch.stack([random_bits((2 * 7 * 5,), g2) for _ in range(3)])
    assert torch.equal(once, steps)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_every_draw_needs_a_generator():
    """The global generator is shared by a server's threads: a mask drawn from it is refused."""
    x = torch.ones(10)
    for draw in (lambda: keep_mask((10,), 0.5), lambda: inverted_dropout(x, 0.5, True),
                 lambda: vanilla_dropout(x, 0.5, True), lambda: drop_path(x, 0.5, True),
                 lambda: torch_keep_mask((10,), 0.5), lambda: random_bits((10,))):
        with pytest.raises(ValueError, match="Generator"):
            draw()
    assert torch.equal(inverted_dropout(x, 0.5, True, mask=torch.ones(10)), 2 * x)  # a given mask draws nothing
