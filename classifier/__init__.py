"""Quantised TFLite models that turn a crop into a verdict: chicken, predator or background."""
