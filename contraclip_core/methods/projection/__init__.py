"""Projection: a picture → the latent code whose render reproduces it (a faithful inversion, issue #30).

The code (W, W+ or Z, and for StyleGAN2 optionally its per-layer noise) is optimised so that its render matches the
picture in pixels and, when the generator's CLIP is on the machine, in CLIP image features; it starts from a first
guess where one exists for the generator (its e4e / pSp encoder, or a CLIP → latent mapper's inversion, which the
registry hands in as ``GUESSES``), else from the mean code. The
mapper alone is semantic (≈20 dB PSNR on the Shapes world); the projection is faithful (docs/PROJECTION.md).

Roles: ``model.py`` (the optimised code), ``losses.py``, ``train.py`` (the projector, ``project_iter``/``project``),
``evaluate.py`` (its quality on the Shapes world and on a random-weights StyleGAN2), ``artefact.py`` (a code's
file), ``service.py`` (the app's actions: a picture → an anchor, streamed; the encoder's one pass), ``cli.py``
(``project``).
"""
