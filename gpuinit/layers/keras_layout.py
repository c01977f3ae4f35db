"""Where Keras 3 keeps a Sequential model's variables: the ``vars`` groups of its
``.weights.h5`` files, worked out from our layers.

Keras 3 (``keras.src.saving.saving_lib``) stores variables by position, not by name:
the group ``layers/<class name in snake case, numbered per class: dense, dense_1 ...>/vars``
holds the layer's variables in Keras' order (trainable ones first, then the others,
each in creation order); a recurrent layer keeps them in its cell
(``layers/lstm/cell/vars``), MultiHeadAttention in one EinsumDense sublayer per
projection.  :mod:`gpuinit.weightfiles.keras_h5` writes and reads these groups.
"""

from __future__ import annotations

import re
from typing import Any

from .attention import MultiHeadAttention
from .base import Layer
from .parameter import Parameter
from .recurrent import Recurrent


def snake_case(name: str) -> str:
    """Return a class name in snake case ("Conv2D" -> "conv2d", "SimpleRNN" ->
    "simple_rnn").  Matches ``keras.src.utils.naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_order(layer: Layer) -> list[str]:
    """Return the names of ``layer``'s parameters in Keras' variable order: the ones declared
    trainable first, then the others, each in declaration (creation) order."""
    return sorted(layer.parameters, key=lambda key: not layer._trainable_flags[key])


# MultiHeadAttention's projections and the sublayer folders Keras saves them under.
_MHA_SUBLAYERS = {"query": "query_dense", "key": "key_dense", "value": "value_dense",
                  "attention_output": "output_dense"}


def groups(model: Any) -> list[tuple[str, str, list[tuple[str, Parameter]]]]:
    """Return the ``vars`` groups Keras writes for the equivalent of ``model`` (a
    Sequential): ``(group path, its name attribute, [(our parameter path, Parameter)])``,
    the datasets of each group being ``"0"``, ``"1"`` ... in that order.  A shared
    Parameter is listed under every layer that uses it, as each Keras layer holds its
    own copy.  Matches the layout of ``keras.Model.save_weights``."""
    found: list[tuple[str, str, list[tuple[str, Parameter]]]] = [("vars", model.name, [])]
    used: dict[str, int] = {}
    for layer in model.layers:
        base = snake_case(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        where = f"layers/{base}" if used[base] == 0 else f"layers/{base}_{used[base]}"
        variables = [(f"{layer.name}/{key}", layer.parameters[key])
                     for key in keras_order(layer)]
        if isinstance(layer, Recurrent):
            found.append((f"{where}/vars", layer.name, []))
            found.append((f"{where}/cell/vars", f"{base}_cell", variables))
        elif isinstance(layer, MultiHeadAttention):
            # Keras' MHA keeps each projection in an EinsumDense sublayer of its own, and
            # writes the (empty) groups of its dropout and softmax sublayers too.
            found.append((f"{where}/vars", layer.name, []))
            found.append((f"{where}/_dropout_layer/vars", "dropout", []))
            found.append((f"{where}/_softmax/vars", "softmax", []))
            for part, folder in _MHA_SUBLAYERS.items():
                found.append((f"{where}/{folder}/vars", part,
                              [v for v in variables if v[0].split("/")[-2] == part]))
        else:
            found.append((f"{where}/vars", layer.name, variables))
    return found
