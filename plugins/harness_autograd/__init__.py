"""Autograd engine: a scalar Value to teach with and a NumPy Tensor that trains MNIST."""
