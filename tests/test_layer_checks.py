"""Layer checks: is a misconfigured layer named, with expected and found, and a parameter count explained?"""
import pytest
import torch
from torch import nn

from ddpm_course import layer_checks as st
from ddpm_course.checking import CheckFailure
from ddpm_course.l1_blocks import reference as l1


def parent(**layers) -> nn.Module:
    module = nn.Module()
    for name, layer in layers.items():
        setattr(module, name, layer)
    return module


@pytest.mark.parametrize(("layer", "says"), [
    (None, "found nothing (no such attribute"),
    (nn.Conv2d(4, 8, 3), "should be nn.Conv2d(4, 8, kernel_size=3, padding=1), found Conv2d(4, 8"),
    (nn.Linear(4, 8), "found Linear(in_features=4"),
], ids=["missing", "no padding", "wrong kind"])
def test_a_misconfigured_conv_is_named_with_expected_and_found(layer, says):
    """Does expect_conv name the layer, what it should be, and what was found?"""
    with pytest.raises(CheckFailure, match="Block.conv1 should be") as info:
        st.expect_conv(parent(conv1=layer), "conv1", "Block", 4, 8, 3, padding=1)
    assert says in str(info.value)


def test_group_count_is_reported_apart_from_channel_count():
    """Does a GroupNorm with the wrong number of groups say so, in words?"""
    with pytest.raises(CheckFailure, match=r"nn.GroupNorm\(1, 8\) with 1 group, found nn.GroupNorm\(4, 8\)"):
        st.expect_groupnorm(parent(norm=nn.GroupNorm(4, 8)), "norm", "Block", 1, 8)


def test_a_parameter_gap_of_exactly_the_conv_biases_names_them():
    """When the only difference is convolutions built with bias=False, does the hint name them?"""
    block = parent(conv=nn.Conv2d(3, 5, 3, bias=False))
    with pytest.raises(CheckFailure, match=r"has 135 parameters, expected 140 \(-5\)\n.*bias=False \(conv\)"):
        st.expect_parameter_count(block, st.conv_parameters(3, 5, 3), "Block")


def test_a_module_is_built_reproducibly_without_touching_the_global_rng():
    """Does build() give the same weights for the same seed, and leave the student's RNG as it was?"""
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    first, second = (st.build(nn.Linear, 3, 2, seed=1, what="Linear") for _ in range(2))
    assert torch.equal(first.weight, second.weight)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_built_with_other_arguments_points_at_the_line_that_differs():
    """Does expect_built_as show the first differing line of the two module descriptions?"""
    with pytest.raises(CheckFailure, match=r"built with other arguments: it has '\(0\): Linear\(in_features=3"):
        st.expect_built_as(nn.Sequential(nn.Linear(3, 2)), "Block.proj", "Sequential", nn.Linear(4, 2))


def test_a_long_description_is_cut_to_one_line_that_keeps_the_count():
    """Is what was found described on one line of at most 120 characters that still says how many
    children it has (the part that usually differs)?"""
    text = st.describe(nn.Sequential(*[nn.Linear(8, 8) for _ in range(10)]))
    assert "\n" not in text and len(text) <= 120 and "10 children" in text


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_a_students_own_groupnorm_passes_as_nn_groupnorm(groups):
    """Does a GroupNorm written from scratch (lesson 1's) pass where nn.GroupNorm(groups, 8) is prescribed?"""
    assert st.expect_groupnorm(parent(norm=l1.GroupNorm(groups, 8)), "norm", "Block", groups, 8) is not None


def test_an_own_groupnorm_with_other_groups_is_told_apart():
    """Does a student's GroupNorm with the wrong group count fail with a message whose expected and found differ?"""
    with pytest.raises(CheckFailure, match=r"should be nn.GroupNorm\(1, 8\) with 1 group, found your own "
                                           r"GroupNorm, which acts as nn.GroupNorm\(4, 8\)"):
        st.expect_groupnorm(parent(norm=l1.GroupNorm(4, 8)), "norm", "Block", 1, 8)


@pytest.mark.parametrize(("module", "acts"), [(l1.SiLU(), True), (nn.SiLU(), True), (nn.GELU(), False),
                                              (nn.Linear(25, 25), False)])
def test_a_silu_is_judged_by_what_it_computes(module, acts):
    """Does a module pass as SiLU exactly when it computes x * sigmoid(x) and has no parameters?"""
    assert st.acts_as_silu(module) is acts
