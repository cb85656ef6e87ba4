"""Inference: tiled upscaling of whole images, backends, the upscale command and API."""
