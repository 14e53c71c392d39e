"""From a face crop to the network's input and from logits to probabilities: the processor and the image operations it uses."""
