"""Known-buggy implementations and valid alternatives for lesson 4, as edits of the solution cells.

`make test` asserts each Bug loses the points of `fails` and of no other check, with a message
containing `says` that the visible check shows (or, for a `hidden_only` bug, a hidden case that says
so), and that each Alternative passes every check. Not released to students.
"""
from ddpm_course.mutations import Alternative, Bug

STEPS = "(torch.arange(num_steps) * T // num_steps).flip(0).tolist()"
PREV = "alpha_bars[timesteps[i + 1]] if i + 1 < len(timesteps)"
SIGMA = "sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)"
UPDATE = "x = torch.sqrt(alpha_bar_prev) * x0_pred + torch.sqrt(1 - alpha_bar_prev - sigma**2) * eps"
CLIP = ("            x0_pred = x0_pred.clamp(-1, 1)\n"
        "            eps = (x - torch.sqrt(alpha_bar) * x0_pred) / torch.sqrt(1 - alpha_bar)\n")
NOISE = "            x = x + sigma * torch.randn(shape, generator=generator, device=device)\n"
ROOT = "    root1 = eigenvectors @ torch.diag(eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T\n"
TRACE = "trace_sqrt = torch.linalg.eigvalsh(root1 @ cov2 @ root1).clamp(min=0).sqrt().sum()"
WITHIN_A = "(k_aa.sum() - k_aa.diagonal().sum()) / (M * (M - 1))"
WITHIN_B = "(k_bb.sum() - k_bb.diagonal().sum()) / (N * (N - 1))"

BUGS = [
    # DDIM
    Bug("ᾱ_prev taken at t - 1 instead of the next step", "ddim_impl", (PREV, "alpha_bars[t - 1] if t > 0"),
        fails="ddim_values", says="NEXT step", replay_fails_visibly="the sampler check also counts the model's calls"),
    Bug("x0 prediction without the sqrt on 1 - ᾱ", "ddim_impl",
        ("(x - torch.sqrt(1 - alpha_bar) * eps)", "(x - (1 - alpha_bar) * eps)"),
        fails="ddim_values", says="square root on (1 - ᾱ_t)"),
    Bug("eta ignored", "ddim_impl", ("sigma = eta * torch.sqrt(", "sigma = 0 * torch.sqrt("),
        fails="ddim_values", says="eta has no effect"),
    Bug("fresh noise never added", "ddim_impl", ("        if eta > 0:\n" + NOISE, ""),
        fails="ddim_values", says="never added the fresh noise"),
    Bug("sigma missing its first factor", "ddim_impl",
        (SIGMA, "sigma = eta * torch.sqrt(1 - alpha_bar / alpha_bar_prev)"), fails="ddim_values", says="two factors"),
    Bug("noise scaled by the variance", "ddim_impl", ("x = x + sigma * torch.randn", "x = x + sigma**2 * torch.randn"),
        fails="ddim_values", says="scaled it by the variance"),
    Bug("direction term ignores sigma", "ddim_impl",
        ("torch.sqrt(1 - alpha_bar_prev - sigma**2) * eps", "torch.sqrt(1 - alpha_bar_prev) * eps"),
        fails="ddim_values", says="subtract sigma²"),
    Bug("steps increasing", "ddim_impl", (".flip(0).tolist()", ".tolist()"),
        fails="ddim_values", says="strictly decreasing"),
    Bug("steps shifted by one stride, missing t = 0", "ddim_impl",
        (STEPS, "(torch.arange(1, num_steps + 1) * T // num_steps - 1).flip(0).tolist()"),
        fails="ddim_values", says="must be t = 0"),
    Bug("1-based steps passed to the model", "ddim_impl",
        ("torch.full((B,), t, device=device", "torch.full((B,), t + 1, device=device"),
        fails="ddim_values", says="0-based"),
    Bug("x_T drawn without the generator", "ddim_impl",
        ("x = torch.randn(shape, generator=generator, device=device)", "x = torch.randn(shape, device=device)"),
        fails="ddim_values", says="generator=generator"),
    Bug("step passed to the model as a Python int", "ddim_impl",
        ("model(x, torch.full((B,), t, device=device, dtype=torch.long))", "model(x, t)"),
        fails="ddim_values", says="torch.long"),
    Bug("ᾱ_prev of the last step is alpha_bars[0]", "ddim_impl",
        (PREV + " else torch.ones_like(alpha_bar)", PREV + " else alpha_bars[0]"),
        fails="ddim_values", says="ᾱ_prev is 1"),
    Bug("x0 prediction clipped to [-1, 1]", "ddim_impl",
        ("        sigma = eta", "        x0_pred = x0_pred.clamp(-1, 1)\n        sigma = eta"),
        fails="ddim_values", says="do not clip"),
    Bug("clip_x0 clips the predicted noise", "ddim_impl",
        (CLIP, "            eps = eps.clamp(-1, 1)\n"
               "            x0_pred = (x - torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha_bar)\n"),
        fails="ddim_values", says="not the predicted noise"),
    Bug("clip_x0 clips x", "ddim_impl",
        (CLIP, "            x0_pred = (x.clamp(-1, 1) - torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha_bar)\n"),
        fails="ddim_values", says="not x"),
    Bug("clip_x0 ignored", "ddim_impl", ("        if clip_x0:", "        if False:"),
        fails="ddim_values", says="clip_x0 has no effect"),
    Bug("clip_x0 skips the last step", "ddim_impl", ("        if clip_x0:", "        if clip_x0 and t > 0:"),
        fails="ddim_values", says="the last one (t = 0) included"),
    Bug("x_T drawn on the CPU whatever the device", "ddim_impl",
        ("x = torch.randn(shape, generator=generator, device=device)", "x = torch.randn(shape, generator=generator)"),
        fails="ddim_values", says="device you sample on"),
    Bug("steps range(0, T, T // num_steps)", "ddim_impl", (STEPS, "list(range(0, T, T // num_steps))[::-1]"),
        fails="ddim_values", says="does not divide T"),
    # FID
    Bug("covariance of the samples, (N, N)", "fid_impl",
        ("centred.T @ centred / (N - 1)", "centred @ centred.T / (N - 1)"),
        fails="fid_values", says="a (D, D) matrix"),
    Bug("frechet_distance in float32", "fid_impl",
        ("    mu1, cov1, mu2, cov2 = (t.double() for t in (mu1, cov1, mu2, cov2))\n", ""),
        fails="fid_values", says="compute in float64"),
    Bug("biased covariance", "fid_impl", ("centred.T @ centred / (N - 1)", "centred.T @ centred / N"),
        fails="fid_values", says="unbiased"),
    Bug("covariance not centred", "fid_impl", ("centred = features - mean", "centred = features"),
        fails="fid_values", says="subtract the mean"),
    Bug("statistics in float32", "fid_impl", ("    features = features.double()\n", ""),
        fails="fid_values", says="float64"),
    Bug("mean term not squared", "fid_impl", ("((mu1 - mu2) ** 2).sum()", "(mu1 - mu2).norm()"),
        fails="fid_values", says="SQUARED"),
    Bug("cross term without its factor 2", "fid_impl", ("- 2 * trace_sqrt", "- trace_sqrt"),
        fails="fid_values", says="factor 2"),
    Bug("trace of the product, no square root", "fid_impl", (TRACE, TRACE.replace(".sqrt().sum()", ".sum()")),
        fails="fid_values", says="SQUARE ROOT"),
    Bug("negative eigenvalues not clamped", "fid_impl", ("eigenvalues.clamp(min=0).sqrt()", "eigenvalues.sqrt()"),
        (TRACE, TRACE.replace(".clamp(min=0)", "")), fails="fid_values", says="tiny negative"),
    Bug("elementwise sqrt of the product", "fid_impl", (TRACE, "trace_sqrt = torch.sqrt(cov1 @ cov2).trace()"),
        fails="fid_values", says="elementwise"),
    Bug("product of the two square roots", "fid_impl",
        (TRACE, "eigenvalues2, eigenvectors2 = torch.linalg.eigh(cov2)\n"
                "    root2 = eigenvectors2 @ torch.diag(eigenvalues2.clamp(min=0).sqrt()) @ eigenvectors2.T\n"
                "    trace_sqrt = (root1 @ root2).trace()"),
        fails="fid_values", says="only when the two commute"),
    # KID
    Bug("biased within-set means (diagonal kept)", "kid_impl", (WITHIN_A, "k_aa.mean()"), (WITHIN_B, "k_bb.mean()"),
        fails="kid_values", says="leave out the i = j terms"),
    Bug("kernel not divided by D", "kid_impl", ("x @ y.T / D + 1", "x @ y.T + 1"),
        fails="kid_values", says="feature dimension D"),
    Bug("kernel squared instead of cubed", "kid_impl", ("/ D + 1) ** 3", "/ D + 1) ** 2"),
        fails="kid_values", says="cubed"),
    Bug("kernel without + 1", "kid_impl", ("x @ y.T / D + 1", "x @ y.T / D"), fails="kid_values", says="adds 1"),
    Bug("cross term counted once", "kid_impl", ("- 2 * k_ab.mean()", "- k_ab.mean()"),
        fails="kid_values", says="counts twice"),
    Bug("kernels in float32", "kid_impl", ("a, b = features_a.double(), features_b.double()",
                                           "a, b = features_a, features_b"),
        fails="kid_values", says="close, but not exact"),
    Bug("second set normalised by the first set's size", "kid_impl", ("/ (N * (N - 1))", "/ (M * (M - 1))"),
        fails="kid_values", says="its own size"),
    Bug("diagonal left out but still counted in the normalisation", "kid_impl",
        ("/ (M * (M - 1))", "/ (M * M)"), ("/ (N * (N - 1))", "/ (N * N)"), fails="kid_values", says="M(M - 1) pairs"),
]

ALTERNATIVES = [
    Alternative("clip_x0 keeps the model's eps, as diffusers' DDIMScheduler", "ddim_impl",
                (CLIP, "            x0_pred = x0_pred.clamp(-1, 1)\n")),
    Alternative("clip_x0 through torch.clip, eps from the update in x_t", "ddim_impl",
                (CLIP, "            x0_pred = torch.clip(x0_pred, min=-1.0, max=1.0)\n"
                       "            eps = (x - alpha_bar.sqrt() * x0_pred) / (1 - alpha_bar).sqrt()\n")),
    Alternative("evenly spaced from T - 1 down to 0", "ddim_impl",
                (STEPS, "torch.linspace(T - 1, 0, num_steps).round().long().tolist()")),
    Alternative("a constant stride T // num_steps, as in the DDIM code", "ddim_impl",
                (STEPS, "list(range(0, T, T // num_steps))[:num_steps][::-1]")),
    Alternative("no noise drawn at the last step", "ddim_impl",
                ("if eta > 0:", "if eta > 0 and i + 1 < len(timesteps):")),
    Alternative("the update written in terms of x_t", "ddim_impl",
                (UPDATE, "x = torch.sqrt(alpha_bar_prev / alpha_bar) * x + (torch.sqrt(1 - alpha_bar_prev - sigma**2)"
                         " - torch.sqrt(alpha_bar_prev * (1 - alpha_bar) / alpha_bar)) * eps")),
    Alternative("eigenvalues of the product, fast.ai style", "fid_impl",
                ("    eigenvalues, eigenvectors = torch.linalg.eigh(cov1)\n" + ROOT, ""),
                (TRACE, "trace_sqrt = torch.linalg.eigvals(cov1 @ cov2).sqrt().real.sum()")),
    Alternative("torch.cov for the covariance", "fid_impl",
                ("    centred = features - mean\n    return mean, centred.T @ centred / (N - 1)",
                 "    return mean, torch.cov(features.T)")),
    Alternative("off-diagonal means through a mask", "kid_impl",
                (WITHIN_A, "k_aa[~torch.eye(M, dtype=torch.bool)].mean()"),
                (WITHIN_B, "k_bb[~torch.eye(N, dtype=torch.bool)].mean()")),
    Alternative("kernels through einsum", "kid_impl",
                ("(x @ y.T / D + 1) ** 3", 'torch.pow(torch.einsum("id,jd->ij", x, y) / D + 1, 3)')),
]
