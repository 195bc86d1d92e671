"""CF-CLIP (Yu et al., ACM MM 2022): edit any latent code toward one target sentence with a text-conditioned mapper
trained by the CLIP-NCE contrastive loss. ``model`` (the mapper), ``loss`` (CLIP-NCE), ``train`` (trainer),
``editset`` (the ``edit.safetensors`` + ``edit.json`` format), ``evaluate`` (Shapes ground truth), ``vocab`` (Shapes
caption sentences)."""
