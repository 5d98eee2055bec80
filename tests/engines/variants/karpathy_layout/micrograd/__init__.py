"""A learner's own micrograd package, laid out as in the lecture repository."""
