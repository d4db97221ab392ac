"""Options of the recurrent layers and cells: their checks, and the names of their parameters
in the native binding's convention (``lstmx._core.recurrent_forward``, the reference's keys).

Shared by ``LSTM``/``GRU``/``RNN`` and the single-step cells, so that a layer and a cell with
the same options refuse the same things with the same words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ACTIVATIONS = ("tanh", "relu", "leaky_relu", "elu", "sigmoid")
RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid")
_DEFAULT_ACTIVATION_PARAM = {"leaky_relu": 0.01, "elu": 1.0}

# parameter-dict keys of the native binding (and the reference) -> parameter-name stems
PARAM_KEYS = {"w_ih": "weight_ih", "w_hh": "weight_hh", "w_hr": "weight_hr",
             "b_ih": "bias_ih", "b_hh": "bias_hh",
             "ln_ih_w": "ln_ih_weight", "ln_ih_b": "ln_ih_bias",
             "ln_hh_w": "ln_hh_weight", "ln_hh_b": "ln_hh_bias",
             "ln_c_w": "ln_cell_weight", "ln_c_b": "ln_cell_bias"}


def check_cell_options(kind: str, hidden_size: int, bias: bool, layer_norm: bool,
                       activation: str, recurrent_activation: str,
                       activation_param: float | None) -> float:
    """Refuse option combinations that make no sense (shared by layers and cells); return
    the activation parameter to use (the default slope or alpha when None)."""
    if layer_norm and kind == "rnn":
        raise ValueError("layer_norm applies to LSTM and GRU, not RNN")
    if layer_norm and hidden_size < 2:
        raise ValueError("layer_norm needs hidden_size >= 2 (a one-unit gate block "
                         "normalises to its bias and ignores the input)")
    if layer_norm and not bias:
        raise ValueError("layer_norm carries its own biases (ln_*_bias); bias=False "
                         "cannot be combined with it")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if recurrent_activation not in RECURRENT_ACTIVATIONS:
        raise ValueError(f"recurrent_activation must be one of {RECURRENT_ACTIVATIONS}, "
                         f"got {recurrent_activation!r}")
    if kind == "rnn" and recurrent_activation != "sigmoid":
        raise ValueError("recurrent_activation applies to LSTM and GRU gates; RNN has none")
    if activation_param is None:
        return float(_DEFAULT_ACTIVATION_PARAM.get(activation, 0.0))
    if activation not in _DEFAULT_ACTIVATION_PARAM:
        raise ValueError("activation_param is the slope of leaky_relu or the alpha of elu; "
                         f"activation={activation!r} takes none")
    if not (np.isfinite(activation_param) and activation_param >= 0):
        raise ValueError(f"activation_param must be finite and >= 0, got {activation_param!r}")
    return float(activation_param)


def state_pair(state: Any, name: str, names: str) -> tuple[Any, Any]:
    """An LSTM state ``(h, c)`` (either may be None), or (None, None) for None; a single
    array or anything else is refused with an error saying what is expected."""
    if state is None:
        return None, None
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        got = f"an array of shape {state.shape}" if isinstance(state, np.ndarray) else \
            f"{type(state).__name__}" + (f" of length {len(state)}" if isinstance(
                state, (tuple, list)) else "")
        raise TypeError(f"{name} must be a pair {names} of arrays (either may be None) or "
                        f"None, got {got}")
    return state[0], state[1]


def check_rate(value: Any, name: str) -> float:
    """A dropout probability in [0, 1)."""
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return float(value)




def kernel_options(activation: str, activation_param: float, recurrent_activation: str,
                   layer_norm: bool) -> dict[str, Any]:
    """The keyword arguments of ``lstmx._core.recurrent_forward``/``backward`` for these
    options (eps is layer norm's, PyTorch's ``nn.LayerNorm`` default)."""
    return dict(activation=activation, activation_param=activation_param,
                recurrent_activation=recurrent_activation, layer_norm=layer_norm, eps=1e-5)


def kernel_params(parameters: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    """{binding key: Parameter} of one layer and direction (``suffix``: ``_l0``, ...)."""
    return {k: parameters[stem + suffix] for k, stem in PARAM_KEYS.items()
            if stem + suffix in parameters}
