"""Image → W+ encoders of a StyleGAN2 generator: pSp and e4e, from their authors' checkpoints."""
from .loading import encoder_config, load_encoder
from .model import EncoderConfig, StyleEncoder

__all__ = ["EncoderConfig", "StyleEncoder", "encoder_config", "load_encoder"]
