"""Bundled model weights (package data); see srmeta.models.bundled."""
