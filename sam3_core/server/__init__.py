"""The HTTP layer of ``sam3-serve``: the inference toolkit's contract, the seed Space's routes, read deadlines."""
