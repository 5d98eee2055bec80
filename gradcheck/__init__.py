"""gradcheck: prove backprop gradients right or wrong."""
