"""Pictures of what a model does: attention heatmaps (and gate activations).

matplotlib is optional and imported only when a picture is drawn.
"""

from .attention import plot_attention
from .gates import gate_activations, plot_gates

__all__ = ["plot_attention", "plot_gates", "gate_activations"]
