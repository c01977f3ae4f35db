"""The Layer base class, its parameter declarations, and the Input layer.

A layer declares its parameters in order (``weight``, ``bias`` ...), each with
what the user gave for it (by our keyword, by its Keras keyword, or through
Keraflow's ``initial_weights=``) or the Keras default.  When a model knows the
layer's input shape it calls :meth:`Layer.build`, which makes every parameter
on the model's device through :func:`~gpuinit.layers.parameter.make_parameters`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, ClassVar

from ..arguments import check_bool, check_int, check_shape
from ..dtypes import FORMATS, float_format
from ..given_arrays import shape_of
from ..initializers import serialize
from .parameter import (
    Parameter,
    ParameterSpec,
    assign_all,
    check_values,
    describe,
    is_array_like,
    make_parameters,
    undo,
    unique,
)


class Layer:
    """Base class of layers: declared parameters, shape inference, forward pass.

    Subclasses declare parameters in ``__init__`` with :meth:`declare`, and
    implement :meth:`parameter_shapes`, :meth:`output_shape` and :meth:`forward`.
    ``model = layer_a >> layer_b`` makes a :class:`~gpuinit.layers.Sequential`.
    The constructor refuses a ``name`` that is not a string (TypeError) and a
    ``dtype`` that is not a float dtype (ValueError/TypeError naming ``dtype``).
    """

    base_name = "layer"
    # The name given to the layer automatically, and by what: "build" (a build on its own,
    # :meth:`default_name`) or "model" (a model's name for an unnamed layer); None when
    # the user named it.  See :attr:`name_may_change`.
    _default_name_given: str | None = None
    _name_origin: str | None = None
    # What ``layer >> other`` builds: a model class made from a list of layers
    # (Sequential, which registers itself with :func:`compose_into` as gpuinit.layers
    # is imported).
    model_type: ClassVar[Callable[[list[Layer]], Any]]

    def __init__(self, *, name: str | None = None, dtype: Any = None, trainable: bool = True,
                 input_shape: Any = None, input_dim: int | None = None, **unsupported: Any):
        if unsupported:
            # Keras' layers take more (groups=, mask_zero=, dropout=, regularizers ...):
            # name the layer and the arguments, not this base class.
            name = type(self).__name__
            raise TypeError(f"{name} does not take "
                            f"{', '.join(f'{key}=' for key in unsupported)}: gpuinit's layers "
                            "make parameters and run inference forward passes, with the "
                            f"arguments help(gpuinit.layers.{name}) lists")
        check_name(name, "name")
        check_bool(trainable, "trainable")
        self.name = name
        self.dtype = None if dtype is None else _parameter_dtype(dtype)
        if input_dim is not None:
            input_shape = (check_int(input_dim, "input_dim", 1),)
        self.declared_input_shape = None if input_shape is None else check_shape(
            input_shape, "input_shape")
        self._specs: dict[str, Any] = {}
        self._defaults: dict[str, Any] = {}
        self._trainable_flags: dict[str, bool] = {}
        self.parameters: dict[str, Parameter] = {}
        self.input_shape: tuple[int, ...] | None = None
        self.trainable = trainable

    @property
    def trainable(self) -> bool:
        """Return whether the layer is trainable (``trainable=`` of the constructor)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze (True) the layer, as ``keras.layers.Layer.trainable``
        does: the ``trainable`` flag of every parameter the layer made and declared
        trainable follows ``value``; the ones declared non-trainable (BatchNormalization's
        moving statistics) stay non-trainable, and a shared :class:`Parameter` given to
        the layer keeps its own flag."""
        self._trainable = check_bool(value, "trainable")
        for key, parameter in self.parameters.items():
            if self._trainable_flags[key] and not isinstance(self._specs[key], Parameter):
                parameter.trainable = value

    # -- declaring parameters -------------------------------------------------------
    def declare(self, name: str, value: Any, default: Any, *, keras_keyword: str | None = None,
                keras_value: Any = None, trainable: bool = True) -> None:
        """Declare parameter ``name``: ``value`` (our keyword) or ``keras_value`` (the Keras
        keyword), else ``default``.  Giving both is a TypeError.  A bad value is refused
        now, naming the keyword the caller wrote."""
        if value is not None and keras_value is not None:
            raise TypeError(f"{type(self).__name__}: give {name}= or {keras_keyword}=, "
                            "not both")
        chosen = value if value is not None else keras_value
        _check_spec(chosen, f"{name if keras_value is None else keras_keyword}=")
        self._specs[name] = chosen if chosen is not None else default
        self._defaults[name] = default
        self._trainable_flags[name] = trainable

    def declare_bias(self, use_bias: bool, bias: Any, bias_initializer: Any) -> bool:
        """Declare ``bias`` (default zeros) when ``use_bias``; returns ``use_bias``.
        TypeError when a bias is given with ``use_bias=False``."""
        check_bool(use_bias, "use_bias")
        if use_bias:
            self.declare("bias", bias, "zeros", keras_keyword="bias_initializer",
                         keras_value=bias_initializer)
        elif bias is not None or bias_initializer is not None:
            raise TypeError(f"{type(self).__name__}: bias= was given with use_bias=False")
        return use_bias

    def apply_initial_weights(self, initial_weights: Any) -> None:
        """Apply Keraflow's ``initial_weights=``: a dict by parameter name; a list
        filled first-come-first-served (None leaves a parameter to its
        initializer); or a single array / nested list meaning the first parameter.

        A list counts as a list of weights when each item is an array (something
        with a ``shape``), a Parameter or None; otherwise it is one nested list.
        """
        if initial_weights is None:
            return
        names = list(self._specs)
        if isinstance(initial_weights, dict):
            unknown = sorted(set(initial_weights) - set(names))
            if unknown:
                raise ValueError(f"initial_weights names {unknown} that {type(self).__name__} "
                                 f"does not have; its parameters are {names}")
            given = initial_weights
        elif isinstance(initial_weights, (list, tuple)) and _is_weight_list(initial_weights):
            if len(initial_weights) > len(names):
                raise ValueError(f"initial_weights has {len(initial_weights)} entries but "
                                 f"{type(self).__name__} has {len(names)} parameters {names}")
            given = dict(zip(names, initial_weights, strict=False))
        elif is_array_like(initial_weights) or isinstance(initial_weights, Parameter):
            if not names:
                raise ValueError(f"{type(self).__name__} has no parameters to fill")
            given = {names[0]: initial_weights}
        else:
            raise TypeError("initial_weights must be a dict, a list of arrays or an array, "
                            f"got {type(initial_weights).__name__}")
        for key, value in given.items():  # every value is checked before any is used
            if value is not None:
                _check_spec(value, f"initial_weights[{key!r}]")
        self._specs.update({key: value for key, value in given.items() if value is not None})

    # -- what subclasses implement --------------------------------------------------
    def parameter_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Return {parameter name: shape} for ``input_shape`` (without the batch axis)."""
        return {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Return the output shape (without the batch axis) for ``input_shape``."""
        return input_shape

    def forward(self, x, xp):
        """Return the layer's output for the batch ``x`` (an array of module ``xp``)."""
        raise NotImplementedError

    def after_build(self) -> None:
        """Adjust parameters right after they are made (e.g. the LSTM forget-gate bias)."""

    # -- building -------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """Return True once the layer's parameters exist."""
        return self.input_shape is not None

    def snapshot(self) -> Callable[[], None]:
        """Return a function that puts the layer (its name, parameters and built state) and
        every Parameter object given to it back as they are now."""
        state = (self.name, self._default_name_given, self._name_origin, self.parameters,
                 self.input_shape)
        shared = [spec.snapshot() for spec in self._specs.values() if isinstance(spec, Parameter)]

        def restore() -> None:
            undo(shared)
            (self.name, self._default_name_given, self._name_origin, self.parameters,
             self.input_shape) = state

        return restore

    def build(self, input_shape: Any, *, seed: int, device: Any, dtype: Any,
              progress=None) -> tuple[int, ...]:
        """Make the parameters for ``input_shape``; returns the output shape.

        A built layer (reused in a second model) only checks that the input
        shape matches.  Each parameter gets the path ``"<layer name>/<name>"``.
        A layer built on its own, with no name from a model or from ``name=``, is
        named :meth:`default_name` first.  A build that fails leaves the layer
        unbuilt (and unnamed) and the Parameters given to it as they were.
        """
        input_shape = check_shape(input_shape, "input_shape")
        if self.built:
            if input_shape != self.input_shape:
                raise ValueError(f"layer {self.name!r} was built for input shape "
                                 f"{self.input_shape}, here it gets {input_shape}")
            return self.output_shape(input_shape)
        restore = self.snapshot()
        if self.name is None:
            self.give_name(self.default_name(), "build")
        try:
            return self._make_parameters(input_shape, seed=seed, device=device, dtype=dtype,
                                         progress=progress)
        except BaseException:
            restore()
            raise

    def default_name(self) -> str:
        """Return the name a layer built on its own takes: its type's ``base_name``
        ("dense", "multi_head_attention"), which is Keras' snake_case class name.

        Keras numbers each name by a process-wide count of the layers made so far; here
        the name is fixed, because the parameters' streams hash their paths
        ("dense/weight"): the same code then gives the same values in any process, and
        the values of the first layer of that type in a model with the same seed.  A
        model that already holds a layer of that name renames this one as it names its
        own (``dense_1``), as Keras' numbered names never clash; its values stay.
        """
        return self.base_name

    def give_name(self, name: str, origin: str) -> None:
        """Name the layer automatically: ``origin`` is "build" (a build on its own) or
        "model" (a model naming an unnamed layer); returns None."""
        self.name = self._default_name_given = name
        self._name_origin = origin

    @property
    def name_may_change(self) -> bool:
        """Return True while a model that holds a layer of the same name may rename this
        one as it names its own (``dense_1``): the layer keeps a name given automatically,
        and renaming it changes no parameter path in use.  That is a name a build on its
        own gave it (its values stay), or a model's name for a layer not built yet (so
        ``(Input(3) >> Dense(4)) >> (Dense(5) >> Dense(2))`` composes); never a name
        given with ``name=``."""
        if self.name is None or self.name != self._default_name_given:
            return False
        return self._name_origin == "build" or not self.built

    def _make_parameters(self, input_shape: tuple[int, ...], *, seed: int, device: Any,
                         dtype: Any, progress) -> tuple[int, ...]:
        """Make the parameters of the unbuilt layer for ``input_shape``; returns the output
        shape.  Called by :meth:`build`, which undoes it when it fails."""
        shapes = self.parameter_shapes(input_shape)
        output = self.output_shape(input_shape)
        specs = [ParameterSpec(f"{self.name}/{key}", shapes[key], self._specs[key],
                               self.trainable and self._trainable_flags[key])
                 for key in self._specs]
        made = make_parameters(specs, seed=seed, device=device,
                               dtype=self.dtype if self.dtype is not None else dtype,
                               progress=progress)
        self.parameters = {key: made[spec.path] for key, spec in zip(self._specs, specs,
                                                                     strict=True)}
        self.input_shape = input_shape
        self.after_build()
        return output

    def from_initializer(self, name: str) -> bool:
        """Return True when parameter ``name`` was made by an initializer (not an array
        and not a Parameter given by the user)."""
        spec = self._specs[name]
        return not is_array_like(spec) and not isinstance(spec, Parameter)

    def initializer_names(self) -> dict[str, str]:
        """Return {parameter name: short initializer name} for the summary table."""
        out = {}
        for key, spec in self._specs.items():
            if isinstance(spec, Parameter):
                out[key] = f"shared:{describe(spec.initializer)}"
            elif is_array_like(spec):
                out[key] = "array"
            else:
                out[key] = describe(_as_initializer(spec))
        return out

    # -- weights (the Keras Layer API) -------------------------------------------------
    @property
    def weights(self) -> list[Parameter]:
        """Return the layer's Parameters in declaration order (Keras' creation order), each
        object once; [] before the layer is built.  Matches ``keras.layers.Layer.weights``."""
        return unique(self.parameters.values())

    @property
    def trainable_weights(self) -> list[Parameter]:
        """Return the trainable Parameters of :attr:`weights`; [] when the layer is frozen.
        Matches ``keras.layers.Layer.trainable_weights``."""
        return [p for p in self.weights if p.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        """Return the other Parameters of :attr:`weights` (all of them when the layer is
        frozen).  Matches ``keras.layers.Layer.non_trainable_weights``."""
        return [p for p in self.weights if not p.trainable] if self.trainable else self.weights

    def _named_weights(self) -> dict[str, Parameter]:
        """Return {"<layer name>/<parameter name>": Parameter} in :attr:`weights` order."""
        found: dict[str, Parameter] = {}
        seen: set[int] = set()
        for key, parameter in self.parameters.items():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                found[f"{self.name}/{key}"] = parameter
        return found

    def get_weights(self) -> list:
        """Return host (NumPy) copies of :attr:`weights`.  Matches
        ``keras.layers.Layer.get_weights``."""
        return [p.numpy() for p in self.weights]

    def set_weights(self, weights: list) -> None:
        """Write ``weights`` (arrays in :attr:`weights` order) into the parameters; returns
        None.  Count, shapes and element types are checked before anything is written
        (ValueError/TypeError naming the parameter), so a bad list changes nothing.
        Matches ``keras.layers.Layer.set_weights``; ValueError when the layer is not built
        (it has no parameters yet)."""
        self._check_built("set")
        assign_all(self._named_weights(), weights, f"layer {self.name!r}")

    def count_params(self) -> int:
        """Return the number of values in :attr:`weights`; ValueError when the layer is not
        built.  Matches ``keras.layers.Layer.count_params``."""
        self._check_built("count")
        return sum(p.size for p in self.weights)

    def _check_built(self, what: str) -> None:
        """Raise ValueError unless the layer is built: an unbuilt one has no parameters to
        ``what`` (set, count) yet."""
        if not self.built:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} is not built, so it "
                             f"has no parameters to {what} yet; build it (or put it in a "
                             "model) first")

    # -- configuration --------------------------------------------------------------
    def get_config(self) -> dict:
        """Return the constructor arguments.  Parameters given as initializers are
        serialized; ones given as arrays or Parameters are values, not
        configuration: the config records their default, and their values travel
        with ``get_weights``/``save_weights`` (as in Keras)."""
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self.dtype is not None:
            config["dtype"] = str(self.dtype)
        if self.declared_input_shape is not None:
            config["input_shape"] = list(self.declared_input_shape)
        for key, spec in self._specs.items():
            chosen = self._defaults[key] if not self.from_initializer(key) else spec
            config[key] = _serialize_spec(chosen)
        return config

    @classmethod
    def from_config(cls, config: dict):
        """Return ``cls(**config)``."""
        return cls(**config)

    def __rshift__(self, other):
        """Return ``Sequential([self]) >> other``; when that fails, this layer (named and
        perhaps built on the way) is put back as it was."""
        restore = self.snapshot()
        try:
            return Layer.model_type([self]) >> other
        except BaseException:
            restore()
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def compose_into(model_type: Callable[[list[Layer]], Any]) -> None:
    """Make ``model_type`` (called with a list of layers) what ``layer >> other`` builds;
    :class:`gpuinit.layers.Sequential` calls it when it is defined.  Returns None."""
    Layer.model_type = model_type


class Input(Layer):
    """The model's input: ``Input(10)`` or ``Input((28, 28, 1))`` (no batch axis).

    Matches ``keras.Input(shape=...)`` and NeuPy's ``Input(10)``; it has no parameters.
    """

    base_name = "input_layer"

    def __init__(self, shape: Any = None, *, name: str | None = None, batch_size=None,
                 dtype: Any = None):
        super().__init__(name=name)
        self.dtype = dtype  # the dtype of the input data (integers for Embedding), not checked
        if shape is None:
            raise TypeError("Input needs a shape: Input(10) or Input((28, 28, 1))")
        self.shape = check_shape(shape, "shape")
        if batch_size is not None:
            check_int(batch_size, "batch_size", 1)
        self.batch_size = batch_size

    def forward(self, x, xp):
        return x

    def get_config(self) -> dict:
        return {"shape": list(self.shape), "name": self.name, "batch_size": self.batch_size}


def _as_initializer(spec: Any):
    from ..initializers import get

    return get(spec)


def _serialize_spec(spec: Any) -> Any:
    """Return a layer's initializer as its config holds it: a string id as given, else
    gpuinit's serialized dict, else Keras' for a Keras initializer (``from_config`` reads
    both); an unregistered callable stays a Python object."""
    if isinstance(spec, str):
        return spec
    initializer = _as_initializer(spec)
    try:
        return serialize(initializer)
    except TypeError:
        keras_config = _keras_config(initializer)
        return initializer if keras_config is None else keras_config


def _keras_config(obj: Any) -> dict | None:
    """Return ``keras.initializers.serialize(obj)`` for a Keras initializer object (Keras
    is then imported: it made the object), None for anything else."""
    keras = sys.modules.get("keras")
    if keras is None or type(obj).__module__.split(".")[0] != "keras":
        return None
    return keras.initializers.serialize(obj)


def _parameter_dtype(dtype: Any) -> str:
    """Return the name of a layer's parameter dtype (float32, float64, float16, bfloat16);
    ValueError naming ``dtype`` for another dtype, TypeError for what is no dtype."""
    try:
        return float_format(dtype).name
    except ValueError:
        raise ValueError(f"dtype={dtype!r}: a layer's parameters need one of "
                         f"{', '.join(FORMATS)}") from None


def check_name(name: Any, argument: str) -> None:
    """Raise TypeError naming ``argument`` unless ``name`` is None or a string, ValueError for
    an empty string or one holding '/' (it separates the parts of a parameter path)."""
    if name is None:
        return
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a string, got {type(name).__name__} {name!r}")
    if not name or "/" in name or "\x00" in name:
        # '/' separates the parts of a parameter path; a NUL ends a name in .npz and
        # .weights.h5 files.
        raise ValueError(f"{argument}={name!r} must be a non-empty string without '/' or "
                         "NUL characters")


def _check_spec(spec: Any, argument: str) -> None:
    """Raise TypeError/ValueError naming ``argument`` ("weight=", "kernel_initializer=",
    "initial_weights['bias']") now, at construction, for an unusable parameter spec: an
    unknown initializer, an array that is ragged or not made of numbers, or a single
    number (every parameter of a layer has at least one axis)."""
    if spec is None or isinstance(spec, Parameter):
        return
    if is_array_like(spec):
        check_values(spec, argument)
        if shape_of(spec) == ():
            raise TypeError(f"{argument}: got the single number {spec!r}, but a parameter "
                            "needs an array of its shape or an initializer (Constant(value) "
                            "fills it with one value)")
        return
    try:
        _as_initializer(spec)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{argument}: {exc}") from None


def _is_weight_list(values) -> bool:
    return all(v is None or isinstance(v, Parameter) or hasattr(v, "shape") for v in values)

