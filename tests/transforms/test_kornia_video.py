"""kornia's ``RandomStylize(bank=None)`` in a ``VideoSequential``: frame t of each clip takes its style from frame t
of another clip. kornia draws the params once per clip and repeats them over the flattened frames; read as frame
rows, clip 0 was styled with itself and clips 1 and 2 both with clip 0, without a word."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch

from stylizing_vit_aug.kornia import RandomStylize

CLIPS, FRAMES = 3, 3


@pytest.fixture
def video() -> torch.Tensor:
    """(clips, frames, 3, H, W) in 0–1, every frame its own picture."""
    return torch.rand(CLIPS, FRAMES, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_each_frame_takes_the_same_frame_of_another_clip(small_stylizer, video):
    sequence = K.VideoSequential(RandomStylize(small_stylizer, bank=None, p=1.0), data_format="BTCHW")
    out = sequence(video)
    partner = sequence._params[0].data["style_index"].view(CLIPS, FRAMES)
    assert bool((partner == partner[:, :1]).all())  # the frames of a clip share one partner clip
    assert bool((partner[:, 0] != torch.arange(CLIPS)).all())  # ... never their own
    for clip in range(CLIPS):
        styles = small_stylizer.encode_style(video[int(partner[clip, 0])])  # frame t of the partner, for frame t
        want = small_stylizer.stylize_batch(video[clip], styles, torch.ones(FRAMES))
        torch.testing.assert_close(out[clip], want, rtol=0, atol=1e-5)
    assert torch.equal(sequence(video, params=sequence._params), out)  # a replay applies the same styles
    unrecorded = {key: value for key, value in sequence._params[0].data.items() if key != "video_batch_size"}
    flat = video.flatten(0, 1)  # a kornia that records no clip count: the clips are the rows drawn for
    assert torch.equal(sequence[0](flat, params=unrecorded), out.flatten(0, 1))


def test_one_clip_is_left_as_it_is(small_stylizer, video):
    """No other clip to take a style from: an image is never styled with its own clip."""
    sequence = K.VideoSequential(RandomStylize(small_stylizer, bank=None, p=1.0), data_format="BTCHW")
    assert torch.equal(sequence(video[:1]), video[:1])


@pytest.mark.parametrize(("same_on_frame", "same_on_batch"), [(False, False), (True, True)])
def test_params_not_drawn_once_per_clip_are_refused(small_stylizer, video, same_on_frame, same_on_batch):
    """Drawn per frame (rolled over the flattened frames, a frame's partner is the next frame of its own clip)
    or once for all clips (no partner at all): refused on every call, whether or not a row fires, saying how."""
    for p in (1.0, 0.0):
        stylize = RandomStylize(small_stylizer, bank=None, p=p, same_on_batch=same_on_batch)
        sequence = K.VideoSequential(stylize, data_format="BTCHW", same_on_frame=same_on_frame)
        with pytest.raises(ValueError, match=r"same_on_frame=True.*same_on_batch=False.*or pass a bank"):
            sequence(video)


@pytest.mark.parametrize("same_on_frame", [True, False])
def test_bank_styles_in_a_video_are_not_refused(small_stylizer, bank, video, same_on_frame):
    """A bank style is an index into the bank, the same whichever frame it is repeated over."""
    sequence = K.VideoSequential(RandomStylize(small_stylizer, bank, p=1.0), data_format="BTCHW",
                                 same_on_frame=same_on_frame)
    out = sequence(video)
    assert bool((out != video).flatten(2).any(2).all())  # every frame stylised
