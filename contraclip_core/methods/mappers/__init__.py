"""CLIP embedding → latent code mappers (CLIP2GAN, CSLA): one model, two training objectives, one file format."""
