"""The extractive model: labels, features, model, post-processing, inference, steps."""
