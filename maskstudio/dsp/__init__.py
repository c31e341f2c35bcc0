"""Arrays in, arrays out: transforms, masks, oracles, resynthesis, separators, metrics.

numpy and scipy only; imports nothing of maskstudio but ``errors`` and ``checks``."""
