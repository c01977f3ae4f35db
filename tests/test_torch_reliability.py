"""gpuinit.torch on the models that break naive initialization: tied weights, tensors
no rule covers, pruning and parametrizations, models too large to allocate, and a
missing extra.  Every refusal is checked to leave the model as it was."""

import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
from torch.nn.utils import parametrizations, parametrize, prune  # noqa: E402

import gpuinit as gi  # noqa: E402
import gpuinit.torch as gt  # noqa: E402
import gpuinit.torch.allocation  # noqa: E402
import gpuinit.torch.defaults  # noqa: E402
from gpuinit.laws import Constant  # noqa: E402
from gpuinit.memory import host_available_bytes  # noqa: E402
from gpuinit.torch import init_module, materialize  # noqa: E402


def _snapshot(model):
    """Return {name: (tensor object, clone)} of every registered tensor, tied ones under
    each of their names."""
    found = {}
    for prefix, module in model.named_modules(remove_duplicate=False):
        prefix = f"{prefix}." if prefix else ""
        for table in (module._parameters, module._buffers):
            for name, t in table.items():
                if t is not None:
                    found[prefix + name] = (t, None if t.is_meta else t.detach().clone())
    return found


def _assert_unchanged(model, snapshot):
    """Every tensor is the same object as before, and bit-identical (or still on meta)."""
    now = _snapshot(model)
    assert now.keys() == snapshot.keys()
    for name, (tensor, _) in now.items():
        old, values = snapshot[name]
        assert tensor is old, name
        if values is None:
            assert tensor.is_meta, name
        else:
            assert torch.equal(tensor.detach(), values), name


def _tied():
    embedding, head = nn.Embedding(20, 8), nn.Linear(8, 20, bias=False)
    head.weight = embedding.weight
    bn1, bn2 = nn.BatchNorm1d(8), nn.BatchNorm1d(8)
    bn2.running_mean = bn1.running_mean  # a tied buffer
    return nn.ModuleDict({"embedding": embedding, "head": head, "bn1": bn1, "bn2": bn2})


# --- 1. ties and shared storage -------------------------------------------------------


def test_materialize_keeps_tied_weights_tied_and_fills_them_once(monkeypatch):
    asked = []
    monkeypatch.setattr(gpuinit.torch.allocation, "check_fits",
                        lambda nbytes, dev: asked.append(nbytes))
    with torch.device("meta"):
        meta = _tied()
    made = materialize(meta, "cpu", seed=0)
    reference = init_module(_tied(), seed=0)
    assert made["head"].weight is made["embedding"].weight
    assert made["bn2"].running_mean is made["bn1"].running_mean
    assert made["head"].weight.data_ptr() == made["embedding"].weight.data_ptr()
    assert torch.equal(made["embedding"].weight, reference["embedding"].weight)
    assert abs(made["embedding"].weight.std().item() - 1.0) < 0.3  # Embedding's N(0, 1)
    assert (made["bn2"].running_mean == 0).all()
    with torch.no_grad():
        made["embedding"].weight[0, 0] = 42.0
        made["bn1"].running_mean[1] = 7.0
    assert made["head"].weight[0, 0].item() == 42.0
    assert made["bn2"].running_mean[1].item() == 7.0
    # The memory check counts each tied tensor once: 20x8 shared, 4 BatchNorm tensors
    # of 8 floats plus num_batches_tracked each, one running_mean shared.
    assert asked == [(20 * 8 + 7 * 8) * 4 + 2 * 8]
    assert [n for n, _ in made.named_parameters()] == [n for n, _ in reference.named_parameters()]


def test_a_shared_submodule_stays_shared_after_materialize():
    with torch.device("meta"):
        block = nn.Linear(6, 6)
        model = nn.Sequential(block, nn.ReLU(), block)
    materialize(model, "cpu", seed=1)
    reference = init_module(nn.Sequential(nn.Linear(6, 6)), seed=1)
    assert model[0] is model[2] and model[0].weight.device.type == "cpu"
    assert torch.equal(model[2].weight, reference[0].weight)


def test_a_scheme_key_naming_the_second_name_of_a_tied_tensor_applies_to_it():
    model = init_module(_tied(), seed=0, scheme={nn.Linear: "zeros"})
    assert (model["embedding"].weight == 0).all()
    model = init_module(_tied(), seed=0, scheme={"head.weight": ("constant_", {"val": 2.0})})
    assert (model["embedding"].weight == 2).all()


def _two_linears():
    return nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))


def test_init_module_fills_one_memory_viewed_by_two_parameters_once():
    model = _two_linears()
    model[1].weight = nn.Parameter(model[0].weight.data)  # two Parameters, one memory
    init_module(model, seed=2)
    reference = init_module(_two_linears(), seed=2)
    assert model[0].weight is not model[1].weight
    assert model[0].weight.data_ptr() == model[1].weight.data_ptr()
    assert torch.equal(model[0].weight, reference[0].weight)  # filled once, by its first name
    assert torch.equal(model[1].bias, reference[1].bias)


def test_materialize_keeps_views_of_one_meta_storage_sharing():
    with torch.device("meta"):
        model = _two_linears()
        model[1].weight = nn.Parameter(model[0].weight.view(4, 4))
        fused = torch.empty(8, 4)  # one buffer viewed as two disjoint matrices
        model.append(nn.Linear(4, 4)).append(nn.Linear(4, 4))
        model[2].weight, model[3].weight = nn.Parameter(fused[:4]), nn.Parameter(fused[4:])
    assert model[0].weight.untyped_storage()._cdata == model[1].weight.untyped_storage()._cdata
    materialize(model, "cpu", seed=4)
    reference = init_module(nn.Sequential(*[nn.Linear(4, 4) for _ in range(4)]), seed=4)
    assert model[0].weight.data_ptr() == model[1].weight.data_ptr()
    assert torch.equal(model[0].weight, reference[0].weight)
    with torch.no_grad():
        model[1].weight[3, 3] = -5.0
    assert model[0].weight[3, 3].item() == -5.0
    assert model[3].weight.data_ptr() == model[2].weight.data_ptr() + 16 * 4
    for i in (2, 3):  # disjoint views: each filled by its own rule and stream
        assert torch.equal(model[i].weight, reference[i].weight), i


def test_partly_overlapping_views_are_refused_naming_both_before_anything_is_written():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2), nn.LayerNorm(4))
    model[1].weight = nn.Parameter(model[0].weight.data[:2])
    before = _snapshot(model)
    with pytest.raises(ValueError, match=r"'0\.weight' and '1\.weight' overlap in memory"):
        init_module(model, seed=0)
    _assert_unchanged(model, before)
    with torch.device("meta"):
        meta = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
        meta[1].weight = nn.Parameter(meta[0].weight.view(16)[4:12].view(2, 4))
    before = _snapshot(meta)
    with pytest.raises(ValueError, match=r"'0\.weight' and '1\.weight' overlap in memory"):
        materialize(meta, "cpu", seed=0)
    _assert_unchanged(meta, before)


# --- 2. tensors no rule covers, pruning, parametrizations ----------------------------


class _ScaledLinear(nn.Linear):
    """A built-in subclass with tensors the built-in rule does not know."""

    def __init__(self):
        super().__init__(5, 3)
        self.scale = nn.Parameter(torch.full((3,), 9.0))
        self.register_buffer("shift", torch.full((3,), 4.0))


def test_extra_tensors_of_a_builtin_subclass_are_refused_by_both_entry_points():
    model = nn.Sequential(nn.Linear(5, 5), _ScaledLinear())
    before = _snapshot(model)
    with pytest.raises(ValueError, match=r"no initialization rule for \['1\.scale', '1\.shift'\]"):
        init_module(model, seed=0)
    _assert_unchanged(model, before)
    with torch.device("meta"):
        meta = nn.Sequential(nn.Linear(5, 5), _ScaledLinear())
    before = _snapshot(meta)
    with pytest.raises(ValueError, match=r"no initialization rule for \['1\.scale', '1\.shift'\]"):
        materialize(meta, "cpu", seed=0)
    _assert_unchanged(meta, before)
    materialize(meta, "cpu", seed=0, scheme={"*.scale": "ones", "*.shift": "zeros"})
    reference = init_module(nn.Sequential(nn.Linear(5, 5), nn.Linear(5, 3)), seed=0)
    assert (meta[1].scale == 1).all() and (meta[1].shift == 0).all()
    assert torch.equal(meta[1].weight, reference[1].weight)


def _pruned_linear():
    lin = nn.Linear(6, 4)
    prune.l1_unstructured(lin, "weight", 0.5)
    prune.random_unstructured(lin, "weight", 0.25)  # a PruningContainer now
    prune.l1_unstructured(lin, "bias", 0.5)
    return lin


def test_init_module_fills_the_orig_of_a_pruned_tensor_and_keeps_its_mask():
    lin = _pruned_linear()
    assert isinstance(next(iter(lin._forward_pre_hooks.values())), prune.PruningContainer)
    masks = lin.weight_mask.clone(), lin.bias_mask.clone()
    init_module(lin, seed=3)
    reference = init_module(nn.Linear(6, 4), seed=3)  # same rule and stream as unpruned
    assert torch.equal(lin.weight_orig, reference.weight)
    assert torch.equal(lin.bias_orig, reference.bias)
    assert torch.equal(lin.weight_mask, masks[0]) and torch.equal(lin.bias_mask, masks[1])
    assert torch.equal(lin.weight, reference.weight * masks[0])  # recomputed from both
    init_module(lin, seed=3, scheme={"weight": "zeros"})  # the public name reaches _orig
    assert (lin.weight_orig == 0).all()


def test_materialize_refuses_a_pruning_mask_no_scheme_covers():
    with torch.device("meta"):
        lin = nn.Linear(6, 4)
    prune.l1_unstructured(lin, "weight", 0.5)
    before = _snapshot(lin)
    with pytest.raises(ValueError, match=r"pruning masks \['weight_mask'\]"):
        materialize(lin, "cpu", seed=3)
    _assert_unchanged(lin, before)
    materialize(lin, "cpu", seed=3, scheme={"*_mask": "ones"})
    reference = init_module(nn.Linear(6, 4), seed=3)
    assert (lin.weight_mask == 1).all() and torch.equal(lin.weight_orig, reference.weight)
    assert torch.equal(lin.weight, reference.weight)


class _Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(-1, -2)


def test_parametrized_tensors_are_named_and_refused_unless_the_scheme_covers_them():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    parametrizations.orthogonal(model[1], "weight")
    before = _snapshot(model)
    with pytest.raises(ValueError, match=r"no initialization rule for "
                                         r"\['1\.parametrizations\.weight\.original'"):
        init_module(model, seed=0)
    _assert_unchanged(model, before)
    lin = nn.Linear(4, 4)
    parametrize.register_parametrization(lin, "weight", _Symmetric())
    init_module(lin, seed=0, scheme={"*.original": ("constant_", {"val": 0.5})})
    assert torch.equal(lin.weight, torch.full((4, 4), 0.5))
    assert torch.equal(lin.bias, init_module(nn.Linear(4, 4), seed=0).bias)


def test_a_rule_naming_no_tensor_of_the_model_is_a_bug_not_ignored(monkeypatch):
    rules = gpuinit.torch.defaults._torch_rules

    def with_a_ghost(module, prefix, plan):
        plan[prefix + "ghost"] = Constant(0.0)
        return rules(module, prefix, plan)

    monkeypatch.setattr(gpuinit.torch.defaults, "_torch_rules", with_a_ghost)
    model = nn.Sequential(nn.Linear(3, 3))
    before = _snapshot(model)
    with pytest.raises(RuntimeError, match=r"bug: a rule names '0\.ghost'"):
        init_module(model, seed=0)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("norm", ["weight_norm", "spectral_norm"])
def test_legacy_weight_and_spectral_norm_are_filled_by_their_originals(norm):
    apply = getattr(torch.nn.utils, norm)

    def build():
        model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
        apply(model[0])
        return model

    model = build()
    names = list(gt.named_tensors(model))
    assert "0.weight" not in names  # a computed attribute, not a tensor
    scheme = {name: ("constant_", {"val": 0.5}) for name in names}
    init_module(model, seed=0, scheme=scheme)
    for name in names:
        assert torch.equal(gt.named_tensors(model)[name], torch.full_like(
            gt.named_tensors(model)[name], 0.5)), name
    model.eval()  # spectral_norm: no power iteration in a forward
    computed = model[0].weight.detach().clone()
    model(torch.ones(1, 4))  # the hook recomputes the attribute from the originals
    assert torch.equal(model[0].weight.detach(), computed)
    with torch.device("meta"):
        meta = build()
    materialize(meta, "cpu", seed=0, scheme=scheme)
    assert not meta[0].weight.is_meta
    assert torch.allclose(meta[0].weight, model[0].weight)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="weight_norm and spectral_norm"):
        init_module(model, seed=0)  # the originals need a scheme rule
    _assert_unchanged(model, before)


def _meta_weights_real_buffers():
    """A model as accelerate's init_empty_weights() leaves it: parameters on meta,
    buffers built on the CPU."""
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    for module in model.modules():
        for name, buffer in list(module._buffers.items()):
            if buffer is not None:
                module._buffers[name] = torch.full_like(buffer, 5, device="cpu")
    return model


def test_materialize_fills_the_meta_tensors_and_keeps_built_buffers():
    model = _meta_weights_real_buffers()
    kept = {n: b for n, b in model.named_buffers()}
    materialize(model, "cpu", seed=3)
    for name, buffer in model.named_buffers():
        assert buffer is kept[name] and (buffer == 5).all(), name  # kept, not re-filled
    reference = materialize(_meta_weights_real_buffers(), "cpu", seed=3)
    whole = init_module(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)), seed=3)
    for name, parameter in model.named_parameters():
        assert not parameter.is_meta, name
        assert torch.equal(parameter, dict(whole.named_parameters())[name]), name
        assert torch.equal(parameter, dict(reference.named_parameters())[name]), name
    with pytest.raises(ValueError, match="use materialize"):
        init_module(_meta_weights_real_buffers(), seed=0)


def test_materialize_of_a_model_made_under_accelerates_init_empty_weights():
    accelerate = pytest.importorskip("accelerate")
    with accelerate.init_empty_weights():
        model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    assert model[0].weight.is_meta and not model[1].running_var.is_meta
    materialize(model, "cpu", seed=0)
    assert not any(t.is_meta for t in gt.named_tensors(model).values())
    assert torch.equal(model[1].running_var, torch.ones(3))


def test_a_scheme_value_none_is_refused_naming_its_key_before_any_write():
    model = nn.Linear(3, 2)
    before = _snapshot(model)
    with pytest.raises(TypeError, match=r"scheme key 'bias' \(bias\): scheme value None"):
        init_module(model, seed=0, scheme={"weight": "zeros", "bias": None})
    with pytest.raises(TypeError, match=r"scheme key Linear \(bias\): scheme value None"):
        init_module(model, seed=0, scheme={nn.Linear: {"bias": None}})
    _assert_unchanged(model, before)


def test_a_catalogue_id_takes_its_arguments_as_a_tuple():
    model = init_module(nn.Linear(3, 2), seed=0, scheme={"bias": ("constant", {"value": 0.25}),
                                                         "weight": ("ones", {})})
    assert torch.equal(model.bias, torch.full((2,), 0.25))
    assert torch.equal(model.weight, torch.ones(2, 3))
    with pytest.raises(ValueError, match="unknown initializer 'constantx'"):
        init_module(model, seed=0, scheme={"bias": ("constantx", {"value": 0.25})})
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'valu'"):
        init_module(model, seed=0, scheme={"bias": ("constant", {"valu": 0.25})})


# --- 3. out of memory ------------------------------------------------------------------


def test_materialize_refuses_a_model_larger_than_the_free_host_memory(monkeypatch):
    free = host_available_bytes()
    if free is None:
        pytest.skip("the operating system does not report its available memory")
    columns = 4096
    rows = (free + 2**30) // (columns * 4) + 1  # 1 GiB more than is free, in float32
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(columns, rows, bias=False), nn.LayerNorm(4))
    before = _snapshot(model)
    calls = []
    monkeypatch.setattr(nn.Module, "to_empty", lambda *a, **k: calls.append(a))
    with pytest.raises(gi.OutOfMemoryError) as caught:
        materialize(model, "cpu", seed=0)
    assert isinstance(caught.value, MemoryError)
    assert caught.value.requested == rows * columns * 4 + 2 * 4 * 4 > caught.value.free
    assert calls == []  # refused before anything was allocated
    _assert_unchanged(model, before)


@pytest.mark.parametrize("error, expected", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate "
                  "memory: you tried to allocate 68719476736 bytes"), gi.OutOfMemoryError),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB"),
     gi.OutOfMemoryError),
    (RuntimeError("something else broke"), RuntimeError),
    # Mentions allocation, is not a failed allocation: passed on as it is.
    (RuntimeError("reallocation of a pinned buffer is not supported"), RuntimeError),
])
def test_a_failed_allocation_leaves_the_whole_model_on_meta(monkeypatch, error, expected):
    with torch.device("meta"):
        model = _tied()
        model["extra"] = nn.GRU(8, 8)
    before = _snapshot(model)
    real_empty_like, calls = torch.empty_like, []

    def failing_empty_like(t, **kwargs):
        calls.append(t.shape)
        if len(calls) == 3:  # fail part-way through to_empty
            raise error
        return real_empty_like(t, **kwargs)

    monkeypatch.setattr(torch, "empty_like", failing_empty_like)
    with pytest.raises(expected) as caught:
        materialize(model, "cpu", seed=0)
    if expected is gi.OutOfMemoryError:
        assert caught.value.__cause__ is error and caught.value.device == "cpu"
    else:
        assert caught.value is error
    assert len(calls) == 3
    _assert_unchanged(model, before)
    assert all(w.is_meta for w in model["extra"]._flat_weights)  # the GRU's mirror too


@pytest.mark.cuda
def test_materialize_refuses_a_model_larger_than_the_free_gpu_memory():
    free, _ = torch.cuda.mem_get_info(0)
    columns = 65536
    rows = (free + 2**30) // (columns * 4) + 1
    with torch.device("meta"):
        model = nn.Linear(columns, rows, bias=False)
    with pytest.raises(gi.OutOfMemoryError, match="cuda:0") as caught:
        materialize(model, "cuda:0", seed=0)
    assert caught.value.requested == rows * columns * 4 > caught.value.free
    assert model.weight.is_meta


# --- 4. a missing extra ----------------------------------------------------------------


@pytest.mark.parametrize("module, package, extra", [
    ("gpuinit.torch", "torch", "torch"),
    ("gpuinit.dask", "dask", "dask"),
])
def test_importing_a_module_without_its_extra_says_what_to_install(module, package, extra):
    script = textwrap.dedent(f"""
        import sys
        sys.modules[{package!r}] = None  # as if the package were not installed
        try:
            import {module}
        except ImportError as exc:
            print(type(exc).__name__, isinstance(exc, ModuleNotFoundError), exc.name)
            print(exc)
        else:
            print("imported")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=True)
    lines = result.stdout.splitlines()
    kind, is_not_found, name = lines[0].split()
    assert (kind, is_not_found) == ("ModuleNotFoundError", "True"), result.stdout + result.stderr
    assert name.split(".")[0] == package
    assert f'pip install "gpuinit[{extra}]"' in lines[1]


def test_materialize_refuses_meta_targets_and_built_tensors_leaving_them_alone():
    model = nn.Linear(3, 3)
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match="device='meta'"):
        materialize(model, "meta", seed=0)
    with pytest.raises(ValueError, match="not on the meta device"):
        materialize(model, "cpu", seed=0)
    assert not model.weight.is_meta and torch.equal(model.weight.detach(), before)


def test_a_scheme_callable_that_raises_leaves_the_model_on_meta_as_it_came():
    def fails(t, *, seed, stream):
        raise ZeroDivisionError("the callable's own error")

    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.LSTM(8, 8))
    model.register_buffer("step", torch.zeros(()))  # built: kept through both calls
    before = dict(model.named_parameters())
    with pytest.raises(ZeroDivisionError, match="own error"):
        materialize(model, "cpu", scheme={"1.weight": fails})
    after = dict(model.named_parameters())
    assert all(t.is_meta for t in after.values())  # no uninitialized memory left in it
    assert all(after[name] is t for name, t in before.items())
    assert not model.step.is_meta
    materialize(model, "cpu", seed=1)  # and it can be materialized after all
    reference = materialize(_meta_copy_of(model), "cpu", seed=1)
    for (name, t), (_, want) in zip(model.named_parameters(), reference.named_parameters(),
                                    strict=True):
        assert torch.equal(t, want), name
    model[2].flatten_parameters()  # the LSTM sees its allocated weights
    assert model[2](torch.ones(1, 2, 8))[0].isfinite().all()


def _meta_copy_of(model):
    with torch.device("meta"):
        copy = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.LSTM(8, 8))
    copy.register_buffer("step", torch.zeros(()))
    return copy


def test_scheme_torch_fills_complex_modules_as_their_reset_parameters_does():
    # torch fills complex tensors through their real view: each part of a Linear's weight
    # U(±1/√fan_in), of an Embedding's N(0, 1/2).
    linear = nn.Linear(400, 300, dtype=torch.complex64)
    embedding = nn.Embedding(2000, 64, dtype=torch.complex64)
    init_module(nn.ModuleList([linear, embedding]), seed=3)
    bound = 1 / 400 ** 0.5
    for part in (linear.weight.detach().real, linear.weight.detach().imag):
        assert -bound <= part.min() < -0.99 * bound and 0.99 * bound < part.max() < bound
        assert abs(part.std().item() / (bound / 3 ** 0.5) - 1) < 0.02
    for part in (embedding.weight.detach().real, embedding.weight.detach().imag):
        assert abs(part.std().item() * 2 ** 0.5 - 1) < 0.02
    assert not torch.equal(linear.weight.detach().real, linear.weight.detach().imag)
    with pytest.raises(NotImplementedError, match="uniform and normal laws only"):
        init_module(nn.Linear(4, 4, dtype=torch.complex64),
                    scheme={"weight": gi.laws.TruncatedNormal(0.0, 0.02), "bias": Constant(0)})


def test_a_scheme_refuses_callables_of_another_signature_and_seeded_initializers_first():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4))
    before = [t.detach().clone() for t in model.parameters()]
    with pytest.raises(TypeError, match=r"f\(tensor, \*, seed, stream\).*'zeros_'"):
        init_module(model, scheme={"2.weight": nn.init.zeros_})  # torch's: no seed, stream
    with pytest.raises(ValueError, match="has its own seed"):
        init_module(model, scheme={"*.weight": gi.initializers.RandomNormal(seed=5)})
    for t, old in zip(model.parameters(), before, strict=True):
        assert torch.equal(t.detach(), old)  # refused before anything was written
    written = []
    init_module(model, scheme={"2.weight": lambda t, seed, stream: written.append(t.shape),
                               "*.bias": gi.initializers.Zeros()})
    assert written == [(4, 4)] and all((m.bias == 0).all() for m in model)
