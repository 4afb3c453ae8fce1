"""Known-buggy implementations and valid alternatives for lesson 5, as edits of the solution cells.

`make test` asserts each Bug loses the points of `fails` and of no other check, with a message
containing `says` that the visible check shows (or, for a `hidden_only` bug, a hidden case that says
so), and that each Alternative passes every check. Not released to students.
"""
from ddpm_course.mutations import Alternative, Bug

EMB = "emb = self.step_embedding(num_steps) + self.label_embedding(labels)"
ROWS = "self.label_embedding = nn.Embedding(num_classes + 1, 4 * self.channels)"
DRAW = "drop = torch.rand(B, generator=generator, device=labels.device) < p_uncond"
WHERE = "return torch.where(drop, torch.full_like(labels, null_index), labels)"
DROPPED = "dropped = drop_labels(labels, p_uncond, null_index, generator)"
LOSS = "return diffusion_loss(lambda x_t, t: model(x_t, t, dropped), x0, schedule, generator=generator)"
CALL = "eps = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))"
SPLIT = "eps_cond, eps_uncond = eps.chunk(2)"
GUIDE = "return eps_uncond + w * (eps_cond - eps_uncond)"
INNER = "return guided_eps(model, x, t, labels, w, null_index)"
DDIM = ("return ddim_sample(guided, schedule, shape, num_steps=num_steps, eta=eta, generator=generator, "
        "device=device,\n                       progress=progress, clip_x0=True)")

BUGS = [
    # the conditional U-Net
    Bug("label embedding added after the blocks, at the final block only", "cond_unet_impl",
        (EMB, "emb = self.step_embedding(num_steps)"),
        ("self.final_block(h, emb)", "self.final_block(h, emb + self.label_embedding(labels))"),
        fails="cond_unet_values", says="BEFORE the blocks"),
    Bug("label embedding not zero-initialised", "cond_unet_impl",
        ("        nn.init.zeros_(self.label_embedding.weight)\n", ""),
        fails="cond_unet_values", says="zero-initialise"),
    Bug("no extra row: 'no label' is the last real class", "cond_unet_impl",
        (ROWS, "self.label_embedding = nn.Embedding(num_classes, 4 * self.channels)"),
        ("self.null_index = num_classes", "self.null_index = num_classes - 1"),
        fails="cond_unet_values", says="one more for 'no label'"),
    Bug("'no label' index collides with class 0", "cond_unet_impl",
        ("self.null_index = num_classes", "self.null_index = 0"),
        fails="cond_unet_values", says="any other index is a real class"),
    Bug("labels=None looked up as class 0", "cond_unet_impl",
        ("labels = torch.full((B,), self.null_index, dtype=torch.long, device=x.device)",
         "labels = torch.zeros(B, dtype=torch.long, device=x.device)"),
        fails="cond_unet_values", says="row 0 is class 0's"),
    Bug("label embedding replaces the step embedding", "cond_unet_impl",
        (EMB, "emb = self.label_embedding(labels)"), fails="cond_unet_values", says="ADD the label embedding"),
    Bug("label embedding skips the down blocks", "cond_unet_impl",
        ("            h, skip = down(h, emb)", "            h, skip = down(h, emb - self.label_embedding(labels))"),
        fails="cond_unet_values", says="the down blocks must see the label"),
    Bug("label embedding of size channels", "cond_unet_impl",
        (ROWS, "self.label_embedding = nn.Embedding(num_classes + 1, self.channels)"),
        (EMB, "emb = self.step_embedding(num_steps) + self.label_embedding(labels).repeat(1, 4)"),
        fails="cond_unet_values", says="size is 4 * channels"),
    # condition dropout and the loss
    Bug("labels kept with probability p_uncond", "drop_labels_impl", (DRAW, DRAW.replace("< p_uncond", ">= p_uncond")),
        fails="drop_labels_values", says="dropped where u >= p_uncond"),
    Bug("labels modified in place", "drop_labels_impl",
        (WHERE, "labels[drop] = null_index\n    return labels"), fails="drop_labels_values", says="in place"),
    Bug("dropout drawn from the global generator", "drop_labels_impl",
        (DRAW, "drop = torch.rand(B, device=labels.device) < p_uncond"),
        fails="drop_labels_values", says="global random generator"),
    Bug("one dropout draw for the whole batch", "drop_labels_impl",
        (DRAW, "drop = (torch.rand(1, generator=generator, device=labels.device) < p_uncond).expand(B)"),
        fails="drop_labels_values", says="each label is dropped on its own"),
    Bug("loss without condition dropout", "drop_labels_impl", (DROPPED, "dropped = labels"),
        fails="drop_labels_values", says="with p_uncond=1 every label"),
    Bug("loss draws t and the noise before the dropout", "drop_labels_impl",
        (DROPPED + "\n    " + LOSS,
         "from ddpm_course.l3_diffusion.reference import noise_img\n"
         "    t, noise, x_t = noise_img(x0, schedule, generator)\n"
         "    dropped = drop_labels(labels, p_uncond, null_index, generator)\n"
         "    return torch.nn.functional.mse_loss(model(x_t, t, dropped), noise)"),
        fails="drop_labels_values", says="drop the labels FIRST"),
    Bug("loss drops with the default p_uncond", "drop_labels_impl",
        (DROPPED, "dropped = drop_labels(labels, P_UNCOND, null_index, generator)"),
        fails="drop_labels_values", says="with the p_uncond passed in"),
    Bug("dropout drawn on the CPU", "drop_labels_impl", (DRAW, "drop = torch.rand(B, generator=generator) < p_uncond"),
        fails="drop_labels_values", says="labels' device"),
    # guidance
    Bug("guidance sign flipped", "guided_eps_impl", (GUIDE, "return eps_uncond - w * (eps_cond - eps_uncond)"),
        fails="guided_eps_values", says="sign is flipped"),
    Bug("w applied to the unconditional branch", "guided_eps_impl",
        (GUIDE, "return eps_cond + w * (eps_uncond - eps_cond)"), fails="guided_eps_values", says="towards ε∅"),
    Bug("the paper's w used as this lesson's", "guided_eps_impl",
        (GUIDE, "return (1 + w) * eps_cond - w * eps_uncond"), fails="guided_eps_values", says="the paper's 1 + w"),
    Bug("two forward passes", "guided_eps_impl",
        (CALL + "\n    " + SPLIT,
         "eps_cond = model(x, t, labels)\n    eps_uncond = model(x, t, null)"),
        fails="guided_eps_values", says="ONE call"),
    Bug("'no label' as class 0 in the unconditional half", "guided_eps_impl",
        ("null = torch.full_like(labels, null_index)", "null = torch.zeros_like(labels)"),
        fails="guided_eps_values", says="not a real class"),
    Bug("steps not doubled with the batch", "guided_eps_impl", ("torch.cat([t, t])", "t"),
        fails="guided_eps_values", says="double t too"),
    Bug("null labels made on the CPU", "guided_eps_impl",
        ("null = torch.full_like(labels, null_index)", "null = torch.full((B,), null_index, dtype=torch.long)"),
        fails="guided_eps_values", says="labels' device"),
    # guided sampling
    Bug("condition dropout at sampling time", "guided_sample_impl",
        ("    def guided(", "    labels = drop_labels(labels, P_UNCOND, null_index, generator)\n\n    def guided("),
        fails="guided_sample_values", says="no condition dropout at sampling time"),
    Bug("x0 not clipped while sampling", "guided_sample_impl", (DDIM, DDIM.replace("clip_x0=True", "clip_x0=False")),
        fails="guided_sample_values", says="clip_x0=True"),
    Bug("w not passed on", "guided_sample_impl", (INNER, INNER.replace(", w,", ", 1.0,")),
        fails="guided_sample_values", says="do not depend on w"),
    Bug("generator not passed on", "guided_sample_impl", (DDIM, DDIM.replace("generator=generator", "generator=None")),
        fails="guided_sample_values", says="global random generator"),
    Bug("eta not passed on", "guided_sample_impl", (DDIM, DDIM.replace("eta=eta", "eta=0.0")),
        fails="guided_sample_values", says="pass eta"),
    Bug("num_steps not passed on", "guided_sample_impl", (DDIM, DDIM.replace("num_steps=num_steps", "num_steps=50")),
        fails="guided_sample_values", says="pass num_steps on"),
    Bug("null_index not passed on", "guided_sample_impl", (INNER, "return guided_eps(model, x, t, labels, w)"),
        fails="guided_sample_values", says="null_index you were given"),
]

ALTERNATIVES = [
    Alternative("labels=None through torch.full_like of the steps", "cond_unet_impl",
                ("labels = torch.full((B,), self.null_index, dtype=torch.long, device=x.device)",
                 "labels = torch.full_like(num_steps, self.null_index)")),
    Alternative("zero-initialised through .data", "cond_unet_impl",
                ("nn.init.zeros_(self.label_embedding.weight)", "self.label_embedding.weight.data.zero_()")),
    Alternative("dropout by masked assignment on a clone", "drop_labels_impl",
                (WHERE, "dropped = labels.clone()\n    dropped[drop] = null_index\n    return dropped")),
    Alternative("the loss written out with lesson 3's noise_img", "drop_labels_impl",
                (LOSS, "from ddpm_course.l3_diffusion.reference import noise_img\n"
                       "    t, noise, x_t = noise_img(x0, schedule, generator)\n"
                       "    return torch.nn.functional.mse_loss(model(x_t, t, dropped), noise)")),
    Alternative("the paper's form, (1 + w') εc - w' ε∅ with w' = w - 1", "guided_eps_impl",
                (GUIDE, "return w * eps_cond - (w - 1) * eps_uncond")),
    Alternative("the halves by slicing, unconditional first", "guided_eps_impl",
                (CALL, "eps = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([null, labels]))"),
                (SPLIT, "eps_uncond, eps_cond = eps[:B], eps[B:]")),
    Alternative("guidance computed inside the sampler", "guided_sample_impl",
                (INNER, "eps_cond, eps_uncond = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, "
                        "torch.full_like(labels, null_index)])).chunk(2)\n"
                        "        return eps_uncond + w * (eps_cond - eps_uncond)")),
]
