"""The tiny CLIP of the Shapes world: captions, contrastive training, zero-shot evaluation.

Command line: ``python -m contraclip_core.shapes_clip {generator,train,evaluate,examples} --help``.
"""
