"""What train.py is made of: options, targets, augmentation, the loop's parts, checkpoints and records."""
