"""Sequential: a stack of layers whose parameters are made on the device when shapes are known.

``Sequential([Input(784), Dense(256), Dense(10)], seed=0)`` and NeuPy's
``Input(784) >> Dense(256) >> Dense(10)`` give the same model.  With an Input
(or a first layer with ``input_shape=``), every layer is built as it is added;
otherwise at :meth:`Sequential.build` or the first call on a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..arguments import check_bool, check_shape
from ..devices import Device, array_module
from ..devices import device as resolve_device
from ..dtypes import float_format
from ..seeding import resolve_seed
from ..weightfiles import load, save
from .base import Input, Layer, check_name, compose_into
from .keras_layout import groups
from .parameter import Parameter, assign_all, undo
from .summary import summary_table


class Sequential:
    """A linear stack of layers with device-resident parameters.

    ``seed`` (None: the next seed of :func:`gpuinit.manual_seed`'s sequence),
    ``device`` (None: the default device) and ``dtype`` (None: float32) apply
    to every parameter.  Each parameter draws from its own stream, a hash of its
    path ("dense_1/weight"), so the weights depend on (seed, path, shape,
    initializer) alone.  Layers are named per model as Keras names them:
    "dense", "dense_1", ...  Matches ``keras.Sequential``.  TypeError naming ``layers``
    when it is not a list (or other iterable) of layers, naming ``name`` when that is
    not a string.
    """

    def __init__(self, layers: Any = None, *, seed: int | None = None, device: Any = None,
                 dtype: Any = None, name: str = "sequential"):
        check_name(name, "name")
        layers = _layer_list(layers)
        self.seed = resolve_seed(seed)
        self.device: Device = resolve_device(device)
        self.dtype = float_format(dtype).name
        self.name = "sequential" if name is None else name
        self.layers: list[Layer] = []
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self._add_all(layers)

    # -- composition ----------------------------------------------------------------
    def snapshot(self) -> Callable[[], None]:
        """Return a function that puts the model (its layers and shapes), its layers and their
        Parameters back as they are now."""
        layers, shapes = list(self.layers), (self.input_shape, self.output_shape)
        restores = [layer.snapshot() for layer in layers]

        def restore() -> None:
            undo(restores)
            self.layers = list(layers)
            self.input_shape, self.output_shape = shapes

        return restore

    def _add_all(self, layers: Any) -> None:
        """Add every layer of ``layers`` in order; when one fails, the model and every
        layer are put back as they were before the first."""
        layers = list(layers)
        restores = [self.snapshot()]
        restores += [layer.snapshot() for layer in layers if isinstance(layer, Layer)]
        try:
            for layer in layers:
                self.add(layer)
        except BaseException:
            undo(restores)
            raise

    def add(self, layer: Layer) -> None:
        """Append ``layer``; builds it now when the model's shapes are known.  When that
        fails, the layer (and the Parameters given to it) are left as they came.

        An unnamed layer, or one whose automatic name another layer here has and that
        may change (:attr:`Layer.name_may_change`), is named by its type (dense, dense_1,
        ...); two layers given the same name raise ValueError."""
        if isinstance(layer, Input):
            if self.layers or self.input_shape is not None:
                raise ValueError("Input must be the first layer of a model")
            self.input_shape = layer.shape
            self.output_shape = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"a model holds layers, got {type(layer).__name__}")
        if any(existing is layer for existing in self.layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        clash = layer.name is not None and any(other.name == layer.name
                                                for other in self.layers)
        if clash and not layer.name_may_change:
            raise ValueError(f"two layers are named {layer.name!r}")
        input_shape = self.output_shape
        if not self.layers and input_shape is None and layer.declared_input_shape:
            input_shape = layer.declared_input_shape
        restore = layer.snapshot()
        if layer.name is None or clash:
            # An automatic name yields to this model's naming (dense_1, ...); a built
            # layer's parameters keep their values.
            layer.give_name(self._free_name(layer.base_name), "model")
        if input_shape is not None:
            try:
                output_shape = layer.build(input_shape, seed=self.seed, device=self.device,
                                           dtype=self.dtype)
            except BaseException:
                restore()
                raise
            self.input_shape = self.input_shape or input_shape
            self.output_shape = output_shape
        self.layers.append(layer)

    def _free_name(self, base: str) -> str:
        taken = {layer.name for layer in self.layers}
        if base not in taken:
            return base
        count = 1
        while f"{base}_{count}" in taken:
            count += 1
        return f"{base}_{count}"

    def __rshift__(self, other: Layer | Sequential) -> Sequential:
        """Return a new model: these layers (shared, already built) followed by ``other``.
        When that fails, this model and the layers of ``other`` are left as they were."""
        model = Sequential(seed=self.seed, device=self.device, dtype=self.dtype, name=self.name)
        model.input_shape = self.input_shape
        model.output_shape = self.output_shape
        model.layers = list(self.layers)
        model._add_all(other.layers if isinstance(other, Sequential) else [other])
        return model

    @property
    def built(self) -> bool:
        """Return True when every layer's parameters exist."""
        return self.output_shape is not None

    def build(self, input_shape: Any = None,
              progress: Callable[[int, int, str], None] | None = None) -> Sequential:
        """Make every layer's parameters for ``input_shape`` (no batch axis); returns self.

        ``progress(done, total, path)`` is called after each parameter with the
        bytes made so far and the bytes the model will hold.  When any layer fails
        (or ``progress`` raises), the model, its layers and their Parameters are
        left as they were.
        """
        if input_shape is None:
            if self.input_shape is None:
                raise ValueError("build() needs input_shape: the model has no Input")
            input_shape = self.input_shape
        input_shape = check_shape(input_shape, "input_shape")
        if self.input_shape is not None and self.built and input_shape != self.input_shape:
            raise ValueError(f"the model was built for input shape {self.input_shape}, "
                             f"not {input_shape}")
        shapes = self._planned_shapes(input_shape)
        total = sum(_bytes_of(layer, shape, self.dtype)
                    for layer, shape in zip(self.layers, shapes, strict=True) if not layer.built)
        restore = self.snapshot()
        try:
            self._build_layers(input_shape, total, progress)
        except BaseException:
            restore()
            raise
        return self

    def _build_layers(self, input_shape: tuple[int, ...], total: int,
                      progress: Callable[[int, int, str], None] | None) -> None:
        """Build every layer in turn for ``input_shape`` (``total`` bytes to make), then
        record the model's shapes.  Called by :meth:`build`, which undoes it on failure."""
        done = 0
        shape = input_shape
        for layer in self.layers:
            fresh = not layer.built
            report = None
            if progress is not None:
                def report(layer_done, _layer_total, path, offset=done):
                    progress(offset + layer_done, total, path)
            shape = layer.build(shape, seed=self.seed, device=self.device, dtype=self.dtype,
                                progress=report)
            if fresh:
                done += sum(p.nbytes for p in layer.parameters.values())
        self.input_shape, self.output_shape = input_shape, shape

    def _planned_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Return each layer's input shape, checking the whole chain before anything is made."""
        shapes, shape = [], input_shape
        for layer in self.layers:
            shapes.append(shape)
            layer.parameter_shapes(shape)
            shape = layer.output_shape(shape)
        return shapes

    # -- parameters -----------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, Parameter]:
        """Return {path: Parameter} in layer order; a shared Parameter appears once,
        under the path of its first use."""
        found: dict[str, Parameter] = {}
        seen: set[int] = set()
        for layer in self.layers:
            for key, parameter in layer.parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    found[f"{layer.name}/{key}"] = parameter
        return found

    @property
    def weights(self) -> list[Parameter]:
        """Return every Parameter, in :attr:`parameters` order: layer by layer, each layer's
        in creation order, a shared one once.  Matches ``keras.Model.weights``."""
        return list(self.parameters.values())

    @property
    def trainable_weights(self) -> list[Parameter]:
        """Return the Parameters of :attr:`weights` that are trainable.  Matches
        ``keras.Model.trainable_weights``."""
        return [p for p in self.weights if p.trainable]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        """Return the Parameters of :attr:`weights` that are not trainable (BatchNormalization's
        moving statistics, frozen layers).  Matches ``keras.Model.non_trainable_weights``."""
        return [p for p in self.weights if not p.trainable]

    def count_params(self) -> int:
        """Return the number of parameter values, each shared Parameter counted once;
        ValueError when the model is not built.  Matches ``keras.Model.count_params``."""
        self._check_built("count")
        return sum(p.size for p in self.weights)

    def get_weights(self) -> list[np.ndarray]:
        """Return host (NumPy) copies of every parameter, in :attr:`weights` order.  Matches
        ``keras.Model.get_weights``."""
        return [p.numpy() for p in self.weights]

    def set_weights(self, weights: list) -> None:
        """Write ``weights`` (arrays in :attr:`weights` order) into the parameters; returns
        None.  Matches ``keras.Model.set_weights``.

        Every array is checked and converted before anything is written (ValueError
        or TypeError naming the parameter: a count or a shape that differs, a ragged
        list, booleans or strings, a finite value that does not fit the parameter's
        dtype), so a bad list changes nothing.
        """
        assign_all(self.parameters, weights, "the model")

    # -- forward ----------------------------------------------------------------------
    def __call__(self, x):
        """Return the model's output for the batch ``x`` (batch axis first), computed
        with the array module of the parameters (NumPy or CuPy)."""
        return self.layer_outputs(x)[-1] if self.layers else self._as_batch(x)

    def layer_outputs(self, x) -> list:
        """Return every layer's output for the batch ``x``, in layer order (to watch what
        initialization does to activations, layer by layer)."""
        x = self._as_batch(x)
        outputs = []
        for layer in self.layers:
            x = layer.forward(x, array_module(self.device))
            outputs.append(x)
        return outputs

    def _as_batch(self, x):
        xp = array_module(self.device)
        x = xp.asarray(x)
        if x.dtype.kind in "fcb":
            # Keras casts inputs to the compute dtype; 16-bit storage computes in float32
            x = x.astype(xp.float64 if self.dtype == "float64" else xp.float32, copy=False)
        if not self.built:
            self.build(tuple(x.shape[1:]))
        elif tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"the model takes batches of shape (batch, *{self.input_shape}), "
                             f"got {tuple(x.shape)}")
        return x

    # -- description ------------------------------------------------------------------
    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a Keras-like table: layer (type), output shape, param #, initializers,
        dtype, device, bytes; then the totals."""
        print_fn(summary_table(self))

    def get_config(self) -> dict:
        """Return the model's configuration: name, seed, device, dtype, input shape and
        each layer's ``{"class_name", "config"}``."""
        return {"name": self.name, "seed": self.seed, "device": str(self.device),
                "dtype": self.dtype,
                "input_shape": None if self.input_shape is None else list(self.input_shape),
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict, device: Any = None) -> Sequential:
        """Return a new model from :meth:`get_config` output; same seed, same weights.

        ``device`` overrides the recorded device (a model saved on a GPU rebuilds
        on the CPU with the same numbers).  Keys other than ``layers`` may be missing
        (a missing seed draws the next one of :func:`gpuinit.manual_seed`'s sequence);
        TypeError/ValueError naming the key for a config that is not a dict, lacks
        ``layers`` or holds a malformed layer entry.
        """
        from . import LAYERS

        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict (what get_config() returns), got "
                            f"{type(config).__name__}")
        if "layers" not in config:
            raise ValueError("config has no 'layers' key: give the list of "
                             "{'class_name', 'config'} dicts of get_config()")
        entries = config["layers"]
        if not isinstance(entries, (list, tuple)):
            raise TypeError(f"config['layers'] must be a list, got {type(entries).__name__}")
        layers: list[Layer] = []
        if config.get("input_shape") is not None:
            layers.append(Input(check_shape(config["input_shape"], "config['input_shape']")))
        for index, entry in enumerate(entries):
            where = f"config['layers'][{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
                raise TypeError(f"{where} must be a dict with a 'class_name' string, got "
                                f"{entry!r}")
            options = entry.get("config")
            if options is not None and not isinstance(options, dict):
                raise TypeError(f"{where}['config'] must be a dict, got "
                                f"{type(options).__name__}")
            kind = LAYERS.get(entry["class_name"])
            if kind is None:
                raise ValueError(f"{where}: unknown layer class {entry['class_name']!r}")
            layers.append(kind.from_config(dict(options or {})))
        return cls(layers, seed=config.get("seed"), dtype=config.get("dtype"),
                   device=device if device is not None else config.get("device"),
                   name=config.get("name", "sequential"))

    # -- files ------------------------------------------------------------------------
    def keras_groups(self) -> list[tuple[str, str, list[tuple[str, Parameter]]]]:
        """Return the ``vars`` groups Keras 3 keeps the equivalent model's variables in
        (``(group path, name attribute, [(parameter path, Parameter)])``, see
        :func:`gpuinit.layers.keras_layout.groups`), the layout of its ``.weights.h5``
        files.  Matches ``keras.Model.save_weights``' layout."""
        return groups(self)

    def save_weights(self, path: Any) -> None:
        """Write every parameter to ``path`` in the format its extension names; returns None.

        ``.safetensors`` (keys = parameter paths), ``.npz`` (``numpy.savez``'s layout,
        keys = parameter paths) or ``.weights.h5`` (Keras 3's layout, which
        ``keras.Model.load_weights`` of the equivalent Keras model reads; needs
        h5py).  Any other extension is a ValueError naming the path and these
        extensions, raised before anything is written, as are FileNotFoundError
        when the directory of ``path`` does not exist and IsADirectoryError when
        ``path`` is a directory (both naming ``path``).  Each parameter is copied to
        the host one at a time; the file appears only once complete.  Matches
        ``keras.Model.save_weights``.  ValueError when the model is not built (its file
        would hold nothing).
        """
        self._check_built("save")
        save(self, path)

    def _check_built(self, what: str) -> None:
        """Raise ValueError unless the model is built: an unbuilt one has no parameters to
        ``what`` (save, load) yet."""
        if not self.built:
            raise ValueError(f"model {self.name!r} is not built, so it has no parameters to "
                             f"{what} yet; give it an Input or call build(input_shape)")

    def load_weights(self, path: Any, *, cast: bool = False) -> None:
        """Read parameters from a file written by :meth:`save_weights` (or any with the same
        keys and shapes), the format picked by the extension as in :meth:`save_weights`;
        all or nothing; returns None.  Matches ``keras.Model.load_weights``.

        The whole listing of the file is checked first (for safetensors the header
        as :func:`safetensors.read_header` checks it), then the keys, shapes and
        dtypes against the parameters, then every tensor is read into host memory
        and converted; only then is anything written, so a file that does not fit
        changes nothing (ValueError naming the file and the tensor; a directory is a
        ValueError too, whatever the extension).  A tensor whose
        dtype is not the parameter's is refused unless ``cast=True``; even then a
        value that is finite in the file and would not be finite in the parameter's
        dtype (1e6 into float16) is refused.  NaN and infinities that the file holds
        are loaded as they are.  Boolean tensors are always refused.
        """
        check_bool(cast, "cast")
        self._check_built("load")
        load(self, path, cast)

    def __repr__(self) -> str:
        return (f"Sequential(name={self.name!r}, layers={len(self.layers)}, "
                f"params={self.count_params() if self.built else 'unbuilt'}, "
                f"device={self.device})")


def _layer_list(layers: Any) -> list:
    """Return ``layers`` (None, or an iterable of layers) as a list; TypeError naming
    ``layers`` for anything else (a single layer, a string, a number).  The items are
    checked when they are added."""
    if layers is None:
        return []
    if isinstance(layers, (str, bytes, dict, Layer)):
        raise TypeError(f"layers must be a list of layers, got {type(layers).__name__}")
    try:
        return list(layers)
    except TypeError:
        raise TypeError(f"layers must be a list of layers, got {type(layers).__name__}") \
            from None


def _bytes_of(layer: Layer, input_shape: tuple[int, ...], dtype: str) -> int:
    """Return the bytes ``layer`` will make for ``input_shape``."""
    itemsize = float_format(layer.dtype if layer.dtype is not None else dtype).itemsize
    return sum(int(np.prod(s, dtype=np.int64))
               for s in layer.parameter_shapes(input_shape).values()) * itemsize


compose_into(Sequential)
