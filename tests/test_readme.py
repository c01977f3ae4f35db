"""Every ```python block of README.md runs as printed, alone, on a machine without CUDA.

Each block runs in a fresh interpreter in an empty temporary folder (gpuinit is
installed, so the block imports it as a reader's script would), outside Numba's CUDA
simulator, and must exit 0 with no traceback and no warning on stderr.  A block that
imports an optional package that is not installed is skipped, naming it; shell blocks
(```bash) are not run.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Each block runs in a fresh process (seconds each): run after the suite by .ci/run.
pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"

# Optional packages a block may need, by the module it imports (gpuinit's own adapters
# included), and the distribution to install.
OPTIONAL = {"transformers": "transformers", "dask": "dask", "jax": "jax",
            "matplotlib": "matplotlib", "torch": "torch", "keras": "keras",
            "gpuinit.dask": "dask", "gpuinit.jax": "jax", "gpuinit.torch": "torch",
            "gpuinit.plot": "matplotlib"}


def python_blocks(text: str) -> list[tuple[str, str]]:
    """Return (id, code) of every ```python block: the id is the heading above the block
    (with a number when a section has several)."""
    blocks, heading, seen = [], "top", {}
    # Fences of every language are matched, so that a "# comment" in a shell block is
    # not taken for a heading.
    for match in re.finditer(r"^(#{1,6}) ([^\n]+)$|^```(\w*)\n(.*?)^```", text,
                             re.M | re.S):
        if match.group(1):
            heading = match.group(2).strip()
            continue
        if match.group(3) != "python":
            continue
        seen[heading] = seen.get(heading, 0) + 1
        name = heading if seen[heading] == 1 else f"{heading} ({seen[heading]})"
        blocks.append((name, match.group(4)))
    return blocks


def missing_packages(code: str) -> list[str]:
    """Return the optional distributions ``code`` imports that are not installed."""
    missing = []
    for module in re.findall(r"^\s*(?:import|from)\s+([\w.]+)", code, re.M):
        parts = module.split(".")
        for key in (".".join(parts[:2]), parts[0]):
            need = OPTIONAL.get(key)
            if need and importlib.util.find_spec(need) is None and need not in missing:
                missing.append(need)
    return missing


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks_and_the_parser_finds_them():
    names = [name for name, _ in BLOCKS]
    assert len(BLOCKS) >= 6, names
    assert {"Tour", "Initializers", "PyTorch modules", "Schemes"} <= set(names)
    shell = re.findall(r"^```bash\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    assert shell and not any(code in shell for _, code in BLOCKS)


def test_no_block_hard_codes_a_cuda_device():
    for name, code in BLOCKS:
        assert not re.search(r"""["']cuda["']\s*[,)]""", code.replace(
            '"cuda" if torch.cuda.is_available()', "")), name


@pytest.mark.parametrize("name,code", BLOCKS, ids=[name for name, _ in BLOCKS])
def test_readme_block_runs_alone(name, code, tmp_path):
    missing = missing_packages(code)
    if missing:
        pytest.skip(f"README block {name!r} needs {', '.join(missing)} "
                    f"(pip install {' '.join(missing)})")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_ENABLE_CUDASIM", "PYTHONPATH", "PYTHONWARNINGS")}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"README block {name!r} failed:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "Warning" not in done.stderr and "warning" not in done.stderr, (
        f"README block {name!r} warns:\n{done.stderr[-3000:]}")
