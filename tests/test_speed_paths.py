"""The fast paths of issue 20 give the numbers of the paths they replace.

``stylize_with_self`` skips the self branch's first layer (it is the content's own next layer)
and projects the shared query of the two next-query updates once; both must equal the plain
computation (two separate block applications per stream).
"""

from __future__ import annotations

import pytest
import torch

from stylizing_vit_aug.model import create_model


def _plain_stylize_with_self(model, content, style):
    """The previous ``stylize_with_self``: every stream computed by whole block applications."""
    batch = content.shape[0]
    a = u = u_self = model.encoder.embed(content)
    context = style.layers.to(a.dtype)
    last = len(model.encoder.blocks) - 1
    for i, block in enumerate(model.encoder.blocks):
        a_next = block(a, a)
        t_self = block(u_self, a)
        t = block(u, context[i])
        if i < last:
            u, u_self = block(a_next, t), block(a_next, t_self)
        a = a_next
    out = model.decode(model.encoder.norm(torch.cat([t, t_self])))
    return out[:batch], out[batch:]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("tiny", img_size=32, patch_size=8, depth=3).eval()


@pytest.mark.parametrize("batch,styles", [(1, 1), (3, 1), (3, 3)])
def test_stylize_with_self_equals_the_plain_computation(model, batch, styles):
    torch.manual_seed(batch + styles)
    content = torch.randn(batch, 3, 32, 32)
    with torch.inference_mode():
        stream = model.encode_style(torch.randn(styles, 3, 32, 32))
        fast = model.stylize_with_self(content, stream)
        plain = _plain_stylize_with_self(model, content, stream)
    for got, want in zip(fast, plain):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_a_shared_query_over_stacked_contexts_equals_separate_blocks(model):
    block = model.encoder.blocks[1]
    torch.manual_seed(1)
    x, y1, y2 = (torch.randn(2, 17, model.config.embed_dim) for _ in range(3))
    with torch.inference_mode():
        stacked = block.attend(x, *block.context(torch.cat([y1, y2])))
        separate = torch.cat([block(x, y1), block(x, y2)])
    torch.testing.assert_close(stacked, separate, atol=1e-6, rtol=0)


def test_one_context_still_serves_a_whole_batch(model):
    block = model.encoder.blocks[0]
    torch.manual_seed(2)
    x, y = torch.randn(4, 17, model.config.embed_dim), torch.randn(1, 17, model.config.embed_dim)
    with torch.inference_mode():
        torch.testing.assert_close(block.attend(x, *block.context(y)), block(x, y.expand(4, -1, -1)), atol=1e-6, rtol=0)
