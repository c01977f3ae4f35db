"""Weight files and the gpuinit command under hostile conditions: a full disk, a folder that
cannot be written, damaged files, odd output paths and errors of every kind.

Each failure is one typed error naming the argument, path or tensor, and leaves every file
and every model as it was."""

import errno
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gpuinit.cli import error_line, main
from gpuinit.layers import Dense, Input, Sequential
from gpuinit.weightfiles import keras_h5, npz
from gpuinit.weightfiles import safetensors as st

SUFFIXES = [".safetensors", ".npz", ".weights.h5"]


def _model(seed=0, width=3):
    return Sequential([Input(4), Dense(width), Dense(2)], seed=seed, device="cpu")


def _bits(model):
    return [w.tobytes() for w in model.get_weights()]


def _files(folder):
    """Every file under ``folder`` (hidden ones included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(Path(folder).rglob("*"))}


def _needs(suffix):
    if suffix == ".weights.h5":
        pytest.importorskip("h5py")


def _one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- 1, 2: a full disk and a folder that cannot be written -----------------------------------
_FULL_DISK = textwrap.dedent("""
    import errno, gc, json, os, resource, signal, sys
    from gpuinit.layers import Dense, Input, Sequential

    path, limits = sys.argv[1], [int(v) for v in sys.argv[2].split(",")]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = Sequential([Input(64), Dense(256), Dense(64)], seed=0, device="cpu")
    new = Sequential([Input(64), Dense(256), Dense(64)], seed=1, device="cpu")
    old.save_weights(path)
    before = open(path, "rb").read()
    results = []
    for limit in limits:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        try:
            new.save_weights(path)
            results.append({"limit": limit, "error": None})
        except Exception as exc:
            results.append({"limit": limit, "error": type(exc).__name__,
                            "is_oserror": isinstance(exc, OSError),
                            "errno": getattr(exc, "errno", None), "message": str(exc),
                            "filename": getattr(exc, "filename", None)})
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        gc.collect()  # release whatever the failed save left behind, now
        results[-1]["unchanged"] = open(path, "rb").read() == before
        results[-1]["files"] = sorted(os.listdir(os.path.dirname(path)))
    new.save_weights(path)  # the writer still works once there is room
    again = Sequential([Input(64), Dense(256), Dense(64)], seed=2, device="cpu")
    again.load_weights(path)
    same = all((a == b).all() for a, b in zip(again.get_weights(), new.get_weights()))
    print(json.dumps({"results": results, "round_trip": bool(same)}))
""")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_full_disk_is_an_oserror_naming_the_path_and_leaves_the_old_file(tmp_path, suffix):
    """EFBIG (a file size limit, here RLIMIT_FSIZE in a child process) at several points of
    the write: the save raises OSError naming the user's path, the process lives on (h5py
    used to crash it with SIGSEGV while releasing the handles of the failed write), the
    old file keeps its bytes and no partial file is left."""
    _needs(suffix)
    resource = pytest.importorskip("resource")
    if not hasattr(resource, "RLIMIT_FSIZE"):
        pytest.skip("no RLIMIT_FSIZE here")
    path = tmp_path / f"m{suffix}"
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, str(path), "0,700,20000,70000"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    assert done.returncode == 0, done.stderr[-3000:]  # -11 was SIGSEGV
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["round_trip"]
    for result in report["results"]:
        assert result["is_oserror"], result
        assert result["errno"] == errno.EFBIG, result
        assert result["filename"] == str(path), result
        assert str(path) in result["message"] and ".partial" not in result["message"]
        assert result["unchanged"], result
        assert result["files"] == [path.name], result
    assert "Can't decrement id ref count" not in done.stderr
    assert "Exception ignored" not in done.stderr


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("failing", ["write", "rename"])
def test_a_folder_that_cannot_be_written_is_an_oserror_naming_the_users_path(
        tmp_path, monkeypatch, suffix, failing):
    """The temporary ``.partial`` file is an implementation detail: EACCES (or a write
    error) names the path the caller gave."""
    _needs(suffix)
    model, path = _model(), tmp_path / f"m{suffix}"
    model.save_weights(path)
    before = _files(tmp_path)
    other = _model(seed=1)
    if failing == "rename":
        def refuse(src, dst, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", src)

        monkeypatch.setattr(os, "replace", refuse)
    else:
        import builtins
        real_open = builtins.open

        def refuse_partial(file, mode="r", *args, **kwargs):
            if str(file).endswith(".partial") and "r" not in mode.replace("+", ""):
                raise PermissionError(errno.EACCES, "Permission denied", file)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refuse_partial)
        monkeypatch.setattr(io, "open", refuse_partial)  # zipfile opens through io.open
    with pytest.raises(PermissionError) as caught:
        other.save_weights(path)
    monkeypatch.undo()
    assert caught.value.errno == errno.EACCES
    assert caught.value.filename == str(path)
    assert str(path) in str(caught.value) and ".partial" not in str(caught.value)
    assert _files(tmp_path) == before
    assert _bits(other) == _bits(_model(seed=1))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_read_only_folder_is_named_by_the_users_path(tmp_path, suffix):
    _needs(suffix)
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / f"m{suffix}"
    _model().save_weights(path)
    before = _files(folder)
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as caught:
            _model(seed=1).save_weights(path)
    finally:
        folder.chmod(0o755)
    assert caught.value.filename == str(path) and ".partial" not in str(caught.value)
    assert _files(folder) == before


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_an_error_inside_the_writer_leaves_no_file_and_the_writer_usable(tmp_path, suffix):
    """A parameter whose host copy fails half-way through the file: the error is the
    caller's, the old file is kept, and the next save (h5py's handles all released)
    works."""
    _needs(suffix)
    model, path = _model(), tmp_path / f"m{suffix}"
    model.save_weights(path)
    before = _files(tmp_path)
    other = _model(seed=1)
    parameter = other.parameters["dense_1/weight"]

    def lost():
        raise RuntimeError("device lost while copying dense_1/weight")

    parameter.numpy = lost
    try:
        with pytest.raises(RuntimeError, match="device lost"):
            other.save_weights(path)
    finally:
        del parameter.numpy  # the class's method again
    assert _files(tmp_path) == before
    other.save_weights(path)
    again = _model(seed=2)
    again.load_weights(path)
    assert _bits(again) == _bits(other)


# -- 3: damaged files --------------------------------------------------------------------------
def _distinct_arrays(model):
    """A value per tensor that no other tensor holds, so its bytes can be found in a file."""
    return {key: np.full(p.shape, 1.0 + 0.125 * i, np.float32)
            for i, (key, p) in enumerate(model.parameters.items())}


def _member_data_offset(raw, info):
    """Return where the data of zip member ``info`` starts in the archive bytes ``raw``."""
    start = info.header_offset
    name_length, extra_length = struct.unpack("<HH", raw[start + 26:start + 30])
    return start + 30 + name_length + extra_length


def _npz_crc(path, model, target):
    np.savez(path, **_distinct_arrays(model))
    raw = bytearray(path.read_bytes())
    value = np.float32(1.0 + 0.125 * list(model.parameters).index(target)).tobytes()
    at = raw.rindex(value)  # the last value of the target's data
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def _npz_deflate(path, model, target):
    np.savez_compressed(path, **_distinct_arrays(model))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{target}.npy")
    start = _member_data_offset(raw, info)
    for at in range(start, start + info.compress_size):
        raw[at] ^= 0xFF  # the whole stream: no valid deflate data left
    path.write_bytes(bytes(raw))


def _npz_short_member(path, model, target):
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in _distinct_arrays(model).items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array)
            data = buffer.getvalue()
            if key == target:
                data = data[:-3]  # the header says 2 values; fewer bytes follow
            archive.writestr(f"{key}.npy", data)


def _npz_cut_in_half(path, model, target):
    np.savez(path, **_distinct_arrays(model))
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])


@pytest.mark.parametrize("damage,names_tensor", [
    (_npz_crc, True), (_npz_deflate, True), (_npz_short_member, True),
    (_npz_cut_in_half, False)], ids=lambda v: getattr(v, "__name__", str(v)).strip("_"))
@pytest.mark.parametrize("cast", [False, True])
def test_a_damaged_npz_is_one_valueerror_naming_file_and_tensor_and_changes_nothing(
        tmp_path, damage, names_tensor, cast):
    model = _model()
    before = _bits(model)
    path = tmp_path / "damaged.npz"
    target = "dense_1/bias"
    damage(path, model, target)
    on_disk = path.read_bytes()
    with pytest.raises(ValueError) as caught:
        model.load_weights(path, cast=cast)
    assert str(path) in str(caught.value)
    if names_tensor:
        assert repr(target) in str(caught.value)
    assert _bits(model) == before
    assert path.read_bytes() == on_disk


@pytest.mark.parametrize("reader", ["header", "tensor"])
def test_npz_readers_name_the_file_and_the_member(tmp_path, reader):
    """A small member is read whole with its header, so its bad CRC may show already
    there; either way the error names the file and the array."""
    model = _model()
    path = tmp_path / "crc.npz"
    _npz_crc(path, model, "dense/weight")
    with pytest.raises(ValueError, match=r"crc\.npz: array 'dense/weight' .*Bad CRC-32"):
        if reader == "header":
            npz.read_header(path)
        else:
            npz.read_tensor(path, "dense/weight")


@pytest.mark.slow  # writes and damages a whole weights file (seconds)
def test_a_damaged_weights_h5_is_one_valueerror_naming_the_file_and_changes_nothing(tmp_path):
    """Flip bytes across a Keras weights file: every load either succeeds (the byte was
    data, or unused) or raises a ValueError naming the file; never HDF5's RuntimeError
    ("Object specific failed (message not aligned)"), KeyError or a crash, and a failed
    load writes nothing into the model."""
    pytest.importorskip("h5py")
    good_path = tmp_path / "good.weights.h5"
    _model(seed=0).save_weights(good_path)
    good = good_path.read_bytes()
    path = tmp_path / "damaged.weights.h5"
    model = _model(seed=1)
    before = _bits(model)
    refused = 0
    for at in range(0, len(good), 23):
        raw = bytearray(good)
        raw[at] ^= 0xFF
        path.write_bytes(bytes(raw))
        try:
            model.load_weights(path)
        except ValueError as exc:
            assert str(path) in str(exc)
            assert "\n" not in str(exc)
            assert _bits(model) == before, at
            refused += 1
        else:
            model = _model(seed=1)  # the byte was data: start again from known weights
    assert refused > 10


def test_weights_h5_readers_name_the_file_and_the_tensor(tmp_path):
    pytest.importorskip("h5py")
    path = tmp_path / "m.weights.h5"
    _model().save_weights(path)
    with pytest.raises(ValueError, match=r"m\.weights\.h5: tensor 'layers/dense/vars/7'"):
        keras_h5.read_tensor(path, "layers/dense/vars/7")
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=r"m\.weights\.h5: "):
        keras_h5.read_header(path)
    with pytest.raises(FileNotFoundError):
        keras_h5.read_tensor(tmp_path / "gone.weights.h5", "x")


def test_a_safetensors_file_that_shrank_names_the_tensor(tmp_path):
    path = tmp_path / "m.safetensors"
    _model().save_weights(path)
    tensors, _, start = st.read_header(path)
    path.write_bytes(path.read_bytes()[:start + 4])
    with pytest.raises(ValueError, match=r"m\.safetensors: the file ends inside tensor "
                                         r"'dense_1/bias'"):
        st.read_tensor(path, tensors["dense_1/bias"], start, "dense_1/bias")


# -- 4: plot's dtype and output path, init-torch's format ---------------------------------------
def _plot(out, *extra):
    return main(["plot", "he_normal", "--shape", "16,8", "-o", str(out), "--device", "cpu",
                 *extra])


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_plot_refuses_complex_dtypes(tmp_path, capsys, dtype):
    before = _files(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: nothing is sampled
        assert _plot(tmp_path / "c.png", "--dtype", dtype) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"--dtype {dtype}" in line and "complex" in line
    assert _files(tmp_path) == before


def test_plot_samples_refuses_complex_samples(tmp_path):
    pytest.importorskip("matplotlib")
    from gpuinit.initializers import get
    from gpuinit.plot import law_of, plot_samples

    law = law_of(get("he_normal"), (16, 8))
    with pytest.raises(ValueError, match="complex"):
        plot_samples(np.ones((16, 8), np.complex64), law, tmp_path / "c.png", title="t")
    assert _files(tmp_path) == {}


@pytest.mark.parametrize("case", ["folder", "folder/", "png-is-a-folder", "missing-folder",
                                  "bad-extension"])
def test_plot_refuses_an_output_it_cannot_write_and_names_it(tmp_path, capsys, case):
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "keep.txt").write_text("keep")
    (tmp_path / "shot.png").mkdir()
    out = {"folder": tmp_path / "figs", "folder/": f"{tmp_path / 'figs'}/",
           "png-is-a-folder": tmp_path / "shot", "missing-folder": tmp_path / "no" / "x.png",
           "bad-extension": tmp_path / "x.notanimage"}[case]
    if case == "bad-extension":
        pytest.importorskip("matplotlib")
    before = _files(tmp_path)
    assert _plot(out) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert str(out).rstrip("/") in line
    assert _files(tmp_path) == before


def test_plot_reports_exactly_the_file_it_wrote(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert _plot(tmp_path / "figure") == 0
    written = tmp_path / "figure.png"
    assert f"wrote {written}:" in capsys.readouterr().out
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "figure").exists()
    assert _plot(tmp_path / "plain.png") == 0
    assert f"wrote {tmp_path / 'plain.png'}:" in capsys.readouterr().out


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "hostile_models.py").write_text(textwrap.dedent("""
        from torch import nn

        CALLS = []

        def tiny():
            CALLS.append("tiny")
            return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))

        def huge():
            return nn.Linear(1 << 20, 1 << 20)  # 4 TiB of float32

        def lookup():
            raise LookupError("no model named 'gpt-9'")

        def multiline():
            raise RuntimeError("first line\\nsecond line")

        def interrupted():
            raise KeyboardInterrupt
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    module = importlib.import_module("hostile_models")
    yield module
    sys.modules.pop("hostile_models", None)


def test_init_torch_writes_npz_when_out_says_npz(factories, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "m.npz"
    assert main(["init-torch", "hostile_models:tiny", "--device", "cpu", "--seed", "5",
                 "--out", str(out)]) == 0
    assert out.read_bytes()[:2] == b"PK"  # a zip archive, not safetensors bytes
    import gpuinit.torch as gt

    expected = gt.init_module(factories.tiny(), seed=5).state_dict()
    with np.load(out) as saved:
        assert sorted(saved.files) == sorted(expected)
        for name, tensor in expected.items():
            np.testing.assert_array_equal(saved[name], tensor.numpy())


@pytest.mark.parametrize("case", ["m.pt", "m.weights.h5", "m.h5", "missing/m.safetensors",
                                  "folder", "folder/", "file/m.safetensors"])
def test_init_torch_checks_out_before_building_the_model(factories, tmp_path, capsys, case):
    pytest.importorskip("torch")
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("a file, not a folder")
    out = str(tmp_path / case) + ("/" if case.endswith("/") else "")
    before = _files(tmp_path)
    assert main(["init-torch", "hostile_models:tiny", "--device", "cpu", "--out", out]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert out in line or out.rstrip("/") in line
    assert factories.CALLS == []  # refused before the factory ran
    assert _files(tmp_path) == before


# -- 5: one line on stderr, never a traceback ------------------------------------------------------
@pytest.mark.parametrize("target,message", [
    ("hostile_models:huge", "out of memory"),
    ("hostile_models:lookup", "LookupError: no model named 'gpt-9'"),
    ("hostile_models:multiline", "first line second line"),
])
def test_init_torch_failures_are_one_line(factories, tmp_path, capsys, target, message):
    pytest.importorskip("torch")
    out = tmp_path / "m.safetensors"
    assert main(["init-torch", target, "--device", "cpu", "--out", str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("gpuinit init-torch: error: ") and message in line
    assert not out.exists()


def test_keyboard_interrupt_is_not_swallowed(factories, capsys):
    pytest.importorskip("torch")
    with pytest.raises(KeyboardInterrupt):
        main(["init-torch", "hostile_models:interrupted", "--device", "cpu"])


def test_plot_out_of_memory_is_one_line(tmp_path, capsys):
    assert main(["plot", "he_normal", "--shape", "1048576,1048576", "-o",
                 str(tmp_path / "x.png"), "--device", "cpu"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("gpuinit plot: error: out of memory")
    assert _files(tmp_path) == {}


@pytest.mark.parametrize("command,function", [
    (["info"], "info"), (["demo", "--model", "none"], "demo"),
    (["compile", "--device", "cpu"], "compile_kernels"),
    (["bench", "--device", "cpu"], "bench"),
    (["plot", "he_normal", "--shape", "4,4", "-o", "x.png"], "plot"),
    (["init-torch", "m:f"], "init_torch"),
])
@pytest.mark.parametrize("error", [LookupError("no such thing"), KeyError("key"),
                                   MemoryError(), ZeroDivisionError("division by zero"),
                                   RuntimeError("line one\nline two")],
                         ids=lambda e: type(e).__name__)
def test_every_subcommand_turns_any_error_into_one_line_and_exit_1(
        monkeypatch, capsys, command, function, error):
    import gpuinit.cli as cli

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli, function, fail)
    assert main(command) == 1
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert line == f"gpuinit {command[0]}: error: {error_line(error)}"


@pytest.mark.parametrize("error,line", [
    (ValueError("--shape '4,-4': give positive dimensions"),
     "--shape '4,-4': give positive dimensions"),
    (KeyError("dense"), "KeyError: 'dense'"),
    (LookupError("no model"), "LookupError: no model"),
    (MemoryError(), "MemoryError"),
    (OSError(errno.ENOSPC, "No space left on device", "m.npz"),
     "[Errno 28] No space left on device: 'm.npz'"),
    (RuntimeError("a\n  b\n"), "a b"),
])
def test_error_line(error, line):
    assert error_line(error) == line


def test_a_real_process_prints_one_line_and_exits_1(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gpuinit.cli", "plot", "he_normal", "--shape",
                           "1048576,1048576", "-o", str(tmp_path / "x.png"), "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert _one_error_line(done.stderr).startswith("gpuinit plot: error: out of memory")
    assert _files(tmp_path) == {}
    usage = subprocess.run([sys.executable, "-m", "gpuinit.cli", "plot", "he_normal"],
                           capture_output=True, text=True, timeout=300)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


# -- 6: compile --ptx leaves no folder behind ----------------------------------------------------
@pytest.fixture
def fake_ptx_compiler(monkeypatch):
    """Replace the NVVM compile of gpuinit.kernels.cuda: ``fake.fail`` set to an exception
    makes every compile raise it, else each returns a line of text."""
    import types

    from numba import config

    import gpuinit.kernels

    fake = types.SimpleNamespace(fail=None, calls=0)

    def compile_ptx(dist, fmt, cc):
        fake.calls += 1
        if fake.fail is not None:
            raise fake.fail
        return f"// ptx of {dist} {fmt} for {cc}\n"

    module = types.ModuleType("gpuinit.kernels.cuda")
    module.compile_ptx = compile_ptx
    monkeypatch.setitem(sys.modules, "gpuinit.kernels.cuda", module)
    monkeypatch.setattr(gpuinit.kernels, "cuda", module, raising=False)
    monkeypatch.setattr(config, "ENABLE_CUDASIM", 0)
    return fake


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_ptx_compile_creates_no_folder_and_changes_none(
        tmp_path, capsys, fake_ptx_compiler, existing):
    fake_ptx_compiler.fail = RuntimeError("GPU compute capability 3.5 is not supported")
    out = tmp_path / "a" / "b"
    if existing:
        out.mkdir(parents=True)
        (out / "index.json").write_text("[]\n")
    before = _files(tmp_path)
    assert main(["compile", "--ptx", "sm_35", "--out", str(out), "--dtypes", "float32"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "3.5 is not supported" in line
    assert fake_ptx_compiler.calls == 1
    assert _files(tmp_path) == before


def test_a_failed_ptx_write_removes_the_folder_it_created(tmp_path, capsys, monkeypatch,
                                                           fake_ptx_compiler):
    out = tmp_path / "a" / "b"
    real = Path.write_text
    written = []

    def disk_full(self, text, *args, **kwargs):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(self)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full)
    assert main(["compile", "--ptx", "sm_90", "--out", str(out), "--dtypes", "float32"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line and str(out) in line
    assert written and _files(tmp_path) == {}


def test_ptx_out_that_is_a_file_is_refused_before_compiling(tmp_path, capsys,
                                                            fake_ptx_compiler):
    (tmp_path / "taken").write_text("x")
    before = _files(tmp_path)
    assert main(["compile", "--ptx", "sm_90", "--out", str(tmp_path / "taken" / "ptx")]) == 1
    assert str(tmp_path / "taken") in _one_error_line(capsys.readouterr().err)
    assert fake_ptx_compiler.calls == 0
    assert _files(tmp_path) == before


def test_ptx_compiles_everything_then_writes(tmp_path, fake_ptx_compiler, capsys):
    out = tmp_path / "new" / "ptx"
    assert main(["compile", "--ptx", "sm_90", "--out", str(out), "--dtypes", "float32"]) == 0
    assert f"to {out}" in capsys.readouterr().out
    index = json.loads((out / "index.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [e["file"] for e in index] + ["index.json"])


def test_compile_ptx_for_an_unsupported_architecture_leaves_no_folder(tmp_path):
    """The real compiler (NVVM from pip) refusing sm_35, in a process without the CUDA
    simulator; without NVVM the compile fails as well, and the folder must not remain."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = tmp_path / "ptx" / "sm_35"
    done = subprocess.run([sys.executable, "-m", "gpuinit.cli", "compile", "--ptx", "sm_35",
                           "--out", str(out), "--dtypes", "float32"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1, done.stdout[-2000:]
    assert _one_error_line(done.stderr).startswith("gpuinit compile: error: ")
    assert _files(tmp_path) == {}
