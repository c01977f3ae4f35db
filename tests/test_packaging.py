"""The checkout imports like an installed gpuinit: no top-level name in the repository
shadows an installed distribution when Python runs from the repository root.

``python -m pytest`` and ``python -c`` put the working directory first on ``sys.path``,
so a top-level package in the checkout (a folder with ``__init__.py``, or a ``.py``
file) wins over any installed distribution of the same name.  transformers imports
Hugging Face's ``kernels`` distribution, for example: a top-level ``kernels`` folder here
would break every transformers model class in a checkout.
"""

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def importable_top_level_names(root: Path) -> set[str]:
    """Return the names that ``import NAME`` resolves to the checkout's root folder."""
    names = set()
    for entry in root.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and (entry / "__init__.py").exists():
            names.add(entry.name)
        elif entry.is_file() and entry.suffix == ".py":
            names.add(entry.stem)
    return names


def test_the_only_package_at_the_root_meant_for_import_is_gpuinit():
    # tests/ is a package for its helpers and is not installed; nothing else may be.
    assert importable_top_level_names(ROOT) - {"tests"} == {"gpuinit"}


def test_no_top_level_name_of_the_checkout_is_an_installed_distribution():
    owners = importlib.metadata.packages_distributions()
    shadowed = {
        name: owners[name]
        for name in importable_top_level_names(ROOT)
        if name in owners and set(owners[name]) != {"gpuinit"}
    }
    assert shadowed == {}, f"checkout folders shadow installed distributions: {shadowed}"


_PROBE = """
import importlib.util, json, sys
found = {}
for name in sys.argv[1:]:
    spec = importlib.util.find_spec(name)
    found[name] = None if spec is None else spec.origin
if importlib.util.find_spec("transformers") is not None:
    # Model classes import Hugging Face's `kernels` and other top-level names lazily.
    from transformers import GPT2LMHeadModel, LlamaForCausalLM  # noqa: F401
import gpuinit
from gpuinit.kernels import philox  # noqa: F401
found["gpuinit"] = gpuinit.__file__
print(json.dumps(found))
"""


def test_running_from_the_repository_root_imports_the_installed_packages():
    # The names installed distributions provide, resolved with the checkout first on
    # sys.path: each must still come from site-packages, not from a folder here.
    owners = importlib.metadata.packages_distributions()
    probe_names = sorted(n for n in owners if n.isidentifier() and n != "gpuinit")
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *probe_names],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    from_checkout = {
        name: origin for name, origin in found.items()
        if name != "gpuinit" and origin is not None
        and Path(origin).resolve().is_relative_to(ROOT)
    }
    assert from_checkout == {}
    assert Path(found["gpuinit"]).resolve().is_relative_to(ROOT / "gpuinit")

