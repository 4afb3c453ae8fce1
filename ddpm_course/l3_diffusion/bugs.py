"""Known-buggy implementations and valid alternatives for lesson 3, as edits of the solution cells.

`make test` asserts each Bug loses the points of `fails` and of no other check, with a message
containing `says` that the visible check shows (or, for a `hidden_only` bug, a hidden case that says
so), and that each Alternative passes every check. Not released to students.
"""
from ddpm_course.mutations import Alternative, Bug

LINEAR = "torch.linspace(beta_start, beta_end, max_steps, dtype=torch.float32)"
COSINE_F = "f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2"
COSINE_RETURN = "return betas.clamp(max=0.999).float()"
CUMPROD = "torch.cumprod(alphas, dim=0)"
BUFFERS = ('        self.register_buffer("betas", betas.clone())\n'
           '        self.register_buffer("alphas", alphas)\n'
           '        self.register_buffer("alpha_bars", torch.cumprod(alphas, dim=0))\n')
EXTRACT = ('    ones = " ".join("1" * (x.dim() - 1))\n'
           '    return rearrange(coeffs[t], f"b -> b {ones}")')
Q_SAMPLE = "return torch.sqrt(alpha_bar) * x0 + torch.sqrt(1 - alpha_bar) * noise"
Q_STEP = "return torch.sqrt(1 - beta) * x_prev + torch.sqrt(beta) * noise"
Q_MOMENTS = "return torch.sqrt(alpha_bar) * x0, (1 - alpha_bar).expand_as(x0)"
DRAW_T = "t = torch.randint(0, schedule.max_steps, (B,), generator=generator, device=img.device)"
DRAW_NOISE = "noise = torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype)"
LOSS = "return F.mse_loss(model(x_t, t), noise)"
MEAN = "mean = (x_t - beta / torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha)"
SIGMA2 = 'sigma2 = beta if variance == "beta" else (1 - alpha_bar_prev) / (1 - alpha_bar) * beta'
STEP = "p_sample_step(model, x, t, schedule, variance, generator, clip_x0)"
CLIP = "        x0_pred = x0_pred.clamp(-1, 1)\n"
POSTERIOR = ("        mean = (torch.sqrt(alpha_bar_prev) * beta * x0_pred "
             "+ torch.sqrt(alpha) * (1 - alpha_bar_prev) * x_t) \\\n"
             "            / (1 - alpha_bar)\n")
LOOP = "range(schedule.max_steps - 1, -1, -1)"

BUGS = [
    # beta schedules
    Bug("cosine betas not clipped", "beta_schedules_impl", (COSINE_RETURN, "return betas.float()"),
        fails="beta_schedules_values", says="0.999"),
    Bug("cosine without the offset s", "beta_schedules_impl", (COSINE_F, "f = torch.cos(steps * math.pi / 2) ** 2"),
        fails="beta_schedules_values", says="offset s"),
    Bug("cosine not squared", "beta_schedules_impl", (COSINE_F, COSINE_F.replace(" ** 2", "")),
        fails="beta_schedules_values", says="square"),
    Bug("cosine returns the alpha bars", "beta_schedules_impl", (COSINE_RETURN, "return alpha_bars[1:].float()"),
        fails="beta_schedules_values", says="you returned ᾱ_t"),
    Bug("cosine with T points instead of T + 1", "beta_schedules_impl",
        ("torch.arange(max_steps + 1, dtype=torch.float64) / max_steps",
         "torch.linspace(0, 1, max_steps, dtype=torch.float64)"),
        fails="beta_schedules_values", says="T + 1 points"),
    Bug("cosine computed in float32", "beta_schedules_impl",
        ("dtype=torch.float64) / max_steps", "dtype=torch.float32) / max_steps"),
        fails="beta_schedules_values", says="compute in float64"),
    Bug("linear schedule in float64", "beta_schedules_impl", (LINEAR, LINEAR.replace("float32", "float64")),
        fails="beta_schedules_values", says="float32"),
    Bug("linear schedule starts one step late", "beta_schedules_impl",
        (LINEAR, "torch.linspace(beta_start, beta_end, max_steps + 1, dtype=torch.float32)[1:]"),
        fails="beta_schedules_values", says="index 0 holds the paper's β_1"),
    Bug("cosine clipped at 0.9999", "beta_schedules_impl", (COSINE_RETURN, COSINE_RETURN.replace("0.999", "0.9999")),
        fails="beta_schedules_values", says="you clipped at 0.9999"),
    Bug("cosine clamped from below at 1e-4", "beta_schedules_impl",
        (COSINE_RETURN, "return betas.clamp(min=1e-4, max=0.999).float()"),
        fails="beta_schedules_values", says="clamped the betas from below"),
    # NoiseSchedule
    Bug("plain tensor attributes instead of buffers (not moved by .to(device))", "noise_schedule_impl",
        (BUFFERS, "        self.betas = betas.clone()\n        self.alphas = alphas\n"
                  "        self.alpha_bars = torch.cumprod(alphas, dim=0)\n"),
        fails="noise_schedule_values", says="register_buffer"),
    Bug("cumsum instead of cumprod", "noise_schedule_impl", (CUMPROD, "torch.cumsum(alphas, dim=0)"),
        fails="noise_schedule_values", says="cumulative sum"),
    Bug("alpha bars off by one (alpha_bars[0] = 1)", "noise_schedule_impl",
        (CUMPROD, "torch.cat([torch.ones(1), torch.cumprod(alphas, dim=0)[:-1]])"),
        fails="noise_schedule_values", says="off by one"),
    Bug("alphas = betas", "noise_schedule_impl", ("alphas = 1 - betas", "alphas = betas"),
        fails="noise_schedule_values", says="1 - betas"),
    Bug("cumprod of the betas", "noise_schedule_impl", (CUMPROD, "torch.cumprod(betas, dim=0)"),
        fails="noise_schedule_values", says="not of the betas"),
    Bug("alphas computed in place, overwriting the caller's betas", "noise_schedule_impl",
        ("alphas = 1 - betas", "alphas = betas.neg_().add_(1)"), fails="noise_schedule_values",
        says="changed the betas"),
    Bug("betas stored in float64", "noise_schedule_impl",
        ('self.register_buffer("betas", betas.clone())', 'self.register_buffer("betas", betas.double())'),
        fails="noise_schedule_values", says="in the betas' dtype"),
    # forward process
    Bug("sqrt missing on alpha bar in q_sample", "forward_process_impl",
        (Q_SAMPLE, "return alpha_bar * x0 + torch.sqrt(1 - alpha_bar) * noise"),
        fails="forward_process_values", says="square root"),
    Bug("q_sample scales the noise by the variance (std vs variance)", "forward_process_impl",
        (Q_SAMPLE, "return torch.sqrt(alpha_bar) * x0 + (1 - alpha_bar) * noise"),
        fails="forward_process_values", says="standard deviation sqrt(1 - ᾱ_t)"),
    Bug("q_sample reads alpha_bars[t - 1]", "forward_process_impl",
        ("alpha_bar = extract(schedule.alpha_bars, t, x0)\n    " + Q_SAMPLE,
         "alpha_bar = extract(schedule.alpha_bars, t - 1, x0)\n    " + Q_SAMPLE),
        fails="forward_process_values", says="off by one"),
    Bug("q_step uses the cumulative alpha bar", "forward_process_impl",
        ("beta = extract(schedule.betas, t, x_prev)", "beta = 1 - extract(schedule.alpha_bars, t, x_prev)"),
        fails="forward_process_values", says="single step"),
    Bug("q_step scales the noise by beta, not sqrt(beta)", "forward_process_impl",
        (Q_STEP, "return torch.sqrt(1 - beta) * x_prev + beta * noise"),
        fails="forward_process_values", says="standard deviation sqrt(β)"),
    Bug("q_moments estimates the variance with torch.var instead of the closed form", "forward_process_impl",
        (Q_MOMENTS, "x_t = q_sample(x0, t, schedule, torch.randn_like(x0))\n"
                    "    return torch.sqrt(alpha_bar) * x0, torch.var(x_t, dim=0, keepdim=True).expand_as(x0)"),
        fails="forward_process_values", says="closed form"),
    Bug("q_moments returns the standard deviation", "forward_process_impl",
        (Q_MOMENTS, "return torch.sqrt(alpha_bar) * x0, torch.sqrt(1 - alpha_bar).expand_as(x0)"),
        fails="forward_process_values", says="you returned the standard deviation"),
    Bug("extract does not reshape for broadcasting", "forward_process_impl", (EXTRACT, "    return coeffs[t]"),
        fails="forward_process_values", says="(B, 1, ..., 1)"),
    Bug("q_step ignores the generator", "forward_process_impl",
        ("noise = torch.randn(x_prev.shape, generator=generator, device=x_prev.device, dtype=x_prev.dtype)",
         "noise = torch.randn_like(x_prev)"), fails="forward_process_values", says="global random generator"),
    # noise_img and reconstruct
    Bug("t drawn from 1..T, the paper's steps", "noise_img_impl",
        (DRAW_T, DRAW_T.replace("randint(0, schedule.max_steps,", "randint(1, schedule.max_steps + 1,")),
        fails="noise_img_values", says="off-by-one"),
    Bug("t drawn from 1..T-1 (never 0)", "noise_img_impl",
        (DRAW_T, DRAW_T.replace("randint(0,", "randint(1,")), fails="noise_img_values", says="never takes the value 0"),
    Bug("one t for the whole batch", "noise_img_impl",
        (DRAW_T, DRAW_T.replace("(B,)", "(1,)") + ".expand(B)"), fails="noise_img_values", says="same step"),
    Bug("uniform noise (torch.rand)", "noise_img_impl", (DRAW_NOISE, DRAW_NOISE.replace("randn", "rand")),
        fails="noise_img_values", says="torch.randn (normal)"),
    Bug("the same noise for every sample", "noise_img_impl",
        (DRAW_NOISE, "noise = torch.randn(img.shape[1:], generator=generator, device=img.device, "
                     "dtype=img.dtype).expand_as(img)"),
        fails="noise_img_values", says="same noise"),
    Bug("noise drawn on the CPU whatever the device", "noise_img_impl",
        (DRAW_NOISE, "noise = torch.randn(img.shape, generator=generator, dtype=img.dtype)"),
        fails="noise_img_values", says="on the images' device"),
    Bug("t drawn on the CPU whatever the device", "noise_img_impl",
        ("generator=generator, device=img.device)\n    noise", "generator=generator)\n    noise"),
        fails="noise_img_values", says="on the images' device"),
    Bug("the model's prediction detached from the graph", "diffusion_loss_impl",
        (LOSS, "return F.mse_loss(model(x_t, t).detach(), noise)"), fails="diffusion_loss_values", says="gradient"),
    Bug("noise ignores the generator", "noise_img_impl", (DRAW_NOISE, "noise = torch.randn_like(img)"),
        fails="noise_img_values", says="global random generator"),
    Bug("reconstruct divides by alpha bar, not its sqrt", "noise_img_impl",
        ("/ torch.sqrt(alpha_bar)", "/ alpha_bar"), fails="noise_img_values", says="not by ᾱ_t"),
    Bug("reconstruct adds the noise term", "noise_img_impl",
        ("(x_t - torch.sqrt(1 - alpha_bar) * noise)", "(x_t + torch.sqrt(1 - alpha_bar) * noise)"),
        fails="noise_img_values", says="sign error"),
    # diffusion_loss
    Bug("loss against x0 instead of the noise", "diffusion_loss_impl", (LOSS, "return F.mse_loss(model(x_t, t), x0)"),
        fails="diffusion_loss_values", says="not with x0"),
    Bug("summed instead of averaged", "diffusion_loss_impl",
        (LOSS, 'return F.mse_loss(model(x_t, t), noise, reduction="sum")'), fails="diffusion_loss_values",
        says="don't sum"),
    Bug("L1 loss", "diffusion_loss_impl", (LOSS, "return F.l1_loss(model(x_t, t), noise)"),
        fails="diffusion_loss_values", says="squared"),
    Bug("model sees the clean x0", "diffusion_loss_impl", (LOSS, "return F.mse_loss(model(x0, t), noise)"),
        fails="diffusion_loss_values", says="clean x0"),
    Bug("model gets the 1-based step t + 1", "diffusion_loss_impl",
        (LOSS, "return F.mse_loss(model(x_t, t + 1), noise)"),
        fails="diffusion_loss_values", says="0-based"),
    Bug("returns a Python float", "diffusion_loss_impl", (LOSS, LOSS + ".item()"),
        fails="diffusion_loss_values", says="not a Python float"),
    Bug("computed under torch.no_grad()", "diffusion_loss_impl",
        (LOSS, "with torch.no_grad():\n        " + LOSS), fails="diffusion_loss_values", says="no gradient"),
    Bug("generator not passed on to noise_img", "diffusion_loss_impl",
        ("noise_img(x0, schedule, generator)", "noise_img(x0, schedule)"), fails="diffusion_loss_values",
        says="pass the generator on to noise_img"),
    # p_sample_step
    Bug("alpha bar t used for alpha bar t-1 in beta tilde", "reverse_step_impl",
        ("schedule.alpha_bars[t - 1] if t > 0", "schedule.alpha_bars[t] if t > 0"),
        fails="reverse_step_values", says="ᾱ_{t-1}"),
    Bug("sigma squared used as sigma (std vs variance)", "reverse_step_impl",
        ("mean + torch.sqrt(sigma2) * z", "mean + sigma2 * z"), fails="reverse_step_values",
        says="standard deviation"),
    Bug("noise added at t = 0", "reverse_step_impl", ("    if t == 0:\n        return mean, x0_pred\n", ""),
        fails="reverse_step_values", says="no noise at t = 0"),
    Bug("beta tilde upside down", "reverse_step_impl",
        ("(1 - alpha_bar_prev) / (1 - alpha_bar) * beta", "(1 - alpha_bar) / (1 - alpha_bar_prev) * beta"),
        fails="reverse_step_values", says="upside down"),
    Bug("variance argument ignored", "reverse_step_impl", (SIGMA2, "sigma2 = beta"),
        fails="reverse_step_values", says="ignored `variance`"),
    Bug("mean missing 1/sqrt(alpha)", "reverse_step_impl",
        (MEAN, "mean = x_t - beta / torch.sqrt(1 - alpha_bar) * eps"), fails="reverse_step_values",
        says="1 / sqrt(α_t)"),
    Bug("mean divides by sqrt(alpha bar)", "reverse_step_impl", (MEAN, MEAN.replace("sqrt(alpha)", "sqrt(alpha_bar)")),
        fails="reverse_step_values", says="one-step α"),
    Bug("model called with t + 1", "reverse_step_impl", ("torch.full((B,), t,", "torch.full((B,), t + 1,"),
        fails="reverse_step_values", says="code index t itself"),
    Bug("x0 prediction divides by alpha bar", "reverse_step_impl",
        ("/ torch.sqrt(alpha_bar)\n    mean", "/ alpha_bar\n    mean"), fails="reverse_step_values",
        says="not by ᾱ_t"),
    Bug("reverse noise ignores the generator", "reverse_step_impl",
        ("z = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)",
         "z = torch.randn_like(x_t)"),
        fails="reverse_step_values", says="global random generator"),
    Bug("x0-parametrised mean reads alpha_bars[t - 1] at t = 0 (wraps around)", "reverse_step_impl",
        (MEAN, "mean = (torch.sqrt(alpha_bar_prev) * beta * x0_pred\n"
               "            + torch.sqrt(alpha) * (1 - alpha_bar_prev) * x_t) / (1 - alpha_bar)"),
        ("schedule.alpha_bars[t - 1] if t > 0 else torch.ones_like(alpha_bar)", "schedule.alpha_bars[t - 1]"),
        fails="reverse_step_values", says="wraps around"),
    # p_sample_step with clip_x0: what the official samplers do, done wrong
    Bug("clips the predicted noise instead of x0_pred", "reverse_step_impl",
        (CLIP, "        eps = eps.clamp(-1, 1)\n"
               "        x0_pred = (x_t - torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha_bar)\n"),
        fails="reverse_step_values", says="not the predicted noise"),
    Bug("clips x0_pred but keeps the noise form of the mean", "reverse_step_impl", (POSTERIOR, ""),
        fails="reverse_step_values", says="the ε̂ form ignores the clipping"),
    Bug("clips x_t instead of x0_pred", "reverse_step_impl",
        (CLIP, "        x0_pred = (x_t.clamp(-1, 1) - torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha_bar)\n"),
        fails="reverse_step_values", says="not x_t"),
    Bug("forgets the clip at t = 0", "reverse_step_impl", ("    if clip_x0:", "    if clip_x0 and t > 0:"),
        fails="reverse_step_values", says="t = 0 included"),
    Bug("clip_x0 ignored", "reverse_step_impl", ("    if clip_x0:", "    if False:"),
        fails="reverse_step_values", says="clip_x0 has no effect"),
    # sample
    Bug("clip_x0 not passed on", "sampler_impl", (STEP, "p_sample_step(model, x, t, schedule, variance, generator)"),
        fails="sampler_values", says="pass `clip_x0`"),
    Bug("the starting noise drawn on the CPU whatever the device", "sampler_impl",
        ("x = torch.randn(shape, generator=generator, device=device)", "x = torch.randn(shape, generator=generator)"),
        fails="sampler_values", says="device you sample on"),
    Bug("the kept predictions left on the sampling device", "sampler_impl",
        ("predictions.append(x0_pred.cpu())", "predictions.append(x0_pred)"), fails="sampler_values",
        says="move each to the CPU"),
    Bug("steps run from T down to 1", "sampler_impl", (LOOP, "range(schedule.max_steps, 0, -1)"),
        fails="sampler_values", says="outside the 0-based steps"),
    Bug("sampling with gradients enabled", "sampler_impl",
        ("    with torch.no_grad():\n        x = torch.randn",
         "    with torch.enable_grad():\n        x = torch.randn"),
        fails="sampler_values", says="gradients enabled"),
    Bug("steps run upwards", "sampler_impl", (LOOP, "range(schedule.max_steps)"), fails="sampler_values",
        says="downwards"),
    Bug("last step t = 0 skipped", "sampler_impl", (LOOP, "range(schedule.max_steps - 1, 0, -1)"),
        fails="sampler_values", says="t = 0, is missing"),
    Bug("keeps x_t instead of the x0 prediction", "sampler_impl",
        ("predictions.append(x0_pred.cpu())", "predictions.append(x.cpu())"), fails="sampler_values", says="not x_t"),
    Bug("variance not passed on", "sampler_impl",
        (STEP, "p_sample_step(model, x, t, schedule, generator=generator, clip_x0=clip_x0)"),
        fails="sampler_values", says="pass `variance`"),
    Bug("generator not passed on", "sampler_impl", (STEP, "p_sample_step(model, x, t, schedule, variance, "
                                                          "clip_x0=clip_x0)"),
        fails="sampler_values", says="global random generator"),
    Bug("keep_every counted from the first step", "sampler_impl",
        ("if keep_every and t % keep_every == 0",
         "if keep_every and (schedule.max_steps - 1 - t) % keep_every == 0"), fails="sampler_values",
        says="t % keep_every == 0"),
    Bug("starts from uniform noise", "sampler_impl", ("x = torch.randn(shape,", "x = torch.rand(shape,"),
        fails="sampler_values", says="start from torch.randn"),
]

ALTERNATIVES = [
    Alternative("linear schedule from arange", "beta_schedules_impl",
                (LINEAR, "(beta_start + (beta_end - beta_start) * torch.arange(max_steps, dtype=torch.float64)"
                         " / max(max_steps - 1, 1)).float()")),
    Alternative("cosine schedule clipped with torch.clip", "beta_schedules_impl",
                (COSINE_RETURN, "return torch.clip(betas, max=0.999).to(torch.float32)")),
    Alternative("alpha bars as exp(cumsum(log))", "noise_schedule_impl",
                (CUMPROD, "torch.exp(torch.cumsum(torch.log(alphas), dim=0))")),
    Alternative("non-persistent buffers", "noise_schedule_impl",
                *[(f'"{name}", {value})', f'"{name}", {value}, persistent=False)')
                  for name, value in (("betas", "betas.clone()"), ("alphas", "alphas"), ("alpha_bars", CUMPROD))]),
    Alternative("extract by view instead of einops", "forward_process_impl",
                (EXTRACT, "    return coeffs.gather(0, t).view(-1, *([1] * (x.dim() - 1)))")),
    Alternative("q_step through alphas", "forward_process_impl",
                (Q_STEP, "return torch.sqrt(extract(schedule.alphas, t, x_prev)) * x_prev + torch.sqrt(beta) * noise")),
    Alternative("q_moments variance left to broadcast", "forward_process_impl",
                (Q_MOMENTS, "return torch.sqrt(alpha_bar) * x0, 1 - alpha_bar")),
    Alternative("noise drawn before t", "noise_img_impl",
                (f"    {DRAW_T}\n    {DRAW_NOISE}", f"    {DRAW_NOISE}\n    {DRAW_T}")),
    Alternative("reconstruct with rsqrt", "noise_img_impl",
                ("/ torch.sqrt(alpha_bar)", "* torch.rsqrt(alpha_bar)")),
    Alternative("loss as the mean of squares", "diffusion_loss_impl",
                (LOSS, "return ((model(x_t, t) - noise) ** 2).mean()")),
    Alternative("x0-parametrised posterior mean", "reverse_step_impl",
                (MEAN, "mean = (torch.sqrt(alpha_bar_prev) * beta * x0_pred\n"
                       "            + torch.sqrt(alpha) * (1 - alpha_bar_prev) * x_t) / (1 - alpha_bar)")),
    Alternative("per-sample coefficients through extract", "reverse_step_impl",
                ("    eps = model(x_t, torch.full((B,), t, device=x_t.device, dtype=torch.long))\n"
                 "    beta, alpha, alpha_bar = schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t]\n",
                 "    steps = torch.full((B,), t, device=x_t.device, dtype=torch.long)\n"
                 "    eps = model(x_t, steps)\n"
                 "    beta, alpha, alpha_bar = (extract(v, steps, x_t) for v in (schedule.betas, schedule.alphas,"
                 " schedule.alpha_bars))\n")),
    Alternative("clip_x0 through torch.clip", "reverse_step_impl",
                ("x0_pred = x0_pred.clamp(-1, 1)", "x0_pred = torch.clip(x0_pred, -1.0, 1.0)")),
    Alternative("sampling under inference_mode", "sampler_impl",
                ("with torch.no_grad():", "with torch.inference_mode():")),
]
