"""Training: the loop, checkpoints, logging and distributed setup."""
