"""The checks lesson 2's notebook calls, one per graded cell, split by topic:
checks_blocks (AttentionBlock, ResidualBlock), checks_wiring (DownBlock, MidBlock, UpBlock) and
checks_unet (Unet). They need no reference code of this lesson: DownBlock, MidBlock, UpBlock and
Unet run with their sub-blocks replaced by fake blocks (fakes.py), so a bug in an earlier block
never costs the points of a later one.
"""
from ddpm_course.l2_unet.checks_blocks import attention_block, resblock
from ddpm_course.l2_unet.checks_unet import unet, unet_properties
from ddpm_course.l2_unet.checks_wiring import downblock, midblock, upblock

__all__ = ["attention_block", "resblock", "downblock", "midblock", "upblock", "unet", "unet_properties"]
