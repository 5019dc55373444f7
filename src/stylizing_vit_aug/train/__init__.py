"""Fine-tuning the stylizer: the paper's objective, the perceptual network, data and trainer."""
