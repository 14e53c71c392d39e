"""Measuring a model: metrics, calibration, robustness, and the model card."""
