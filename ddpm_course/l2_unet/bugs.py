"""Known-buggy implementations and valid alternatives for lesson 2, as edits of the solution cells.

`make test` asserts each Bug loses the points of `fails` and of no other check, with a message
containing `says` that the visible check shows (or, for a `hidden_only` bug, a hidden case that says
so), and that each Alternative passes every check. Not released to students.
"""
from ddpm_course.mutations import Alternative, Bug

ATTEND = "return x + self.attention(self.norm(x))"
STEP = '        h = h + rearrange(self.time_proj(time_emb), "b c -> b c 1 1")\n'
STAGE2 = "        h = self.act(self.norm2(self.conv2(h)))\n"
RESIDUAL_CHOICE = ("        if input_channels != output_channels:\n"
                   "            self.residual = nn.Conv2d(input_channels, output_channels, kernel_size=1)\n"
                   "        else:\n"
                   "            self.residual = nn.Identity()\n")
CONV1 = "self.conv1 = nn.Conv2d(input_channels, output_channels, kernel_size=3, padding=1)"
CONV2 = "self.conv2 = nn.Conv2d(output_channels, output_channels, kernel_size=3, padding=1)"
RESIDUAL_CONV = "self.residual = nn.Conv2d(input_channels, output_channels, kernel_size=1)"
SKIP = "        skip = self.attention(h)\n        return self.downsample(skip), skip"
DOWNSAMPLE = ("        if downsample:\n"
              "            self.downsample = nn.Conv2d(channels_out, channels_out, kernel_size=4, stride=2, "
              "padding=1)\n"
              "        else:\n"
              "            self.downsample = nn.Identity()\n")
MID_ATTEND = "        h = self.attention(h)\n        return self.block2(h, step_emb)"
CAT = "torch.cat([x, skip], dim=1)"
UP_PATH = "        for up in self.ups:\n            h = up(h, step_emb, skips.pop())"
DOWN_ATTENTION = ("        if attention:\n            self.attention = AttentionBlock(channels_out)\n"
                  "        else:\n            self.attention = nn.Identity()\n")
UP_ATTENTION = ("        if attention:\n            self.attention = AttentionBlock(dim_in)\n"
                "        else:\n            self.attention = nn.Identity()\n")
UP_LEVELS = "for i, ((dim_in, dim_out), attend) in enumerate(reversed(levels))"
UP_CALL_ATTENTION = "upsample=i < last,\n                                          attention=attend)"
VALIDATE_CHANNELS = ('            if dim % groups or dim % 4:\n'
                     '                raise ValueError(f"channel count {dim} (channels={channels}, '
                     'dim_mults={tuple(dim_mults)}) must be "\n'
                     '                                 f"divisible by groups={groups} and by the 4 attention heads")\n')
SHAPE_CHECK = ('        if height % 2**halvings or width % 2**halvings:\n'
               '            raise ValueError(f"image_shape {tuple(image_shape)} cannot be halved {halvings} '
               'times, as "\n'
               '                             f"dim_mults={tuple(dim_mults)} requires: H and W must be divisible by '
               '{2**halvings}")\n')
STAGE1 = "        h = self.act(self.norm1(self.conv1(x)))\n"
LEVELS_UP = "for i, ((dim_in, dim_out), attend) in enumerate(reversed(levels))])"
STEP_EMB = "        step_emb = self.step_embedding(num_steps)\n"

BUGS = [
    # AttentionBlock
    Bug("attends to a detached normalised input", "attnblock_impl",
        (ATTEND, "return x + self.attention(self.norm(x).detach())"),
        fails="attnblock_values", says="have no gradient: norm.weight"),
    Bug("residual add missing", "attnblock_impl", (ATTEND, "return self.attention(self.norm(x))"),
        fails="attnblock_values", says="residual add is missing"),
    Bug("GroupNorm with 4 groups", "attnblock_impl",
        ("self.norm = nn.GroupNorm(1, channels)", "self.norm = nn.GroupNorm(4, channels)"),
        fails="attnblock_values", says="with 1 group"),
    Bug("no GroupNorm before the attention", "attnblock_impl", (ATTEND, "return x + self.attention(x)"),
        fails="attnblock_values", says="GroupNorm is not applied"),
    Bug("adds the normalised input", "attnblock_impl",
        (ATTEND, "h = self.norm(x)\n        return h + self.attention(h)"),
        fails="attnblock_values", says="normalised input"),
    Bug("post-norm", "attnblock_impl", (ATTEND, "return self.norm(x + self.attention(x))"),
        fails="attnblock_values", says="post-norm"),
    Bug("a single attention head", "attnblock_impl",
        ("= SelfAttention(channels, num_heads=4)", "= SelfAttention(channels, num_heads=1)"),
        fails="attnblock_values", says="4 heads"),
    Bug("residual added in place onto the input", "attnblock_impl",
        (ATTEND, "x += self.attention(self.norm(x))\n        return x"),
        fails="attnblock_values", says="changed its input in place"),
    # ResidualBlock
    Bug("time_proj through GELU", "resblock_impl",
        ("self.time_proj = nn.Sequential(nn.SiLU(),", "self.time_proj = nn.Sequential(nn.GELU(),"),
        fails="resblock_values", says="time_proj[0] should be nn.SiLU() or act as one"),
    Bug("residual added in place", "resblock_impl",
        ("        return h + self.residual(x)", "        return self.residual(x).add_(h)"),
        fails="resblock_values", says="changed its input in place"),
    Bug("step embedding added after the second conv", "resblock_impl", (STEP + STAGE2, STAGE2 + STEP),
        fails="resblock_values", says="after the second conv"),
    Bug("no 1x1 residual conv", "resblock_impl", (RESIDUAL_CHOICE, "        self.residual = nn.Identity()\n"),
        fails="resblock_values", says="1x1"),
    Bug("1x1 conv only when the channels grow", "resblock_impl",
        ("if input_channels != output_channels:", "if input_channels < output_channels:"),
        fails="resblock_values", says="1x1"),
    Bug("GroupNorm with one group", "resblock_impl",
        ("self.norm1 = nn.GroupNorm(groups, output_channels)", "self.norm1 = nn.GroupNorm(1, output_channels)"),
        fails="resblock_values", says="with 2 groups"),
    Bug("residual add missing", "resblock_impl", ("        return h + self.residual(x)", "        return h"),
        fails="resblock_values", says="residual branch is missing"),
    Bug("SiLU before GroupNorm", "resblock_impl",
        ("self.act(self.norm1(self.conv1(x)))", "self.norm1(self.act(self.conv1(x)))"),
        ("self.act(self.norm2(self.conv2(h)))", "self.norm2(self.act(self.conv2(h)))"),
        fails="resblock_values", says="SiLU before GroupNorm"),
    Bug("step embedding skips the SiLU", "resblock_impl", ("self.time_proj(time_emb)", "self.time_proj[1](time_emb)"),
        fails="resblock_values", says="skipped the SiLU"),
    Bug("step embedding never added", "resblock_impl", (STEP, ""),
        fails="resblock_values", says="never added"),
    Bug("convolutions without bias", "resblock_impl", (CONV1, CONV1[:-1] + ", bias=False)"),
        (CONV2, CONV2[:-1] + ", bias=False)"), (RESIDUAL_CONV, RESIDUAL_CONV[:-1] + ", bias=False)"),
        fails="resblock_values", says="biases of the convolutions"),
    Bug("residual added before the last SiLU", "resblock_impl",
        (STAGE2 + "        return h + self.residual(x)",
         "        return self.act(self.norm2(self.conv2(h)) + self.residual(x))"),
        fails="resblock_values", says="before the last SiLU"),
    # ResidualBlock: autograd (issue 21)
    Bug("SiLU as sigmoid(h).mul_(h): in place on what autograd saved", "resblock_impl",
        (STAGE1, "        h = self.norm1(self.conv1(x))\n        h = torch.sigmoid(h).mul_(h)\n"),
        fails="resblock_values", says="backward through"),
    Bug("step embedding detached", "resblock_impl", ("self.time_proj(time_emb)", "self.time_proj(time_emb.detach())"),
        fails="resblock_values", says="the input time_emb has no gradient"),
    Bug("projected step kept on self from the first call", "resblock_impl",
        (STEP, "        if not hasattr(self, \"step\"):\n"
               "            self.step = rearrange(self.time_proj(time_emb), \"b c -> b c 1 1\")\n"
               "        h = h + self.step\n"),
        fails="resblock_values", says="keep nothing from one call to the next"),
    Bug("step embedding moved to the CPU", "resblock_impl",
        ("self.time_proj(time_emb)", "self.time_proj(time_emb.cpu())"),
        fails="resblock_values", says="move nothing to the CPU"),
    # DownBlock
    Bug("skip returned detached", "downblock_impl",
        ("        return self.downsample(skip), skip", "        return self.downsample(skip), skip.detach()"),
        fails="downblock_values", says="not the gradients"),
    Bug("skip taken before the attention", "downblock_impl",
        (SKIP, "        skip = h\n        return self.downsample(self.attention(h)), skip"),
        fails="downblock_values", says="skip is taken before the attention"),
    Bug("returns (skip, downsampled)", "downblock_impl", (SKIP, "        skip = self.attention(h)\n"
                                                                "        return skip, self.downsample(skip)"),
        fails="downblock_values", says="as (downsampled, skip)"),
    Bug("never downsamples", "downblock_impl", (DOWNSAMPLE, "        self.downsample = nn.Identity()\n"),
        fails="downblock_values", says="stride=2"),
    Bug("3x3 downsampling conv", "downblock_impl",
        ("kernel_size=4, stride=2, padding=1", "kernel_size=3, stride=2, padding=1"),
        fails="downblock_values", says="4x4 convolution"),
    Bug("block1 keeps channels_in", "downblock_impl",
        ("self.block1 = ResidualBlock(channels_in, channels_out, time_emb_dim, groups)",
         "self.block1 = ResidualBlock(channels_in, channels_in, time_emb_dim, groups)"),
        ("self.block2 = ResidualBlock(channels_out, channels_out,",
         "self.block2 = ResidualBlock(channels_in, channels_out,"),
        fails="downblock_values", says="block1 changes the channel count"),
    Bug("attention never applied", "downblock_impl", ("        skip = self.attention(h)\n", "        skip = h\n"),
        fails="downblock_values", says="AttentionBlock is not applied"),
    Bug("ignores the attention flag: always attends", "downblock_impl",
        (DOWN_ATTENTION, "        self.attention = AttentionBlock(channels_out)\n"),
        fails="downblock_values", says="nn.Identity() when attention=False"),
    Bug("attention flag inverted", "downblock_impl", ("        if attention:\n", "        if not attention:\n"),
        fails="downblock_values", says="with attention=True the block attends"),
    # MidBlock
    Bug("attention output detached", "midblock_impl",
        ("        h = self.attention(h)\n", "        h = self.attention(h).detach()\n"),
        fails="midblock_values", says="the input x has no gradient"),
    Bug("attention never applied", "midblock_impl", ("        h = self.attention(h)\n", ""),
        fails="midblock_values", says="never applied"),
    Bug("attention after block2", "midblock_impl",
        (MID_ATTEND, "        return self.attention(self.block2(h, step_emb))"),
        fails="midblock_values", says="after block2"),
    Bug("attention first", "midblock_impl",
        ("        h = self.block1(x, step_emb)\n        h = self.attention(h)\n",
         "        h = self.block1(self.attention(x), step_emb)\n"),
        fails="midblock_values", says="runs first"),
    Bug("one ResidualBlock used twice", "midblock_impl",
        ("self.block2 = ResidualBlock(mid_dim, mid_dim, time_emb_dim, groups)", "self.block2 = self.block1"),
        fails="midblock_values", says="same module"),
    Bug("ResidualBlocks with one group", "midblock_impl",
        ("self.block1 = ResidualBlock(mid_dim, mid_dim, time_emb_dim, groups)",
         "self.block1 = ResidualBlock(mid_dim, mid_dim, time_emb_dim, 1)"),
        fails="midblock_values", says="built with other arguments"),
    # UpBlock
    Bug("skip concatenated detached", "upblock_impl", (CAT, "torch.cat([x, skip.detach()], dim=1)"),
        fails="upblock_values", says="the input skip has no gradient"),
    Bug("concatenates (skip, x)", "upblock_impl", (CAT, "torch.cat([skip, x], dim=1)"),
        fails="upblock_values", says="x first, then skip"),
    Bug("concatenates on the batch axis", "upblock_impl", (CAT, "torch.cat([x, skip], dim=0)"),
        fails="upblock_values", says="batch axis"),
    Bug("concatenates on the height axis", "upblock_impl", (CAT, "torch.cat([x, skip], dim=2)"),
        fails="upblock_values", says="height axis"),
    Bug("block1 expects dim_out channels", "upblock_impl",
        ("self.block1 = ResidualBlock(2 * dim_out, dim_in,", "self.block1 = ResidualBlock(dim_out, dim_in,"),
        fails="upblock_values", says="2 * dim_out"),
    Bug("upsamples with a strided Conv2d", "upblock_impl",
        ("self.upsample = nn.ConvTranspose2d(dim_in, dim_in,", "self.upsample = nn.Conv2d(dim_in, dim_in,"),
        fails="upblock_values", says="ConvTranspose2d"),
    Bug("attention never applied", "upblock_impl", ("        h = self.attention(h)\n", ""),
        fails="upblock_values", says="AttentionBlock is never applied"),
    Bug("ignores the attention flag: always attends", "upblock_impl",
        (UP_ATTENTION, "        self.attention = AttentionBlock(dim_in)\n"),
        fails="upblock_values", says="nn.Identity() when attention=False"),
    # Unet
    Bug("skips popped in the wrong order", "unet_impl", ("skips.pop()", "skips.pop(0)"),
        fails="unet_values", says="last in, first out"),
    Bug("the last UpBlock upsamples", "unet_impl", ("upsample=i < last,", "upsample=True,"),
        fails="unet_values", says="should not upsample"),
    Bug("the last DownBlock downsamples", "unet_impl", ("downsample=i < last,", "downsample=True,"),
        fails="unet_values", says="should not downsample"),
    Bug("up path not reversed", "unet_impl", ("enumerate(reversed(levels))", "enumerate(levels)"),
        fails="unet_values", says="in reverse"),
    Bug("attention_levels ignored: every level attends", "unet_impl",
        (",\n                                              attention=attend)", ")"),
        (",\n                                          attention=attend)", ")"),
        fails="unet_values", says="downs[0] should not attend"),
    Bug("up path attends as the down path at the same index, not the mirrored level", "unet_impl",
        (UP_LEVELS, "for i, ((dim_in, dim_out), _) in enumerate(reversed(levels))"),
        (UP_CALL_ATTENTION, UP_CALL_ATTENTION.replace("attend", "self.attention_levels[i]")),
        fails="unet_values", says="it mirrors downs["),
    Bug("no GELU in the step MLP", "unet_impl", ("            nn.GELU(),\n", ""),
        fails="unet_values", says="step_embedding should be"),
    Bug("3x3 input conv", "unet_impl", ("kernel_size=7, padding=3", "kernel_size=3, padding=1"),
        fails="unet_values", says="kernel_size=7"),
    Bug("Unet convolutions without bias", "unet_impl",
        ("kernel_size=7, padding=3)", "kernel_size=7, padding=3, bias=False)"),
        ("image_channels, kernel_size=1)", "image_channels, kernel_size=1, bias=False)"),
        fails="unet_values", says="biases of the convolutions"),
    Bug("final block never applied", "unet_impl",
        ("return self.output_conv(self.final_block(h, step_emb))", "return self.output_conv(h)"),
        fails="unet_values", says="final_block is never applied"),
    Bug("step embedding through SiLU, not GELU", "unet_impl",
        ("            nn.GELU(),\n", "            nn.SiLU(),\n"), fails="unet_values", says="nn.GELU()"),
    Bug("3x3 input conv", "unet_impl",
        ("nn.Conv2d(image_channels, channels, kernel_size=7, padding=3)",
         "nn.Conv2d(image_channels, channels, kernel_size=3, padding=1)"), fails="unet_values", says="kernel_size=7"),
    Bug("ups one block short", "unet_impl", (LEVELS_UP, LEVELS_UP.replace("reversed(levels)", "reversed(levels[1:])")),
        fails="unet_values", says="ups holds 1 block, expected 2"),
    # Unet properties
    Bug("validation over-strict: every channel count divisible by groups * heads", "unet_impl",
        ("if dim % groups or dim % 4:", "if dim % (groups * 4):"),
        fails="unet_properties", says="but it is valid"),
    Bug("no shape validation", "unet_impl", (SHAPE_CHECK, ""),
        fails="unet_properties", says="should raise a ValueError"),
    Bug("validates H only", "unet_impl",
        ("if height % 2**halvings or width % 2**halvings:", "if height % 2**halvings:"),
        fails="unet_properties", says="should raise a ValueError"),
    Bug("validates 2 ** len(dim_mults)", "unet_impl",
        ("halvings = len(dim_mults) - 1", "halvings = len(dim_mults)"),
        fails="unet_properties", says="can be halved twice"),
    Bug("shape error names neither shape nor dim_mults", "unet_impl",
        (SHAPE_CHECK, '        if height % 2**halvings or width % 2**halvings:\n'
                      '            raise ValueError("the image is too small for this network")\n'),
        fails="unet_properties", says="should name"),
    Bug("input conv detached", "unet_impl", ("h = self.input_conv(x)", "h = self.input_conv(x).detach()"),
        fails="unet_properties", says="got no gradient"),
    Bug("step embedding under no_grad", "unet_impl",
        (STEP_EMB, "        with torch.no_grad():\n            step_emb = self.step_embedding(num_steps)\n"),
        fails="unet_properties", says="got no gradient"),
    Bug("skips kept on self and never cleared: stale from the second call on", "unet_impl",
        ("        skips = []\n", "        skips = self.__dict__.setdefault(\"skips\", [])\n"),
        (UP_PATH, "        for i, up in enumerate(self.ups):\n"
                  "            h = up(h, step_emb, skips[len(self.ups) - 1 - i])"),
        fails="unet_properties", says="build the list of skips afresh"),
]

ALTERNATIVES = [
    Alternative("the student's own lesson-1 GroupNorm and SiLU", "resblock_impl",
                ("class ResidualBlock(nn.Module):",
                 "from ddpm_course.l1_blocks.reference import GroupNorm, SiLU\n\n\nclass ResidualBlock(nn.Module):"),
                *[(f"self.{n} = nn.GroupNorm(groups", f"self.{n} = GroupNorm(groups") for n in ("norm1", "norm2")],
                ("self.time_proj = nn.Sequential(nn.SiLU(),", "self.time_proj = nn.Sequential(SiLU(),"),
                ("self.act = nn.SiLU()", "self.act = SiLU()")),
    Alternative("the student's own lesson-1 GroupNorm in the AttentionBlock", "attnblock_impl",
                ("class AttentionBlock(nn.Module):",
                 "from ddpm_course.l1_blocks.reference import GroupNorm\n\n\nclass AttentionBlock(nn.Module):"),
                ("self.norm = nn.GroupNorm(1, channels)", "self.norm = GroupNorm(1, channels)")),
    Alternative("heads validated before groups, GroupNorm capitalised", "unet_impl",
                (VALIDATE_CHANNELS,
                 "            if dim % 4:\n"
                 "                raise ValueError(f\"{dim} channels do not split into 4 attention heads\")\n"
                 "            if dim % groups:\n"
                 "                raise ValueError(f\"{dim} channels do not split evenly into \"\n"
                 "                                 f\"GroupNorm({groups}, {dim})\")\n")),
    Alternative("broadcast the step with None indexing", "resblock_impl",
                ('rearrange(self.time_proj(time_emb), "b c -> b c 1 1")',
                 "self.time_proj(time_emb)[:, :, None, None]")),
    Alternative("residual as nn.Linear over the channels", "resblock_impl",
                (RESIDUAL_CONV, "self.residual = nn.Linear(input_channels, output_channels)"),
                ("return h + self.residual(x)",
                 'return h + rearrange(self.residual(rearrange(x, "b c h w -> b h w c")), "b h w c -> b c h w")')),
    Alternative("F.silu and padding='same'", "resblock_impl",
                ("        self.act = nn.SiLU()\n", ""),
                ("self.act(self.norm1(self.conv1(x)))", "F.silu(self.norm1(self.conv1(x)))"),
                ("self.act(self.norm2(self.conv2(h)))", "F.silu(self.norm2(self.conv2(h)))"),
                (CONV1, CONV1.replace("padding=1", 'padding="same"')),
                (CONV2, CONV2.replace("padding=1", 'padding="same"'))),
    Alternative("SiLU by hand, h * sigmoid(h), not in place", "resblock_impl",
                (STAGE1, "        h = self.norm1(self.conv1(x))\n        h = h * torch.sigmoid(h)\n")),
    Alternative("skip returned as a copy", "downblock_impl",
                ("        return self.downsample(skip), skip", "        return self.downsample(skip), skip.clone()")),
    Alternative("skips concatenated with torch.concat on the channel axis", "upblock_impl",
                (CAT, "torch.concat([x, skip], dim=1)")),
    Alternative("concatenate on dim=-3", "upblock_impl", (CAT, "torch.cat((x, skip), dim=-3)")),
    Alternative("concatenate with einops", "upblock_impl",
                (CAT, 'rearrange([x, skip], "two b c h w -> b (two c) h w")')),
    Alternative("up-path attention looked up by mirrored index", "unet_impl",
                (UP_LEVELS, "for i, (dim_in, dim_out) in enumerate(reversed(list(zip(dims, dims[1:]))))"),
                (UP_CALL_ATTENTION, UP_CALL_ATTENTION.replace("attend", "self.attention_levels[last - i]"))),
    Alternative("attention module chosen inline", "upblock_impl",
                (UP_ATTENTION, "        self.attention = AttentionBlock(dim_in) if attention else nn.Identity()\n")),
    Alternative("skips read in reverse instead of popped", "unet_impl",
                (UP_PATH, "        for up, skip in zip(self.ups, reversed(skips)):\n"
                          "            h = up(h, step_emb, skip)")),
    Alternative("attention block in two steps", "attnblock_impl",
                (ATTEND, "attended = self.attention(self.norm(x))\n        return attended + x")),
    Alternative("one nested expression, downsample chosen inline", "downblock_impl",
                ("        if downsample:\n            self.downsample = nn.Conv2d(channels_out, channels_out, "
                 "kernel_size=4, stride=2, padding=1)\n        else:\n            self.downsample = nn.Identity()",
                 "        self.downsample = (nn.Conv2d(channels_out, channels_out, 4, 2, 1) if downsample "
                 "else nn.Identity())"),
                ("        h = self.block1(x, step_emb)\n        h = self.block2(h, step_emb)\n"
                 "        skip = self.attention(h)",
                 "        skip = self.attention(self.block2(self.block1(x, step_emb), step_emb))")),
    Alternative("one nested expression", "midblock_impl",
                ("        h = self.block1(x, step_emb)\n        h = self.attention(h)\n"
                 "        return self.block2(h, step_emb)",
                 "        return self.block2(self.attention(self.block1(x, step_emb)), step_emb)")),
]
