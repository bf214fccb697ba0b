"""The fleet simulator: synthetic instances routing through the real pipeline against simulated
models whose true behaviour routelearn never sees (``routelearn simulate``)."""
