"""Weight-file I/O lives in gpuinit.weightfiles, apart from the layers that call it."""

import ast
import pathlib

import gpuinit
import gpuinit.weightfiles as wf
from gpuinit.layers import Dense, Input, Sequential

PACKAGE = pathlib.Path(gpuinit.__file__).parent


def _imports(path: pathlib.Path, package: str) -> set[str]:
    """Return the gpuinit modules (and names) that ``path``, a module of ``package``,
    imports anywhere in it (function bodies too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [module] + [f"{module}.{a.name}" for a in node.names]
            found.update(n for n in names if n.startswith("gpuinit"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gpuinit"))
    return found


def test_weightfiles_imports_no_layer():
    for path in (PACKAGE / "weightfiles").glob("*.py"):
        imported = _imports(path, "gpuinit.weightfiles")
        assert not any(m.startswith("gpuinit.layers") for m in imported), (path.name, imported)


def test_the_layers_import_each_other_without_a_circle():
    folder = PACKAGE / "layers"
    modules = {p.stem: p for p in folder.glob("*.py") if p.stem != "__init__"}
    edges = {name: {m.split(".")[2] for m in _imports(path, "gpuinit.layers")
                    if m.startswith("gpuinit.layers.") and m.split(".")[2] in modules}
             for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import circle: {' -> '.join(path + (name,))}"
        if name in done:
            return
        for other in edges[name] - {name}:
            visit(other, path + (name,))
        done.add(name)

    for name in modules:
        visit(name, ())


def test_the_formats_are_importable_where_they_were():
    from gpuinit.layers import keras_h5, npz, safetensors

    assert (keras_h5, npz, safetensors) == (wf.keras_h5, wf.npz, wf.safetensors)


def test_a_model_saves_through_the_weightfiles_package(tmp_path):
    model = Sequential([Input(3), Dense(2)], seed=1, device="cpu")
    path = tmp_path / "m.safetensors"
    wf.save(model, path)
    again = Sequential([Input(3), Dense(2)], seed=2, device="cpu")
    wf.load(again, path, cast=False)
    assert all((a.numpy() == b.numpy()).all()
               for a, b in zip(model.parameters.values(), again.parameters.values(), strict=True))
    assert [g[0] for g in model.keras_groups()] == ["vars", "layers/dense/vars"]
