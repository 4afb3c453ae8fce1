"""Known-buggy implementations and valid alternatives for lesson 1, as edits of the solution cells.

`make test` asserts each Bug loses the points of `fails` and of no other check, with a message
containing `says` that the visible check shows (or, for a `hidden_only` bug, a hidden case that says
so), and that each Alternative passes every check. Not released to students.
"""
from ddpm_course.mutations import Alternative, Bug

STATS = ("        mean = groups.mean(dim=-1, keepdim=True)\n"
         "        var = groups.var(dim=-1, keepdim=True, unbiased=False)\n")
FREQUENCIES = "torch.arange(half, device=x.device, dtype=torch.float32)"
SOFTMAX = "weights = scores.softmax(dim=-1)"
NORMALISE = "groups = (groups - mean) / torch.sqrt(var + self.eps)"
SCORES = 'scores = einsum("b heads q d, b heads k d -> b heads q k", q, k) / math.sqrt(self.head_dim)'
MIX = 'mixed = einsum("b heads q k, b heads k d -> b heads q d", weights, v)'
EMBED = "return torch.cat([angles.sin(), angles.cos()], dim=-1)"
EXPONENTS = "* 2 / self.embedding_size"

BUGS = [
    # GroupNorm
    Bug("unbiased variance", "groupnorm_impl", ("unbiased=False", "unbiased=True"),
        fails="groupnorm_values", says="unbiased"),
    Bug("eps added to the std", "groupnorm_impl",
        (NORMALISE, "groups = (groups - mean) / (torch.sqrt(var) + self.eps)"),
        fails="groupnorm_values", says="inside the square root"),
    Bug("eps left out", "groupnorm_impl", (NORMALISE, "groups = (groups - mean) / torch.sqrt(var)"),
        fails="groupnorm_values", says="left out eps"),
    Bug("groups interleave channels", "groupnorm_impl",
        ('"b (g c) h w -> b g (c h w)"', '"b (c g) h w -> b g (c h w)"'),
        ('"b g (c h w) -> b (g c) h w"', '"b g (c h w) -> b (c g) h w"'),
        fails="groupnorm_values", says="consecutive"),
    Bug("statistics per channel (InstanceNorm)", "groupnorm_impl",
        ("g=self.num_groups)", "g=C)"), fails="groupnorm_values", says="InstanceNorm"),
    Bug("weight and bias swapped", "groupnorm_impl",
        ('out * rearrange(self.weight, "c -> c 1 1") + rearrange(self.bias, "c -> c 1 1")',
         'out * rearrange(self.bias, "c -> c 1 1") + rearrange(self.weight, "c -> c 1 1")'),
        fails="groupnorm_values", says="swapped"),
    Bug("parameters never initialised", "groupnorm_impl", ("        self.reset_parameters()\n", ""),
        fails="groupnorm_values", says="reset_parameters"),
    Bug("shortcut through F.group_norm", "groupnorm_impl",
        ("        groups = rearrange(x,",
         "        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)\n"
         "        groups = rearrange(x,"),
        fails="groupnorm_values", says="from scratch"),
    Bug("dtype ignored", "groupnorm_impl",
        ("torch.empty(num_channels, device=device, dtype=dtype))\n            self.bias",
         "torch.empty(num_channels, device=device))\n            self.bias"),
        ("self.bias = nn.Parameter(torch.empty(num_channels, device=device, dtype=dtype))",
         "self.bias = nn.Parameter(torch.empty(num_channels))"),
        fails="groupnorm_values", says="dtype argument was ignored"),
    Bug("computes in float32 whatever the input", "groupnorm_impl",
        ('groups = rearrange(x, "b (g c) h w', 'groups = rearrange(x.float(), "b (g c) h w'),
        fails="groupnorm_values", says="input's dtype"),
    Bug("mean over the whole batch", "groupnorm_impl",
        ("mean = groups.mean(dim=-1, keepdim=True)", "mean = groups.mean(dim=(0, 2), keepdim=True)"),
        fails="groupnorm_values", says="per sample"),
    # GroupNorm: state, stability, eps, device, gradients (issue 21)
    Bug("statistics of the first batch kept on self", "groupnorm_impl",
        (STATS, "        if not hasattr(self, \"stats\"):\n"
                "            self.stats = (groups.mean(dim=-1, keepdim=True),\n"
                "                          groups.var(dim=-1, keepdim=True, unbiased=False))\n"
                "        mean, var = self.stats\n"),
        fails="groupnorm_values", says="keep nothing from an earlier call"),
    Bug("variance as E[x^2] - E[x]^2", "groupnorm_impl",
        ("var = groups.var(dim=-1, keepdim=True, unbiased=False)",
         "var = (groups ** 2).mean(dim=-1, keepdim=True) - mean ** 2"),
        fails="groupnorm_values", says="cancels catastrophically"),
    Bug("eps hard-coded to 1e-5", "groupnorm_impl", (NORMALISE, NORMALISE.replace("self.eps", "1e-5")),
        fails="groupnorm_values", says="use self.eps"),
    Bug("device ignored", "groupnorm_impl",
        *[(f"self.{n} = nn.Parameter(torch.empty(num_channels, device=device, dtype=dtype))",
           f"self.{n} = nn.Parameter(torch.empty(num_channels, dtype=dtype))") for n in ("weight", "bias")],
        fails="groupnorm_values", says="device argument was ignored"),
    Bug("mean detached from the graph", "groupnorm_impl",
        ("mean = groups.mean(dim=-1, keepdim=True)", "mean = groups.mean(dim=-1, keepdim=True).detach()"),
        fails="groupnorm_values", says="not the gradients"),
    # swish / SiLU
    Bug("sigmoid of -x", "swish_impl", ("x * torch.sigmoid(x)", "x * torch.sigmoid(-x)"),
        fails="swish_values", says="sign error"),
    Bug("sigmoid alone", "swish_impl", ("x * torch.sigmoid(x)", "torch.sigmoid(x)"),
        fails="swish_values", says="you returned sigmoid(x)"),
    Bug("tanh instead of sigmoid", "swish_impl", ("x * torch.sigmoid(x)", "x * torch.tanh(x)"),
        fails="swish_values", says="tanh"),
    Bug("modifies its input in place", "swish_impl", ("x * torch.sigmoid(x)", "x.mul_(torch.sigmoid(x))"),
        fails="swish_values", says="in place"),
    Bug("shortcut through F.silu", "swish_impl", ("return x * torch.sigmoid(x)", "return F.silu(x)"),
        fails="swish_values", says="from scratch"),
    Bug("SiLU module wraps nn.SiLU", "swish_impl", ("return swish(x)", "return nn.SiLU()(x)"),
        fails="swish_values", says="from scratch"),
    Bug("swish as x * exp(x) / (1 + exp(x)): NaN beyond x = 88.7", "swish_impl",
        ("return x * torch.sigmoid(x)", "return x * torch.exp(x) / (1 + torch.exp(x))"),
        fails="swish_values", says="overflows float32"),
    Bug("swish as sigmoid(x).mul_(x): in place on what autograd saved", "swish_impl",
        ("return x * torch.sigmoid(x)", "return torch.sigmoid(x).mul_(x)"),
        fails="swish_values", says="backward through your code raised"),
    # sinusoidal embeddings
    Bug("first output memoised on self", "sinusoidal_impl",
        (EMBED, "if not hasattr(self, \"cached\"):\n"
                "            self.cached = torch.cat([angles.sin(), angles.cos()], dim=-1)\n"
                "        return self.cached"),
        fails="sinusoidal_values", says="keep no output of an earlier call"),
    Bug("frequencies built on the CPU whatever the input's device", "sinusoidal_impl",
        (FREQUENCIES, "torch.arange(half, dtype=torch.float32)"),
        fails="sinusoidal_values", says="input's device"),
    Bug("tensor2tensor frequencies 10000^(-i/(D/2-1))", "sinusoidal_impl", (EXPONENTS, "/ (half - 1)"),
        fails="sinusoidal_values", says="tensor2tensor"),
    Bug("exponent missing its factor 2", "sinusoidal_impl", (EXPONENTS, "/ self.embedding_size"),
        fails="sinusoidal_values", says="factor 2"),
    Bug("frequencies inverted", "sinusoidal_impl", ("10000.0 ** -exponents", "10000.0 ** exponents"),
        fails="sinusoidal_values", says="frequencies"),
    Bug("sines twice, no cosines", "sinusoidal_impl", (EMBED, "return torch.cat([angles.sin(), angles.sin()], dim=-1)"),
        fails="sinusoidal_values", says="should be cosines"),
    Bug("output transposed", "sinusoidal_impl", (EMBED, "return torch.cat([angles.sin(), angles.cos()], dim=-1).T"),
        fails="sinusoidal_values", says="(batch, embedding_size)"),
    Bug("floor division in the exponent", "sinusoidal_impl", (EXPONENTS, "* 2 // self.embedding_size"),
        fails="sinusoidal_values", says="frequencies"),
    # self-attention
    Bug("missing 1/sqrt(d)", "attention_impl", (" / math.sqrt(self.head_dim)", ""),
        fails="attention_values", says="not scaled"),
    Bug("softmax over the query axis", "attention_impl", ("softmax(dim=-1)", "softmax(dim=-2)"),
        fails="attention_values", says="query axis"),
    Bug("scaled by sqrt(C)", "attention_impl", ("math.sqrt(self.head_dim)", "math.sqrt(self.channels)"),
        fails="attention_values", says="1/sqrt(C)"),
    Bug("heads interleave channels", "attention_impl",
        ('"b n (heads d) -> b heads n d"', '"b n (d heads) -> b heads n d"'),
        ('"b heads n d -> b n (heads d)"', '"b heads n d -> b n (d heads)"'),
        fails="attention_values", says="head-major"),
    Bug("output projection skipped", "attention_impl",
        ('out = self.to_out(rearrange(mixed, "b heads n d -> b n (heads d)"))',
         'out = rearrange(mixed, "b heads n d -> b n (heads d)")'),
        fails="attention_values", says="to_out is missing"),
    Bug("pixels unflattened as (w h)", "attention_impl",
        ('"b (h w) c -> b c h w"', '"b (w h) c -> b c h w"'), fails="attention_values", says="wrong order"),
    Bug("projections without bias", "attention_impl",
        *[(f"self.{n} = nn.Linear(channels, channels)", f"self.{n} = nn.Linear(channels, channels, bias=False)")
          for n in ("to_q", "to_k", "to_v", "to_out")],
        fails="attention_values", says="has no bias"),
    Bug("output projection only without bias", "attention_impl",
        ("self.to_out = nn.Linear(channels, channels)", "self.to_out = nn.Linear(channels, channels, bias=False)"),
        fails="attention_values", says="'to_out' has no bias"),
    Bug("keys used as values", "attention_impl", (MIX, MIX.replace("weights, v)", "weights, k)")),
        fails="attention_values", says="values differ"),
    Bug("sinusoidal steps truncated to integers", "sinusoidal_impl", ("x.float()", "x.long().float()"),
        fails="sinusoidal_values", says="rounded to integers"),
    Bug("softmax without subtracting the max: overflows", "attention_impl",
        (SOFTMAX, "weights = scores.exp() / scores.exp().sum(dim=-1, keepdim=True)"),
        fails="attention_values", says="overflows float32"),
    Bug("shortcut through scaled_dot_product_attention", "attention_impl",
        (MIX, "mixed = F.scaled_dot_product_attention(q, k, v)"), fails="attention_values", says="fused"),
]

ALTERNATIVES = [
    Alternative("variance as the mean of squares", "groupnorm_impl",
                ("groups.var(dim=-1, keepdim=True, unbiased=False)",
                 "((groups - mean) ** 2).mean(dim=-1, keepdim=True)")),
    Alternative("reshape instead of einops, rsqrt", "groupnorm_impl",
                ('rearrange(x, "b (g c) h w -> b g (c h w)", g=self.num_groups)', "x.reshape(B, self.num_groups, -1)"),
                ('rearrange(groups, "b g (c h w) -> b (g c) h w", h=H, w=W)', "groups.reshape(B, C, H, W)"),
                ("/ torch.sqrt(var + self.eps)", "* torch.rsqrt(var + self.eps)")),
    Alternative("swish as x / (1 + exp(-x))", "swish_impl",
                ("return x * torch.sigmoid(x)", "return x / (1 + torch.exp(-x))")),
    Alternative("SiLU computes it inline", "swish_impl", ("return swish(x)", "return x * x.sigmoid()")),
    Alternative("interleaved sin/cos", "sinusoidal_impl",
                (EMBED, 'return rearrange(torch.stack([angles.sin(), angles.cos()], dim=-1), "b d two -> b (d two)")')),
    Alternative("cosines first", "sinusoidal_impl", (EMBED, "return torch.cat([angles.cos(), angles.sin()], dim=-1)")),
    Alternative("frequencies through exp and log", "sinusoidal_impl",
                ("10000.0 ** -exponents", "torch.exp(-math.log(10000.0) * exponents)")),
    Alternative("softmax by hand, each row's max subtracted", "attention_impl",
                (SOFTMAX, "scores = scores - scores.amax(dim=-1, keepdim=True)\n"
                          "        weights = scores.exp() / scores.exp().sum(dim=-1, keepdim=True)")),
    Alternative("frequencies built on the CPU, then moved to the input's device", "sinusoidal_impl",
                (FREQUENCIES, "torch.arange(half, dtype=torch.float32).to(x.device)")),
    Alternative("variance through torch.var_mean", "groupnorm_impl",
                (STATS, "        var, mean = torch.var_mean(groups, dim=-1, keepdim=True, unbiased=False)\n")),
    Alternative("matmul instead of einsum", "attention_impl",
                (SCORES, "scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)"), (MIX, "mixed = weights @ v")),
    Alternative("1x1 convolutions on the feature map", "attention_impl",
                *[(f"self.{n} = nn.Linear(channels, channels)", f"self.{n} = nn.Conv2d(channels, channels, 1)")
                  for n in ("to_q", "to_k", "to_v", "to_out")],
                ('        tokens = rearrange(x, "b c h w -> b (h w) c")\n', ""),
                ('rearrange(proj(tokens), "b n (heads d) -> b heads n d", heads=self.num_heads)',
                 'rearrange(proj(x), "b (heads d) h w -> b heads (h w) d", heads=self.num_heads)'),
                ('out = self.to_out(rearrange(mixed, "b heads n d -> b n (heads d)"))\n'
                 '        return rearrange(out, "b (h w) c -> b c h w", h=H, w=W)',
                 'return self.to_out(rearrange(mixed, "b heads (h w) d -> b (heads d) h w", h=H, w=W))')),
]
