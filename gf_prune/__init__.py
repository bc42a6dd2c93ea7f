"""gf_prune: hardware-aware pruning of coherent photonic neural networks.

Train an SVD-based MZI-mesh network on its phases, prune phases (heaters), lay the
pruned network out with gdsfactory, verify it in SAX and hand it to a designer.
"""

__version__ = "0.1.0"
