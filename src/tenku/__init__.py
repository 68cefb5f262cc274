"""tenku: open text-to-video on spacetime patches of a causal video latent."""

__version__ = "0.1.0"
