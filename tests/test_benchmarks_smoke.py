"""The benchmark functions run at tiny sizes and return well-formed results.

No timing is asserted anywhere: these tests only prove that the benchmark
code works, so that `python benchmarks/run.py` does not break unnoticed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import mpmath
import pytest

pytestmark = pytest.mark.heavy  # CI runs each on one interpreter

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str) -> ModuleType:
    module_name = f"_benchmarks_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(
        module_name, ROOT / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


checker = _load("checker")
runner = _load("run")

TINY = checker.Config(
    throughput=((5, 3), (30, 2)),
    end_to_end_examples=2,
    tensor_examples=1,
    reuse_nodes=30,
    naive_timeout=0.01,
    naive_small=(),
    chains=(10, 20),
    repeats=1,
    jobs_examples=2,
    startup_repeats=1,
    epsilons=(1e-3,),
    detection_examples=2,
    mutant_examples=2,
    mutants=1,
    isolation_examples=1,
    isolation_repeats=1,
)


def test_throughput_reports_graphs_and_sizes() -> None:
    rows = checker.random_graph_throughput(((5, 3), (30, 2)), seed=1)
    assert [r["max_nodes"] for r in rows] == [5, 30]
    for row in rows:
        assert row["status"] == "pass"
        assert row["examples"] >= 1
        assert row["graphs_per_s"] > 0
        assert row["median_nodes"] >= 1


def test_throughput_restores_judge() -> None:
    import gradcheck.internal.checking.judge
    import gradcheck.internal.checking.probes
    import gradcheck.internal.checking.random_graphs as rg

    checker.random_graph_throughput(((5, 1),), seed=2)
    assert rg.judge is gradcheck.internal.checking.judge.judge
    assert rg.judged_in_order is gradcheck.internal.checking.probes.judged_in_order


@pytest.mark.heavy(seconds=8)
def test_cpu_cost_benchmarks_report_ratios() -> None:
    cost = _load("cost")
    fixed = cost.fixed_cost(rounds=1)
    assert fixed["floor_cpu_s"] > 0 and fixed["ratio"] > 0
    graphs = cost.graph_cost(examples=3, rounds=1)
    assert graphs["bare_per_graph_s"] > 0 and graphs["graphs_per_cpu_s"] > 0
    rows = checker.table_rows({"fixed_cost": fixed, "graph_cost": graphs})
    assert [r[0].split(",")[0] for r in rows][:2] == [
        "gradcheck engine (built-in) / import sympy",
        "random graphs",
    ]


def test_worker_cost_reports_per_program_ratios() -> None:
    worker_cost = _load("worker_cost")
    result = worker_cost.measure(1, ["small_batch1"], None, scale=0.05)
    row = result["small_batch1"]
    assert set(row) == {
        "bare_us",
        "inprocess_us",
        "worker_us",
        "inprocess_over_bare",
        "worker_over_bare",
    }
    assert row["worker_us"] > 0  # 200 round trips: well above the noise


def test_worker_start_measures_both_ways() -> None:
    worker_start = _load("worker_start")
    result = worker_start.measure(1, 2)  # its child asserts the CPU is counted
    assert result["workers"] == 2
    assert result["popen_ms_per_worker"] > 0
    assert result["server_ms_per_worker"] > 0


@pytest.mark.heavy(seconds=5)
def test_judging_cost_judges_a_correct_stand_in_engine() -> None:
    judging = _load("judging")
    result = judging.measure(rounds=1)
    assert result["examples_per_engine"] > 500
    assert result["judging_us_per_example"] > 0 and result["ratio"] > 0


@pytest.mark.heavy(seconds=5)
def test_isolation_overhead_runs_both_ways() -> None:
    result = checker.isolation_overhead(1, seed=4)
    assert result["statuses"] == ["pass"]
    assert result["in_process_s"] > 0 and result["isolated_s"] > 0
    assert result["ratio"] == result["isolated_s"] / result["in_process_s"]
    rows = checker.table_rows({"isolation": result})
    assert rows[0][0].startswith("gradcheck engine, isolated / in-process")


def test_end_to_end() -> None:
    result = checker.end_to_end(2, seed=3)
    assert result["status"] == "pass"
    assert result["random_phase_s"] <= result["seconds"]


@pytest.mark.heavy
def test_tensor_end_to_end() -> None:
    pytest.importorskip("numpy")
    result = checker.tensor_end_to_end(1, seed=3)
    assert result["status"] == "pass"
    rows = checker.table_rows({"tensor": result})
    assert rows[0][0].startswith("check_tensor_engine(examples=1)")


def test_reuse_graph_has_huge_expanded_tree() -> None:
    from gradcheck.internal.refs.symbolic import expanded_size

    graph = checker.reuse_graph(100)
    assert len(graph) == 100
    assert graph.variables == ("x", "y", "z")
    assert expanded_size(graph, cap=10**60) > 10**9


def test_naive_symbolic_agrees_with_ours() -> None:
    from gradcheck.internal.refs.symbolic import symbolic_reference

    naive = checker.naive_symbolic(8, timeout=120)
    assert naive["finished"], naive
    graph = checker.reuse_graph(8)
    ours = symbolic_reference(graph, {v: checker.POINT[v] for v in graph.variables})
    with mpmath.workdps(60):
        values = {
            s["stage"].split()[1]: mpmath.mpf(s["value"])
            for s in naive["stages"]
            if s["stage"].startswith("evalf")
        }
        assert set(values) == set(graph.variables)
        for name, value in values.items():
            assert abs(value - ours.gradients[name]) < mpmath.mpf("1e-40")


def test_naive_symbolic_is_killed_at_its_time_limit() -> None:
    result = checker.naive_symbolic(100, timeout=0.01)
    assert not result["finished"]
    assert result["seconds"] is None


def test_symbolic_vs_naive_tiny() -> None:
    result = checker.symbolic_vs_naive(20, timeout=0.01)
    assert result["nodes"] == 20
    assert result["ours_cold_s"] > 0 and result["ours_warm_s"] > 0
    assert not result["naive"]["finished"]


def test_numeric_scaling_rows() -> None:
    rows = checker.numeric_scaling((10, 20), repeats=1)
    assert [r["nodes"] for r in rows] == [10, 20]
    assert rows[0]["growth"] == 1.0
    assert all(r["variables"] == 2 for r in rows)


def test_jobs_speedup_runs_both() -> None:
    result = checker.jobs_speedup(2, repeats=1, seed=4)
    assert result["statuses"] == ["pass"]
    assert result["jobs1_s"] > 0 and result["jobs2_s"] > 0


def test_startup_commands_succeed() -> None:
    result = checker.startup(repeats=1)
    assert result["gradcheck --help"]["exit_codes"] == [0]
    assert result["gradcheck EXPR --at ..."]["exit_codes"] == [0]
    assert "import gradcheck" in result["imports"]


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |     sympy.core
import time:       200 |        300 |   sympy
import time:        50 |        350 | gradcheck.internal.refs.symbolic
import time:        10 |         10 | json
"""


def test_import_chain_from_importtime() -> None:
    rows = checker.parse_importtime(IMPORTTIME)
    assert rows[0] == ("sympy.core", 2, 100, 100)
    assert checker.import_chain(rows, "sympy") == [
        "gradcheck.internal.refs.symbolic",
        "sympy",
    ]
    assert checker.import_chain(rows, "sympy.core") == [
        "gradcheck.internal.refs.symbolic",
        "sympy",
        "sympy.core",
    ]
    assert checker.import_chain(rows, "hypothesis") == []


def test_perturbed_tanh_source_changes_one_line() -> None:
    from gradcheck.mutants import BASE_ENGINE

    source = checker.perturbed_tanh_source(1e-7)
    assert source != BASE_ENGINE
    assert "(1 - t**2) * (1 + 1e-07) * out.grad" in source


@pytest.mark.heavy(seconds=5)
def test_detection_tiny() -> None:
    rows = checker.detection_threshold((1e-3,), examples=2, seed=5)
    assert [r["eps"] for r in rows] == [0.0, 1e-3]
    assert not rows[0]["caught"]
    assert rows[1]["caught"]


def test_torch_acceptance_formula() -> None:
    # atol=1e-5, rtol=1e-3: a 0.1% error in tanh' passes, 1% does not.
    assert checker.torch_accepts(1e-3)
    assert checker.torch_accepts(0.0)
    assert not checker.torch_accepts(1e-2)
    assert checker.torch_threshold() == pytest.approx(1e-2)


@pytest.mark.heavy(seconds=6)
def test_mutant_gallery_tiny() -> None:
    result = checker.mutant_gallery(examples=2, limit=2, seed=6)
    assert result["mutants"] == 2
    assert all(r["error"] is None for r in result["rows"])


@pytest.mark.heavy(seconds=3)
def test_run_writes_json_and_prints_one_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.json"
    # Two cheap steps: each step has its own smoke test above.
    results = runner.run(
        TINY,
        quick=True,
        seed=7,
        engine=False,
        output=output,
        plot=None,
        only=["throughput", "mutants"],
    )
    printed = capsys.readouterr().out
    assert printed.count("| ok?") == 1
    saved = json.loads(output.read_text())
    assert saved["table"] == results["table"]
    names = [row["name"] for row in saved["table"]]
    assert any(name.startswith("random graphs") for name in names)
    assert any(name.startswith("mutants caught") for name in names)


FAKE_ENGINE = {
    "python": "3.11.7",
    "sizes": [
        {
            "ops": n,
            "nodes": n + 100,
            "ours": {"total_s": n * 1e-6},
            "micrograd_0_1_0": {"total_s": n * 4e-6},
            "ratio_total": 4.0,
            "same_leaf_grads": True,
        }
        for n in (1000, 10000)
    ],
    "linearity": [
        {"ops": n, "nodes": n + 100, "gc_off": {"total_ns_per_op": 400.0}}
        for n in (1000, 10000)
    ],
    "deep_chain": {
        "depth": 1000,
        "backward_s": 0.001,
        "recursion_limit": 1000,
        "ok": True,
    },
}


def test_engine_rows() -> None:
    rows = runner.engine_rows(FAKE_ENGINE)
    assert len(rows) == 3
    assert rows[0][1] == "4.00x" and rows[0][4] == "yes"


def test_engine_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = runner.plot_engine(FAKE_ENGINE, tmp_path / "plot.png")
    assert path is not None
    assert path.read_bytes().startswith(b"\x89PNG")


engine_bench = _load("engine")


def test_engine_program_stays_bounded_and_local_window_holds() -> None:
    leaves, program = engine_bench.make_program(500, seed=3, window=8)
    assert len(leaves) == engine_bench.LEAVES and len(program) == 500
    for k, (_, i, j) in enumerate(program):
        newest = engine_bench.LEAVES + k - 1
        assert i == newest and newest - 8 < j <= newest
    root, _ = engine_bench.build(engine_bench.Value, leaves, program)
    assert abs(root.data) <= 2.0


def test_engine_side_by_side_and_linearity_run_on_our_engine() -> None:
    # Our own Value stands in for micrograd 0.1.0: no network needed.
    leaves, program = engine_bench.make_program(200, seed=4)
    ours, theirs = engine_bench.side_by_side(2, engine_bench.Value, leaves, program)
    assert engine_bench.close(ours["grads"], theirs["grads"])
    assert any(ours["grads"])
    rows = engine_bench.linearity([100, 200], seed=5, repeats=1)
    assert [r["ops"] for r in rows] == [100, 200]
    assert rows[0]["gc_off"]["growth"] == 1.0
    assert all(r["gc_on"]["total_ns_per_op"] > 0 for r in rows)
    import gc

    assert gc.isenabled()  # time_run turns the collector back on


def test_mlp_program_computes_the_mlp_loss() -> None:
    # The replayed program must be the MLP it claims to be: recompute the
    # loss with plain floats from the same random draws.
    import itertools
    import random

    n_ops = 3 * engine_bench.MLP_OPS_PER_SAMPLE
    leaves, program = engine_bench.mlp_program(n_ops, seed=9)
    assert len(program) == n_ops - 1  # the first error starts the sum
    root, _ = engine_bench.build(engine_bench.Value, leaves, program)
    rng = random.Random(9)
    sizes = engine_bench.MLP_LAYERS
    layers = [
        [[rng.uniform(-1.0, 1.0) for _ in range(n_in + 1)] for _ in range(n_out)]
        for n_in, n_out in itertools.pairwise(sizes)
    ]
    batch = [
        ([rng.uniform(-1.0, 1.0) for _ in range(sizes[0])], rng.uniform(-1.0, 1.0))
        for _ in range(3)
    ]
    loss = 0.0
    for inputs, target in batch:
        act = inputs
        for depth, layer in enumerate(layers):
            sums = [
                n[-1] + sum(w * a for w, a in zip(n[:-1], act, strict=True))
                for n in layer
            ]
            last = depth == len(layers) - 1
            act = sums if last else [max(t, 0.0) for t in sums]
        loss += (act[0] - target) ** 2
    assert root.data == pytest.approx(loss, rel=1e-12)
