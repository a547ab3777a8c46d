"""The embedded local index: numpy reference kernel, the same kernel jit-compiled by numba, save/load."""
