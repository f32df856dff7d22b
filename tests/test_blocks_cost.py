"""Block keys and the analytic cost model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nas import NasError
from nas.arch import REFERENCES
from nas.blocks import Block, arch_to_blocks
from nas.cost import arch_cost, blocks_cost
from nas.space import get_space, list_spaces

blocks = st.one_of(
    st.builds(Block, kind=st.just("conv"), cin=st.integers(1, 64), cout=st.integers(1, 64),
              hw=st.integers(1, 64), kernel=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2]),
              act=st.sampled_from(["relu", "hswish", "none"])),
    st.builds(Block, kind=st.just("mbconv"), cin=st.integers(1, 64), cout=st.integers(1, 64),
              hw=st.integers(1, 64), kernel=st.sampled_from([3, 5, 7]), stride=st.sampled_from([1, 2]),
              act=st.sampled_from(["relu", "swish"]), mid=st.integers(1, 256),
              se=st.integers(0, 16), expand_conv=st.booleans(), residual=st.booleans()),
    st.builds(Block, kind=st.just("fc"), cin=st.integers(1, 64), cout=st.integers(1, 64), hw=st.just(1)),
)


@given(blocks)
def test_block_key_round_trip(block: Block) -> None:
    assert Block.parse(block.key) == block
    assert hash(Block.parse(block.key)) == hash(block)


@given(blocks)
def test_block_costs_are_non_negative_and_shapes_consistent(block: Block) -> None:
    assert block.macs >= 0 and block.params >= 0
    assert block.peak_activations >= max(np.prod(block.in_shape), np.prod(block.out_shape))
    if block.kind != "fc":
        assert block.out_shape[-1] == -(-block.hw // block.stride)


def test_block_parse_errors() -> None:
    with pytest.raises(NasError, match="expected kind"):
        Block.parse("mbconv cin=3")
    with pytest.raises(NasError, match="unknown field"):
        Block.parse("conv(cin=3,cout=8,hw=8,colour=1)")
    with pytest.raises(NasError, match="kind"):
        Block.parse("deconv(cin=3,cout=8,hw=8)")


@pytest.mark.parametrize("name", list_spaces())
def test_block_list_chains_shapes(name: str) -> None:
    space = get_space(name)
    rng = np.random.default_rng(2)
    for _ in range(10):
        arch = space.sample(rng)
        bl = arch_to_blocks(arch, classes=7, in_channels=1)
        assert bl[0].cin == 1 and bl[0].hw == arch.resolution
        assert bl[-1].kind == "fc" and bl[-1].cout == 7
        for prev, nxt in itertools.pairwise(bl):
            assert prev.out_shape == nxt.in_shape or (prev.kind == "pool" and nxt.in_shape == (prev.cout,))


def test_identity_skips_make_no_block_and_projections_do() -> None:
    mbv2 = REFERENCES["mobilenet_v2_100"].arch
    n_layers = sum(len(s.layers) for s in mbv2.stages)
    n_skips = sum(layer.skip for s in mbv2.stages for layer in s.layers)
    body = [b for b in arch_to_blocks(mbv2) if b.kind == "mbconv"]
    assert len(body) == n_layers - n_skips
    fb = get_space("fbnet")
    values = fb.encode(fb.sample(np.random.default_rng(0)))
    values["s1.l0.op"] = "skip"  # 16 -> 24 channels: a 1x1 projection
    proj = arch_to_blocks(fb.decode(values))[2]
    assert (proj.kind, proj.kernel, proj.cin, proj.cout) == ("conv", 1, 16, 24)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_reference_costs_match_papers_within_2pct(name: str) -> None:
    ref = REFERENCES[name]
    cost = arch_cost(ref.arch)
    assert abs(cost.macs / ref.published_macs - 1) < 0.02, cost.macs
    assert abs(cost.params / ref.published_params - 1) < 0.02, cost.params


@given(st.integers(1, 64), st.sampled_from(["float32", "float16", "int8"]))
def test_peak_memory_scales_with_batch_and_dtype(batch: int, dtype: str) -> None:
    arch = REFERENCES["mobilenet_v2_100"].arch
    one = arch_cost(arch, batch=1, dtype="int8").peak_activation_bytes
    size = {"float32": 4, "float16": 2, "int8": 1}[dtype]
    assert arch_cost(arch, batch=batch, dtype=dtype).peak_activation_bytes == one * batch * size


def test_peak_memory_of_a_known_block() -> None:
    # 1x1-expand residual block on 8x8x4, mid 8: live sets are x+e, x+e+d, x+d+p, x+2p
    b = Block("mbconv", 4, 4, 8, 3, 1, "relu", mid=8, expand_conv=True, residual=True)
    x, e = 4 * 64, 8 * 64
    assert b.peak_activations == x + e + e
    # MobileNetV2's largest live set: stage 1's expanded 112x112x96 tensor and its strided dw
    # output (no residual there, so the block input is not held)
    cost = arch_cost(REFERENCES["mobilenet_v2_100"].arch)
    assert cost.peak_activation_bytes == 4 * (96 * 112 * 112 + 96 * 56 * 56)


def test_cost_errors() -> None:
    with pytest.raises(NasError, match="dtype"):
        blocks_cost(arch_to_blocks(REFERENCES["mnasnet_a1"].arch), dtype="float8")
    with pytest.raises(NasError, match="batch"):
        blocks_cost(arch_to_blocks(REFERENCES["mnasnet_a1"].arch), batch=0)
