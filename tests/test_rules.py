"""The generated op rules (`refs/rules.py`): current, and equal to SymPy's."""

from __future__ import annotations

import subprocess
import sys

import mpmath
import pytest

from gradcheck.internal.expr.ops import CONSTANT_CHOICES, OPS
from gradcheck.internal.refs import make_rules
from gradcheck.internal.refs.declarations import declared_ops
from gradcheck.internal.refs.symbolic import _generated, _sympy_rule, local_rule

POINTS = (-2.7, -0.45, 0.07, 0.9, 3.1)


def test_regenerating_changes_nothing() -> None:
    assert make_rules.TARGET.read_text(encoding="utf-8") == make_rules.render(), (
        "refs/rules.py is stale: run python -m gradcheck.internal.refs.make_rules"
    )


def _constants(name: str) -> tuple[float | None, ...]:
    if not OPS[name].takes_constant:
        return (None,)
    return CONSTANT_CHOICES.get(name, (2.0, -0.5, 3.25, 0.1, 1e8))


def _flat(result: tuple) -> list:  # type: ignore[type-arg]
    value, firsts, seconds = result
    return [value, *firsts, *(d for row in seconds for d in row)]


@pytest.mark.parametrize("name", sorted(OPS))
def test_generated_rules_equal_sympy(name: str) -> None:
    op = OPS[name]
    for constant in _constants(name):
        fast = _generated(name, constant)
        assert fast is not None, (name, constant)
        slow = _sympy_rule(name, constant)
        for x in POINTS:
            args = [x, 1.3][: op.arity]
            if not op.in_domain(args, constant):
                continue
            with mpmath.workdps(60):
                at = [mpmath.mpf(a) for a in args]
                got, want = _flat(fast(*at)), _flat(slow(*at))
                assert len(got) == 1 + op.arity + op.arity**2
                for g, w in zip(got, want, strict=True):
                    assert isinstance(g, mpmath.mpf)
                    assert abs(g - w) <= mpmath.mpf(10) ** -50 * max(1, abs(w))


def test_pow_at_zero_has_its_derivative() -> None:
    value, (slope,), ((curvature,),) = local_rule("pow", 2.0)(mpmath.mpf(0))
    assert (value, slope, curvature) == (0, 0, 2)


def test_other_exponents_and_declared_ops_fall_back_to_sympy() -> None:
    assert _generated("pow", 2.7) is None
    _, (slope,), _ = local_rule("pow", 2.7)(mpmath.mpf(2))
    assert float(slope) == pytest.approx(2.7 * 2**1.7)
    with declared_ops({"log": "log(x + 1)"}):
        _, (slope,), _ = local_rule("log", None)(mpmath.mpf(1))
        assert float(slope) == pytest.approx(0.5)
    _, (slope,), _ = local_rule("log", None)(mpmath.mpf(1))
    assert float(slope) == 1.0


def test_a_normal_run_does_not_import_sympy() -> None:
    code = (
        "import sys\n"
        "from gradcheck.internal.expr.parser import parse\n"
        "from gradcheck.internal.refs.references import reference\n"
        "g = parse('tanh(x*y + x)**2 / (1 + exp(y)) + relu(x - 0.5*y)')\n"
        "reference(g, {'x': 0.3, 'y': -1.2})\n"
        "print('sympy' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_a_declared_op_is_screened_in_floats_with_its_definition() -> None:
    from gradcheck.internal.expr.parser import parse
    from gradcheck.internal.refs.references import domain_problem, reference

    with declared_ops({"log": "log(x + 1)"}):
        graph = parse("log(x)*2")
        assert OPS["log"].apply_float([-0.5], None) == pytest.approx(-0.693147, 1e-6)
        assert domain_problem(graph, {"x": -0.5}) is None
        assert float(reference(graph, {"x": -0.5}).gradient("x")) == 4.0
    assert domain_problem(parse("log(x)*2"), {"x": -0.5}) is not None


def test_float_forms_agree_with_mpmath() -> None:
    for op in OPS.values():
        args = [0.7, 1.3][: op.arity]
        constant = (
            (0.2 if op.name == "leaky_relu" else 2.0) if op.takes_constant else None
        )
        want = float(op.apply_mp([mpmath.mpf(a) for a in args], constant))
        assert op.apply_float(args, constant) == pytest.approx(want, rel=1e-14), op.name
