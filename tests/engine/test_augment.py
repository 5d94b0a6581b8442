"""Batch augmentation: each transform does what it says, stays in range and is seeded."""
import pytest
import torch

from engine.augment import AugmentOptions, augment_batch, augment_preview, parse_augment_flags


def dot_images(n=16, size=16, at=(8, 3)):
    x = torch.zeros(n, 1, size, size)
    x[:, 0, at[0], at[1]] = 1.0
    return x


def test_disabled_options_return_the_batch_unchanged():
    x = torch.rand(4, 3, 8, 8)
    assert augment_batch(x, AugmentOptions()) is x


def test_hflip_gives_either_the_image_or_its_mirror_and_both_occur():
    x = torch.rand(64, 3, 8, 8)
    out = augment_batch(x, AugmentOptions(hflip=True), torch.Generator().manual_seed(0))
    same = torch.tensor([torch.equal(a, b) for a, b in zip(out, x)])
    mirrored = torch.tensor([torch.equal(a, b.flip(2)) for a, b in zip(out, x)])
    assert bool((same | mirrored).all())
    assert 10 < int(mirrored.sum()) < 54


def test_crop_moves_a_dot_by_at_most_crop_pixels():
    x = dot_images()
    out = augment_batch(x, AugmentOptions(crop=2), torch.Generator().manual_seed(1))
    moved = 0
    for image in out:
        peak = torch.nonzero(image[0] == image[0].max())[0]
        assert abs(int(peak[0]) - 8) <= 2 and abs(int(peak[1]) - 3) <= 2
        moved += int(peak[0]) != 8 or int(peak[1]) != 3
    assert moved > 0


def test_rotation_keeps_the_centre_and_moves_off_centre_content():
    x = dot_images(at=(8, 2))
    out = augment_batch(x, AugmentOptions(rotation=90), torch.Generator().manual_seed(2))
    assert not torch.allclose(out, x)
    assert out.min() >= 0 and out.max() <= 1


def test_colour_jitter_stays_in_range_and_changes_images():
    x = torch.rand(8, 3, 8, 8)
    out = augment_batch(x, AugmentOptions(colour_jitter=0.5), torch.Generator().manual_seed(3))
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)


def test_same_seed_same_augmentation():
    x = torch.rand(8, 3, 12, 12)
    options = AugmentOptions(hflip=True, crop=2, scale=0.2, rotation=20, colour_jitter=0.3)
    a = augment_batch(x, options, torch.Generator().manual_seed(5))
    b = augment_batch(x, options, torch.Generator().manual_seed(5))
    c = augment_batch(x, options, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_preview_is_original_then_variants_as_uint8():
    x = torch.rand(2, 3, 10, 10)
    tiles = augment_preview(x, AugmentOptions(hflip=True), copies=3)
    assert tiles.shape == (8, 10, 10, 3) and tiles.dtype.name == "uint8"
    assert (tiles[0] == (x[0].permute(1, 2, 0) * 255).round().byte().numpy()).all()


def test_parse_flags_with_defaults_values_and_aliases():
    assert parse_augment_flags("hflip,crop=3,rotate,jitter=0.2") == {
        "hflip": True, "crop": 3, "rotation": 15.0, "colour_jitter": 0.2}
    assert parse_augment_flags("") == {}
    with pytest.raises(ValueError, match="Unknown augmentation 'blur'"):
        parse_augment_flags("blur")
