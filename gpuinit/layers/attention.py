"""MultiHeadAttention: Keras 3's parameters, shapes, defaults and per-axis kernel fans.

Keras' ``MultiHeadAttention`` holds four ``EinsumDense`` sublayers, ``query``, ``key``,
``value`` and ``attention_output``; here they are the parameters ``query/weight``,
``query/bias``, ... ``attention_output/bias`` of one layer (``weight`` is Keras'
``kernel``, as in :class:`~gpuinit.layers.Dense`).  As ``EinsumDense`` does, a
variance-scaling kernel initializer (glorot, he, lecun, VarianceScaling) without
explicit axes gets the kernel's own ``input_axes``/``output_axes``, so fan_in of the
query kernel ``(dim, num_heads, key_dim)`` is ``dim``, not ``dim * num_heads``.
"""

from __future__ import annotations

import copy
import math
import sys
from numbers import Integral
from typing import Any

from ..arguments import check_bool, check_int, check_real, check_shape
from ..devices import array_module
from ..initializers import VarianceScaling
from .base import Layer, _as_initializer, _check_spec, _serialize_spec
from .core import as_compute, values_of
from .parameter import Parameter, is_array_like

# the four projections, in Keras' creation (and weights) order
PARTS = ("query", "key", "value", "attention_output")


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention over ``(batch, seq, dim)`` inputs.

    Arguments as ``keras.layers.MultiHeadAttention``: ``num_heads``, ``key_dim`` (the
    size of each head for query and key), ``value_dim`` (None: ``key_dim``),
    ``dropout`` (0.0), ``use_bias`` (True), ``output_shape`` (None: the query's last
    dimension; an int or a tuple of ints), ``attention_axes`` (only None, Keras'
    default: attention over the sequence axis; ``1``, ``-2``, ``(1,)`` say the same; any
    other is a ValueError), ``kernel_initializer`` ("glorot_uniform") and
    ``bias_initializer`` ("zeros").

    Parameters, in Keras' order and shapes (``query_dim``, ``key_input_dim`` and
    ``value_input_dim`` are the last dimensions of the three inputs):

    * ``query/weight`` ``(query_dim, num_heads, key_dim)``, ``query/bias``
      ``(num_heads, key_dim)``;
    * ``key/weight`` ``(key_input_dim, num_heads, key_dim)``, ``key/bias``
      ``(num_heads, key_dim)``;
    * ``value/weight`` ``(value_input_dim, num_heads, value_dim)``, ``value/bias``
      ``(num_heads, value_dim)``;
    * ``attention_output/weight`` ``(num_heads, value_dim, *output_shape)``,
      ``attention_output/bias`` ``output_shape``.

    Every kernel takes ``kernel_initializer=`` (or gpuinit's ``weight=``) and every bias
    ``bias_initializer=`` (or ``bias=``); these take initializers only.  One parameter
    is set by its own keyword, which wins over those: ``query_weight=``,
    ``query_bias=``, ``key_weight=``, ``key_bias=``, ``value_weight=``,
    ``value_bias=``, ``attention_output_weight=``, ``attention_output_bias=``, each
    taking what Dense's ``weight=`` takes (an initializer, an array, a shared
    :class:`~gpuinit.Parameter`); ``initial_weights=`` uses the parameter names
    (``{"query/weight": array}``) or Keras' weights order.  A kernel made by a
    variance-scaling initializer (a gpuinit ``VarianceScaling`` or preset, or a
    ``keras.initializers.VarianceScaling``) without ``input_axes``/``output_axes`` is
    made by a copy of it with the kernel's axes, as Keras' ``EinsumDense`` does:
    query/key/value ``input_axes=[0]``, ``output_axes=[1, 2]``; attention_output
    ``input_axes=[0, 1]``, ``output_axes=[2, ...]``.  Initializers with axes of their
    own (and JAX-rule ones) and shared Parameters keep theirs.  Each parameter has
    its own path and stream, so the four kernels differ even with one seeded
    initializer.

    Inputs: in a :class:`~gpuinit.layers.Sequential` model (whose layers take one input)
    the layer is self-attention: query, key and value are the layer's input ``(seq,
    dim)``.  Standing alone, ``build(query_shape, value_shape, key_shape, seed=...,
    device=..., dtype=...)`` (shapes without the batch axis; ``key_shape`` defaults to
    ``value_shape``, ``value_shape`` to ``query_shape``) and then ``layer(query, value,
    key=None)`` compute cross-attention as Keras' ``layer(query, value, key)`` does.

    The forward pass is Keras' in inference mode: the three projections,
    ``softmax(q k^T / sqrt(key_dim))`` over the keys, the weighted sum of the values,
    the output projection.  Dropout (training only) is not applied, and there is no
    ``attention_mask``, ``use_causal_mask`` or ``return_attention_scores``.  Keras'
    regularizers, constraints, ``use_gate``, ``sliding_window``, ``flash_attention`` and
    ``seed`` are not arguments.  ``save_weights("....weights.h5")`` writes Keras 3's
    layout (one group per sublayer: ``query_dense/vars`` ...), which Keras loads.
    Matches ``keras.layers.MultiHeadAttention``.
    """

    base_name = "multi_head_attention"

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None,
                 dropout: float = 0.0, use_bias: bool = True, output_shape: Any = None,
                 attention_axes: Any = None, kernel_initializer: Any = None,
                 bias_initializer: Any = None, *, weight: Any = None, bias: Any = None,
                 query_weight: Any = None, query_bias: Any = None, key_weight: Any = None,
                 key_bias: Any = None, value_weight: Any = None, value_bias: Any = None,
                 attention_output_weight: Any = None, attention_output_bias: Any = None,
                 initial_weights: Any = None, **options):
        super().__init__(**options)
        self.num_heads = check_int(num_heads, "num_heads", 1)
        self.key_dim = check_int(key_dim, "key_dim", 1)
        self.value_dim = self.key_dim if value_dim is None else check_int(value_dim,
                                                                           "value_dim", 1)
        self.dropout = _check_dropout(dropout)
        self.use_bias = check_bool(use_bias, "use_bias")
        self._output_dims = _check_output_shape(output_shape)
        self.attention_axes = _check_attention_axes(attention_axes)
        # the shapes (no batch axis) of the value and key inputs, once built
        self.value_shape: tuple[int, ...] | None = None
        self.key_shape: tuple[int, ...] | None = None
        self._kernels = _group(weight, kernel_initializer, "weight", "kernel_initializer",
                               "glorot_uniform")
        own = {"query/weight": query_weight, "key/weight": key_weight,
               "value/weight": value_weight, "attention_output/weight": attention_output_weight}
        if self.use_bias:
            self._biases = _group(bias, bias_initializer, "bias", "bias_initializer", "zeros")
            own.update({"query/bias": query_bias, "key/bias": key_bias,
                        "value/bias": value_bias, "attention_output/bias": attention_output_bias})
        else:
            self._biases = None
            given = [name for name, value in (
                ("bias", bias), ("bias_initializer", bias_initializer),
                ("query_bias", query_bias), ("key_bias", key_bias), ("value_bias", value_bias),
                ("attention_output_bias", attention_output_bias)) if value is not None]
            if given:
                raise TypeError(f"MultiHeadAttention: {given[0]}= was given with "
                                "use_bias=False")
        for part in PARTS:  # Keras' order: each sublayer's kernel, then its bias
            for kind in ("weight", "bias"):
                key = f"{part}/{kind}"
                if key in own:
                    group = self._kernels if kind == "weight" else self._biases
                    self.declare(key, None, group, keras_keyword=f"{part}_{kind}",
                                 keras_value=own[key])
        self.apply_initial_weights(initial_weights)

    # -- shapes -----------------------------------------------------------------------
    def _inputs(self, input_shape) -> tuple[tuple[int, ...], ...]:
        """Return the (query, value, key) shapes for the query shape ``input_shape``: the
        built value and key shapes, or self-attention's before the layer is built."""
        query = tuple(input_shape)
        value = query if self.value_shape is None else self.value_shape
        key = value if self.key_shape is None else self.key_shape
        _check_input_shapes(query, value, key, self.name)
        return query, value, key

    def parameter_shapes(self, input_shape):
        query, value, key = self._inputs(input_shape)
        heads = self.num_heads
        shapes = {"query/weight": (query[-1], heads, self.key_dim),
                  "query/bias": (heads, self.key_dim),
                  "key/weight": (key[-1], heads, self.key_dim),
                  "key/bias": (heads, self.key_dim),
                  "value/weight": (value[-1], heads, self.value_dim),
                  "value/bias": (heads, self.value_dim),
                  "attention_output/weight": (heads, self.value_dim, *self._output_of(query)),
                  "attention_output/bias": self._output_of(query)}
        return {key: shape for key, shape in shapes.items() if key in self._specs}

    def _output_of(self, query: tuple[int, ...]) -> tuple[int, ...]:
        """Return the output features: ``output_shape``, or the query's last dimension."""
        return self._output_dims if self._output_dims is not None else (query[-1],)

    def output_shape(self, input_shape):
        query, _, _ = self._inputs(input_shape)
        return (query[0], *self._output_of(query))

    # -- building -----------------------------------------------------------------------
    def build(self, input_shape: Any, value_shape: Any = None, key_shape: Any = None, *,
              seed: int, device: Any, dtype: Any, progress=None) -> tuple[int, ...]:
        """Make the parameters for the query shape ``input_shape`` (no batch axis), the
        value shape (None: the query's, self-attention) and the key shape (None: the
        value's); returns the output shape.  ValueError naming the shape for inputs that
        are not ``(seq, dim)``, for key and value sequences of different lengths, and
        for a built layer given other shapes.  A build that fails changes nothing."""
        query = check_shape(input_shape, "input_shape")
        value = query if value_shape is None else check_shape(value_shape, "value_shape")
        key = value if key_shape is None else check_shape(key_shape, "key_shape")
        _check_input_shapes(query, value, key, self.name)
        if self.built:
            built = (self.input_shape, self.value_shape, self.key_shape)
            if (query, value, key) != built:
                raise ValueError(f"layer {self.name!r} was built for (query, value, key) "
                                 f"shapes {built}, here it gets {(query, value, key)}")
            return self.output_shape(query)
        previous = (self.value_shape, self.key_shape)
        self.value_shape, self.key_shape = value, key
        try:
            return super().build(query, seed=seed, device=device, dtype=dtype,
                                 progress=progress)
        except BaseException:
            self.value_shape, self.key_shape = previous
            raise

    def snapshot(self):
        restore_layer = super().snapshot()
        shapes = (self.value_shape, self.key_shape)

        def restore() -> None:
            restore_layer()
            self.value_shape, self.key_shape = shapes

        return restore

    def _make_parameters(self, input_shape, *, seed, device, dtype, progress):
        # the kernels' initializers get the kernels' axes for the build only; _specs (and
        # get_config) keep what the user gave, as Keras' config does
        given = dict(self._specs)
        rank = len(self._output_of(input_shape))
        self._specs.update({key: _with_axes(spec, key, rank) for key, spec in given.items()
                            if key.endswith("/weight") and self.from_initializer(key)})
        try:
            return super()._make_parameters(input_shape, seed=seed, device=device,
                                            dtype=dtype, progress=progress)
        finally:
            self._specs = given

    # -- forward --------------------------------------------------------------------------
    def forward(self, x, xp):
        """Return self-attention of the batch ``x`` ``(batch, seq, dim)``: query, key and
        value are all ``x`` (the layer inside a Sequential model)."""
        return self.attend(x, x, x, xp)

    def __call__(self, query, value=None, key=None):
        """Return the attention output for ``query`` ``(batch, T, dim)``, ``value``
        ``(batch, S, dim_v)`` (None: ``query``) and ``key`` ``(batch, S, dim_k)`` (None:
        ``value``), computed with the array module of the parameters; as Keras'
        ``layer(query, value, key)`` in inference mode.  The layer must be built."""
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built: call build(query_shape, "
                             "value_shape, seed=..., device=..., dtype=...) or put it in a "
                             "model first")
        xp = array_module(self.parameters["query/weight"].device)
        value = query if value is None else value
        return self.attend(query, value, value if key is None else key, xp)

    def attend(self, query, value, key, xp):
        """Return the attention output for the batches ``query``, ``value`` and ``key``
        (arrays of module ``xp``); ValueError naming the input whose shape does not fit
        the built layer."""
        query, value, key = (as_compute(a, xp) for a in (query, value, key))
        for label, array, shape in (("query", query, self.input_shape),
                                    ("value", value, self.value_shape),
                                    ("key", key, self.key_shape)):
            if array.ndim != 3 or array.shape[-1] != shape[-1]:
                raise ValueError(f"{self.name}: {label} must have shape (batch, seq, "
                                 f"{shape[-1]}), got {tuple(array.shape)}")
        if key.shape[:2] != value.shape[:2] or query.shape[0] != value.shape[0]:
            raise ValueError(f"{self.name}: query {tuple(query.shape)}, value "
                             f"{tuple(value.shape)} and key {tuple(key.shape)} need one batch "
                             "size, and key and value one sequence length")
        q = self._project(query, "query", xp) * (1.0 / math.sqrt(self.key_dim))
        k = self._project(key, "key", xp)
        v = self._project(value, "value", xp)
        # (batch, heads, T, S): each query position against each key position
        scores = xp.matmul(q.transpose(0, 2, 1, 3), k.transpose(0, 2, 3, 1))
        if scores.shape[-1]:
            scores = xp.exp(scores - scores.max(axis=-1, keepdims=True))
            scores = scores / scores.sum(axis=-1, keepdims=True)
        context = xp.matmul(scores, v.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
        w = values_of(self, "attention_output/weight", xp)
        batch, steps = context.shape[:2]
        inner, outer = self.num_heads * self.value_dim, math.prod(w.shape[2:])
        y = context.reshape(batch, steps, inner) @ w.reshape(inner, outer)
        y = y.reshape(batch, steps, *w.shape[2:])
        if self.use_bias:
            y = y + values_of(self, "attention_output/bias", xp)
        return y

    def _project(self, x, part: str, xp):
        """Return ``x @ <part>/weight (+ bias)`` as (batch, seq, heads, head size)."""
        w = values_of(self, f"{part}/weight", xp)
        y = (x @ w.reshape(w.shape[0], w.shape[1] * w.shape[2])).reshape(*x.shape[:-1],
                                                                        *w.shape[1:])
        if self.use_bias:
            y = y + values_of(self, f"{part}/bias", xp)
        return y

    # -- configuration ------------------------------------------------------------------
    def get_config(self) -> dict:
        """Return the constructor arguments: the ones of Keras, ``weight``/``bias`` for the
        group initializers and ``<part>_<weight|bias>`` for a parameter given its own
        initializer (arrays and Parameters travel with the weights, not the config)."""
        config = super().get_config()
        for key in self._specs:
            del config[key]
        config.update({"num_heads": self.num_heads, "key_dim": self.key_dim,
                       "value_dim": self.value_dim, "dropout": self.dropout,
                       "use_bias": self.use_bias,
                       "output_shape": None if self._output_dims is None
                       else list(self._output_dims),
                       "attention_axes": None if self.attention_axes is None
                       else list(self.attention_axes),
                       "weight": _serialize_spec(self._kernels)})
        if self.use_bias:
            config["bias"] = _serialize_spec(self._biases)
        for key, spec in self._specs.items():
            group = self._kernels if key.endswith("/weight") else self._biases
            if spec is not group and self.from_initializer(key):
                config[key.replace("/", "_")] = _serialize_spec(spec)
        return config


def _group(ours: Any, keras_value: Any, name: str, keras_name: str, default: Any) -> Any:
    """Return the initializer of a group of parameters (every kernel, every bias): ``ours``
    (``weight=``/``bias=``) or ``keras_value`` (Keras' keyword), else ``default``.
    TypeError for both, and for an array or a Parameter (the group's shapes differ)."""
    if ours is not None and keras_value is not None:
        raise TypeError(f"MultiHeadAttention: give {name}= or {keras_name}=, not both")
    argument = name if ours is not None else keras_name
    chosen = ours if ours is not None else keras_value
    if chosen is None:
        return default
    _check_spec(chosen, f"{argument}=")
    if is_array_like(chosen) or isinstance(chosen, Parameter):
        part = "weight" if name == "weight" else "bias"
        raise TypeError(f"{argument}= takes an initializer for all four {part}s; give an "
                        f"array or a Parameter to one of them (query_{part}=, key_{part}=, "
                        f"value_{part}=, attention_output_{part}=)")
    return chosen


def _with_axes(spec: Any, key: str, output_rank: int) -> Any:
    """Return the initializer ``spec`` of kernel ``key`` as Keras' EinsumDense uses it: a
    variance-scaling one without axes is copied with the kernel's input and output axes;
    any other as it is."""
    if key == "attention_output/weight":
        axes = ([0, 1], list(range(2, 2 + output_rank)))
    else:
        axes = ([0], [1, 2])
    initializer = _as_initializer(spec)
    if isinstance(initializer, VarianceScaling):
        if initializer.fan_rule != "keras" or initializer.input_axes is not None:
            return spec
        clone = copy.copy(initializer)
        clone.input_axes, clone.output_axes = tuple(axes[0]), tuple(axes[1])
        return clone
    keras = sys.modules.get("keras")
    keras_class = getattr(getattr(keras, "initializers", None), "VarianceScaling", None)
    if isinstance(keras_class, type) and isinstance(initializer, keras_class) and (
            initializer.input_axes is None or initializer.output_axes is None):
        config = initializer.get_config()  # EinsumDense._update_kernel_initializer
        config.update(seed=initializer.seed, input_axes=axes[0], output_axes=axes[1])
        return type(initializer).from_config(config)
    return spec


def _check_input_shapes(query, value, key, name) -> None:
    """Raise ValueError unless query, value and key are ``(seq, dim)`` shapes (no batch
    axis) whose key and value sequences have one length."""
    where = f"{name}: " if name else ""
    for label, shape in (("query (input_shape)", query), ("value_shape", value),
                         ("key_shape", key)):
        if len(shape) != 2:
            raise ValueError(f"{where}MultiHeadAttention attends over the sequence axis of "
                             f"(batch, seq, dim) inputs: {label} must be (seq, dim) without "
                             f"the batch axis, got {shape}")
    if value[0] != key[0]:
        raise ValueError(f"{where}value_shape {value} and key_shape {key} must have the same "
                         "sequence length (all dimensions but the last, as in Keras)")


def _check_dropout(dropout: Any) -> float:
    """Return ``dropout`` as a float in [0, 1]; TypeError/ValueError naming it otherwise."""
    rate = check_real(dropout, "dropout")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout={rate} must be in [0, 1]")
    return rate


def _check_output_shape(output_shape: Any) -> tuple[int, ...] | None:
    """Return ``output_shape`` (None, an int or a sequence of ints >= 1) as a tuple or None;
    an empty sequence is None, as in Keras.  TypeError/ValueError naming it otherwise."""
    if output_shape is None:
        return None
    if isinstance(output_shape, Integral) and not isinstance(output_shape, bool):
        output_shape = (output_shape,)
    if isinstance(output_shape, (str, bytes, dict)) or not hasattr(output_shape, "__iter__"):
        raise TypeError(f"output_shape must be None, an int or a tuple of ints, got "
                        f"{type(output_shape).__name__}")
    dims = tuple(output_shape)
    return tuple(check_int(d, "output_shape", 1) for d in dims) or None


def _check_attention_axes(attention_axes: Any) -> tuple[int, ...] | None:
    """Return None (Keras' default) or ``(1,)`` for an ``attention_axes`` that names the
    sequence axis of ``(batch, seq, dim)`` inputs (1 or -2, alone or in a list);
    TypeError for what is no axis, ValueError for any other axes."""
    if attention_axes is None:
        return None
    axes = (attention_axes,) if isinstance(attention_axes, Integral) else attention_axes
    if not isinstance(axes, (list, tuple)):
        raise TypeError(f"attention_axes must be None, an int, a list or a tuple, got "
                        f"{type(attention_axes).__name__}")
    for axis in axes:
        if isinstance(axis, bool) or not isinstance(axis, Integral):
            raise TypeError(f"attention_axes={attention_axes!r}: axes must be integers")
    # Keras reads a negative axis of the projected (batch, seq, heads, size) tensor: -2 is 1
    normalized = tuple(int(a) if a >= 0 else 3 + int(a) for a in axes)
    if normalized != (1,):
        raise ValueError(f"attention_axes={attention_axes!r} is not supported: only attention "
                         "over the sequence axis of (batch, seq, dim) inputs (None, Keras' "
                         "default, or 1 / -2)")
    return (1,)
