"""The README cannot rot: its quick starts are the examples the tests run, its error table is the code
table, and its complete programs run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import timrest
import timrest.exceptions
from timrest import _native

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = re.compile(r"<!-- example: (?P<path>\S+) -->\n```[\w,]*\n(?P<code>.*?)```\n", re.S)


def examples() -> list[tuple[str, str]]:
    found = [(m["path"], m["code"]) for m in EXAMPLE.finditer(README)]
    assert len(found) >= 5, "the README quotes the Python, Jupyter, command, C and C++ examples"
    return found


@pytest.mark.parametrize(("path", "code"), examples(), ids=[p for p, _ in examples()])
def test_every_quoted_example_is_a_verbatim_copy(path: str, code: str) -> None:
    source = ROOT / path
    if source.suffix == ".ipynb":
        cells = ["".join(c["source"]) + "\n" for c in json.loads(source.read_text())["cells"] if c["cell_type"] == "code"]
        assert code in cells, f"the README's block is not a code cell of {path}"
    else:
        assert code == source.read_text(encoding="utf-8"), f"the README's copy of {path} differs from the file"


def test_the_python_quick_start_runs_as_written(tmp_path: Path) -> None:
    code = dict(examples())["examples/python/quickstart.py"]
    script = tmp_path / "quickstart.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    before, after, missing = run.stdout.splitlines()
    assert before.count("'spammer'") == 3 and "'spammer'" not in after and "'alice'" in after
    assert "code=10010" in missing and "attempts=1" in missing


def test_the_monitoring_example_runs_as_written(tmp_path: Path) -> None:
    code = dict(examples())["examples/python/monitoring.py"]
    script = tmp_path / "monitoring.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    *attempts, stats_line = run.stdout.splitlines()
    assert [a.split(":")[0] for a in attempts] == ["attempt 1", "attempt 2", "attempt 3"]
    assert "code=60007 error=rate_limited" in attempts[0] and "code=0 error=None" in attempts[2]
    stats = json.loads(stats_line)
    assert (stats["calls"], stats["ok"], stats["attempts"], stats["retries"], stats["rate_limited"]) == (1, 1, 3, 2, 2)


def run_example(tmp_path: Path, path: str) -> list[str]:
    """Runs the README's copy of ``path`` from an empty folder; its output lines."""
    script = tmp_path / Path(path).name
    script.write_text(dict(examples())[path])
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


def test_the_opentelemetry_example_runs_as_written(tmp_path: Path) -> None:
    spans = [dict(f.split("=", 1) for f in line.split()[1:]) | {"name": line.split()[0]}
             for line in run_example(tmp_path, "examples/python/otel_traces.py")]
    assert [s["name"] for s in spans] == ["POST", "POST", "group_open_http_svc/delete_group_msg_by_sender",
                                          "handle-abuse-report"]
    first, second, call, app = spans
    assert first["parent"] == second["parent"] == call["span_id"] and call["parent"] == app["span_id"]
    assert (first["error"], second["error"], call["error"], call["attempts"]) == ("rate_limited", "-", "-", "2")


def test_the_prometheus_example_runs_as_written(tmp_path: Path) -> None:
    summary, *samples = run_example(tmp_path, "examples/python/prometheus_metrics.py")
    assert summary == "ok=5 failed=0 attempts=7"
    value = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in samples}
    method = 'rpc_method="group_open_http_svc/delete_group_msg_by_sender"'
    assert value[f'timrest_client_attempts_total{{error_type="transport",{method}}}'] == 2
    assert value[f'timrest_client_attempts_total{{error_type="",{method}}}'] == 5
    assert sum(v for k, v in value.items() if k.startswith("timrest_client_call_duration_seconds_count")) == 5


def test_the_command_line_quick_start_runs_as_written(tmp_path: Path) -> None:
    code = dict(examples())["examples/cli/quickstart.sh"]
    script = tmp_path / "quickstart.sh"
    script.write_text(code)
    bin_dir = str(Path(sys.executable).parent)  # the virtualenv's, where `timrest` is installed
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1] == "2", run.stdout  # two of the three batch items succeeded
    assert "some deletions failed" in run.stdout and "still failing" in run.stdout
    assert "done by earlier runs" in run.stderr  # the --resume run sent only the failed item
    assert [line.split("\t")[1] for line in run.stdout.splitlines() if line.endswith("\tdelete\tplanned")] \
        == ["release-team", "ops-oncall", "friday-meetup"], run.stdout  # the --dry-run plan
    purged = [json.loads(line) for line in (tmp_path / "purge.jsonl").read_text().splitlines()]
    assert sorted(r["group_id"] for r in purged if r.get("step") == "delete" and r["outcome"] == "ok") \
        == ["friday-meetup", "ops-oncall", "release-team"]
    lines = (tmp_path / "report.jsonl").read_text().splitlines()
    # Each run writes its items as they finish: the index puts a run's lines back in input order.
    first, resumed = [json.loads(line) for line in lines[:3]], [json.loads(line) for line in lines[3:]]
    report = sorted(first, key=lambda r: r["index"]) + resumed
    assert [(r["group_id"], r["ok"], r["error"]) for r in report] == [
        ("ops-oncall", True, None),
        ("friday-meetup", True, None),
        ("no-such-group", False, "GroupNotFoundError"),
        ("no-such-group", False, "GroupNotFoundError"),  # the --resume run: only the item not done
    ]


def test_the_incident_quick_starts_run_as_written(tmp_path: Path) -> None:
    code = dict(examples())["examples/python/incident.py"]
    script = tmp_path / "incident.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    plan, done, left = run.stdout.splitlines()
    assert plan == "plan: 21 steps, 9 old messages to recall (visible to clients)", plan
    assert done.startswith("done: 21 ok, 0 failed, 9 recalled"), done
    assert left == "spam left: 0; muted: True"

    code = dict(examples())["examples/cli/incident.sh"]
    script = tmp_path / "incident.sh"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    steps = [line.split("\t") for line in run.stdout.splitlines() if "\t" in line]
    assert {(s[0], s[3]) for s in steps} >= {("spammer42", "mute"), ("spam-bot-7", "mute"), ("spammer42", "delete")}
    assert all(s[4] == "planned" for s in steps), "the dry run plans"
    assert "2 accounts in 3 groups" in run.stderr and "8 done by earlier runs" in run.stderr
    assert run.stdout.splitlines()[-1] == "8", "every step ok once in the report"


def error_table() -> dict[str, tuple[str, str, str]]:
    start = README.index("<!-- error-table:")
    rows = {}
    for line in README[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        cls, status, codes, retried = (cell.strip() for cell in line.strip("|").split("|"))
        rows[cls.strip("`").split("(")[0]] = (status.strip("`"), codes, retried)
    return rows


def test_the_error_table_is_the_code_table() -> None:
    table = error_table()
    kinds = _native.error_kinds()
    assert len(table) == len(kinds)
    for kind in kinds:
        status, codes, retried = table[kind["python_class"]]
        assert status == "TIMREST_" + kind["name"].upper()
        assert [int(c) for c in re.findall(r"\b\d{5,6}\b", codes)] == kind["codes"], kind["python_class"]
        assert retried.startswith("no") == (not kind["retryable"]), kind["python_class"]
    for cls in table:
        assert issubclass(getattr(timrest, cls), timrest.TimError)


def test_the_error_table_shows_each_class_with_its_parents() -> None:
    start = README.index("<!-- error-table:")
    for line in README[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        shown = line.split("|")[1].strip().strip("`")
        name, parents = re.fullmatch(r"(\w+)\((.*)\)", shown).groups()  # type: ignore[union-attr]
        cls = getattr(timrest, name)
        assert [b.__name__ for b in cls.__bases__] == [p.strip() for p in parents.split(",")], name


def test_the_configuration_table_states_the_core_defaults() -> None:
    defaults = _native.defaults()
    section = README[README.index("## Configuration") : README.index("## Errors")]
    expected = {
        "identifier": f"`{defaults['identifier']}`",
        "connect_timeout": f"{defaults['connect_timeout']:g} s",
        "timeout": f"{defaults['timeout']:g} s",
        "deadline": f"{defaults['deadline']:g} s",
        "max_retries": f"{defaults['max_retries']}",
        "rate_limit": f"{defaults['rate_limit']:g} requests/s",
        "usersig_ttl": f"{defaults['usersig_ttl']} s",
    }
    for setting, default in expected.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{setting}` |"))
        assert row.split("|")[2].strip() == default, setting


# -- the "whole Python surface" block, checked against the type stubs both ways ---------------------

PACKAGE = Path(timrest.__file__).parent


def surface_block() -> str:
    start = README.index("<!-- python-surface -->")
    block = README[start:].split("```text\n", 1)[1]
    return block.split("```", 1)[0]


def stub_members(path: Path, cls: str) -> dict[str, list[str]]:
    """A class of a stub (or module): its public methods and properties, and the keywords of its
    constructor (``__new__``/``__init__``, with the keyword-only ones)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    members: list[str] = []
    keywords: list[str] = []
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if item.name in ("__new__", "__init__"):
                keywords = [a.arg for a in item.args.args[2:] + item.args.kwonlyargs]
            elif not item.name.startswith("_"):
                members.append(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members.append(item.target.id)  # NamedTuple fields
    return {"members": members, "keywords": keywords}


SURFACE = {  # the name a block line uses for an object -> (file, class)
    "client": ("_native.pyi", "Client"),
    "report": ("_native.pyi", "BatchReport"),
    "item": ("_native.pyi", "ItemResult"),
    "plan": ("_native.pyi", "PurgePlan"),
    "info": ("_native.pyi", "CallInfo"),
    "aclient": ("_async.py", "AsyncClient"),
    "muted": ("_native.pyi", "NoSpeaking"),
    "page": ("_native.pyi", "HistoryPage"),
    "msg": ("_native.pyi", "HistoryMessage"),
    "recall": ("_native.pyi", "RecallResult"),
    "job": ("_native.pyi", "JobReport"),
    "step": ("_native.pyi", "StepResult"),
    "control": ("_native.pyi", "JobControl"),
    "event": ("_native.pyi", "Event"),
}


def test_the_python_surface_block_names_every_public_member_of_the_stubs() -> None:
    block = surface_block()
    for var, (file, cls) in SURFACE.items():
        found = stub_members(PACKAGE / file, cls)
        for member in found["members"]:
            assert f"{var}.{member}" in block or f"{cls}.{member}" in block, f"{cls}.{member} is not in the README"
    for keyword in stub_members(PACKAGE / "_native.pyi", "Client")["keywords"]:
        assert f"{keyword}=" in block, f"Client's keyword {keyword} is not in the README"
    assert "max_workers=" in block and "secret_key=" in block
    for field in stub_members(PACKAGE / "_progress.py", "Progress")["members"]:
        assert field in block.split("timrest.Progress(", 1)[1].split(")", 1)[0], f"Progress.{field}"
    for keyword in ("on_result", "group_types", "include_topics", "page_size", "concurrency", "stop_on_error"):
        assert f"{keyword}=" in block
    exceptions = set(timrest.exceptions.__all__)
    for name in set(timrest.__all__) - exceptions:
        assert f"timrest.{name}" in block, f"timrest.{name} is not in the README"


def test_every_name_in_the_python_surface_block_exists() -> None:
    block = surface_block()
    for var, (file, cls) in SURFACE.items():
        known = set(stub_members(PACKAGE / file, cls)["members"])
        used = set(re.findall(rf"(?<![\w.]){var}\.(\w+)", block))
        assert used <= known, f"{cls} has no {sorted(used - known)}"
        for name in used:
            assert hasattr(getattr(timrest, cls), name), f"{cls}.{name} is missing from the installed package"
    for name in set(re.findall(r"timrest\.(\w+)", block)):
        assert hasattr(timrest, name), f"timrest.{name}"
    keywords = set(re.findall(r"(\w+)=", block.split("client = timrest.Client.from_env()", 1)[0]))
    assert keywords == set(stub_members(PACKAGE / "_native.pyi", "Client")["keywords"]), "Client's keywords"


def test_the_import_time_in_the_readme_is_the_benchmarks() -> None:
    """`bash scripts/bench.sh --update-docs` writes both; a figure typed by hand would differ."""
    figure = README.split("<!-- bench:import-ms -->", 1)[1].split("<!-- /bench:import-ms -->", 1)[0]
    docs = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    section = docs.split("<!-- bench:footprint -->", 1)[1].split("<!-- /bench:footprint -->", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith("| timrest (Python) |"))
    assert figure == row.split("|")[2].strip() + " ms"
    assert f"`import timrest`: {figure}," in section


def test_the_fleet_figures_in_the_readme_are_the_benchmarks() -> None:
    """The unshared-limiter claim quotes bench/fleet.py's table (docs/benchmarks.md §5) as it stands."""
    docs = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    row = next(line for line in docs.splitlines() if line.startswith("| 4 | local |"))
    _, _, _, rate, refused, failed, _ = (cell.strip() for cell in row.split("|"))
    shared = README.split("## Many processes, many hosts: one quota", 1)[1].split("```", 1)[0]
    answers, total = (int(n) for n in refused.split(" of "))
    assert f"{refused} answers were 60007 ({round(100 * answers / total)} %)" in shared
    assert f"fleet did {round(float(rate))} deletions/s" in shared
    assert failed == "0" and "No item was lost" in shared


def test_the_c_quick_start_runs_as_written(tmp_path: Path) -> None:
    """examples/c/quickstart.sh, from the README: install.sh into a fresh prefix, the three ways
    to link, and each program against the installed timrest-emulator."""
    code = dict(examples())["examples/c/quickstart.sh"]
    script = tmp_path / "quickstart.sh"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIM_", "PKG_CONFIG"))}
    env.pop("LD_LIBRARY_PATH", None)
    # The shipped build of the library, cached where scripts/test-c.sh keeps it.
    env.update(TIMREST_SRC=str(ROOT), PREFIX=str(tmp_path / "prefix"),
               CARGO_TARGET_DIR=str(ROOT / "target" / "c-lib"))
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1800, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("deleted the messages of spammer42 in release-team") == 3, run.stdout
    lib = tmp_path / "prefix" / "lib"
    assert (lib / "libtimrest.so.0.1").is_symlink() and (lib / "cmake" / "timrest" / "timrestConfig.cmake").is_file()
    ldd = subprocess.run(["ldd", str(tmp_path / "delete_by_sender_static")], capture_output=True, text=True)
    assert "libtimrest" not in ldd.stdout, "the static build does not load libtimrest.so"


def test_the_cpp_quick_start_runs_as_written(tmp_path: Path) -> None:
    """examples/cpp/quickstart.sh and its CMakeLists.txt, from the README, in an empty folder: the
    program built with pkg-config and with CMake (Debian's cmake), each run on the emulator."""
    quoted = dict(examples())
    assert quoted["examples/cpp/CMakeLists.txt"] == (ROOT / "examples" / "cpp" / "CMakeLists.txt").read_text()
    script = tmp_path / "quickstart.sh"
    script.write_text(quoted["examples/cpp/quickstart.sh"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIM_", "PKG_CONFIG", "CMAKE_"))}
    env.pop("LD_LIBRARY_PATH", None)
    # The documented variables (TIMREST_SRC, PREFIX), and cargo's cache of the shipped build (as above).
    env.update(TIMREST_SRC=str(ROOT), PREFIX=str(tmp_path / "prefix"),
               CARGO_TARGET_DIR=str(ROOT / "target" / "c-lib"))
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1800, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("deleted the messages of")]
    assert lines == ["deleted the messages of spammer42 in release-team",
                     "deleted the messages of spammer42 in ops-oncall"], run.stdout
    for program in (tmp_path / "delete_by_sender", tmp_path / "build" / "delete_by_sender"):
        ldd = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=True)
        assert str(tmp_path / "prefix" / "lib" / "libtimrest.so.0.1") in ldd.stdout, ldd.stdout


def test_the_rust_quick_start_runs_as_written(tmp_path: Path) -> None:
    """examples/rust/quickstart.sh, from the README: a new cargo project that adds timrest by path
    and runs examples/quickstart.rs as its main (the README's Rust block)."""
    code = dict(examples())["examples/rust/quickstart.sh"]
    assert "examples/quickstart.rs" in dict(examples()), "the README quotes the program the script copies"
    script = tmp_path / "quickstart.sh"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
    env["TIMREST_SRC"] = str(ROOT)
    # The clone's own build directory: the dependencies are built once for every test.
    env.setdefault("CARGO_TARGET_DIR", str(ROOT / "target" / "rust-quickstart"))
    run = subprocess.run(["bash", "-e", str(script)], capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    deleted, missing, left = run.stdout.splitlines()
    assert deleted.startswith("deleted spammer42's messages in @TGS#") and "1 attempt(s)" in deleted
    assert missing == "no group @TGS#GONE (code Some(10010))"
    assert left.startswith("1 message(s) left"), left  # alice's
    manifest = (tmp_path / "tim-cleanup" / "Cargo.toml").read_text()
    assert re.search(r'^timrest = \{.*path = ".*", features = \["emulator"\] \}$', manifest, re.M), manifest
