"""Serving: the model cache that keeps many models resident under a byte budget."""
