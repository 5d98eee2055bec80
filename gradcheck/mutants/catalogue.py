"""The gallery's mutants: one real bug each, as edits of the base engine.

A data table: each entry names the bug, the category the checker must
report, a description, and the `(old, new)` edits that plant it.
"""

from __future__ import annotations

from gradcheck.mutants.mutant import Mutant


def _m(
    name: str,
    category: str,
    description: str,
    *edits: tuple[str, str],
    also: tuple[str, ...] = (),
    min_depth: int | None = None,
) -> Mutant:
    return Mutant(name, category, description, tuple(edits), also, min_depth)


# -- text shared by several edits ----------------------------------------------

_ADD_BACKWARD = """\
            self.grad += 1.0 * out.grad
            other.grad += 1.0 * out.grad
"""
_MUL_BACKWARD = """\
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
"""
_DIV_BACKWARD = """\
            self.grad += out.grad / other.data
            other.grad -= out.grad * out.data / other.data
"""
_TOPO = """\
        topo = []
        visited = set()
        stack = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                topo.append(node)
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))
                for child in node._prev:
                    stack.append((child, False))
"""
_VISIT = """\
            elif node not in visited:
                visited.add(node)
"""
_CHAIN_RULE = """\
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()
"""
_BACKWARD_METHOD = (
    "    def backward(self):\n"
    "        # Topological order with an explicit stack: the lecture's recursive\n"
    "        # build_topo hits Python's recursion limit about 1,000 nodes deep.\n"
    + _TOPO
    + "\n"
    "        # Apply the chain rule one node at a time, from the output backwards.\n"
    + _CHAIN_RULE
)


MUTANTS: tuple[Mutant, ...] = (
    # -- value: the forward result is wrong ------------------------------------
    _m(
        "rsub-forward-reversed",
        "value",
        "__rsub__ returns self - other, so 5 - x computes x - 5.",
        ("        return other + (-self)\n", "        return self - other\n"),
    ),
    _m(
        "rtruediv-forward-reversed",
        "value",
        "__rtruediv__ returns self / other, so 1 / x computes x / 1.",
        ("        return Value(other) / self\n", "        return self / other\n"),
    ),
    _m(
        "sigmoid-negative-branch-flipped",
        "value",
        "The stable sigmoid's branch for negative x computes 1 / (1 + exp(x)),"
        " which is sigmoid(-x).",
        ("            s = z / (1 + z)\n", "            s = 1 / (1 + z)\n"),
    ),
    _m(
        "log-forward-base-10",
        "value",
        "log() uses math.log10 while its backward still uses 1/x.",
        ("Value(math.log(self.data)", "Value(math.log10(self.data)"),
    ),
    # -- local-derivative: one op's derivative formula is wrong ----------------
    _m(
        "tanh-one-minus-t",
        "local-derivative",
        "The tanh backward uses 1 - t instead of 1 - t**2.",
        ("(1 - t**2) * out.grad", "(1 - t) * out.grad"),
    ),
    _m(
        "tanh-one-plus-t-squared",
        "local-derivative",
        "The tanh backward uses 1 + t**2 instead of 1 - t**2.",
        ("(1 - t**2) * out.grad", "(1 + t**2) * out.grad"),
    ),
    _m(
        "tanh-precedence",
        "local-derivative",
        "The tanh backward lost its parentheses: 1 - t**2 * out.grad"
        " multiplies only t**2 by the upstream gradient.",
        ("(1 - t**2) * out.grad", "1 - t**2 * out.grad"),
    ),
    _m(
        "tanh-derivative-from-input",
        "local-derivative",
        "The tanh backward squares the input x instead of the output t.",
        ("(1 - t**2) * out.grad", "(1 - self.data**2) * out.grad"),
    ),
    _m(
        "tanh-finite-difference",
        "local-derivative",
        "The tanh backward is a forward difference with h = 1e-7, which is off"
        " by a relative error near 1e-7.",
        (
            "            self.grad += (1 - t**2) * out.grad\n",
            "            h = 1e-7\n"
            "            self.grad += (math.tanh(self.data + h) - t) / h * out.grad\n",
        ),
    ),
    _m(
        "exp-uses-input",
        "local-derivative",
        "The exp backward multiplies by the input x instead of exp(x).",
        ("self.grad += out.data * out.grad", "self.grad += self.data * out.grad"),
    ),
    _m(
        "exp-missing-upstream",
        "local-derivative",
        "The exp backward forgets to multiply by out.grad.",
        ("self.grad += out.data * out.grad", "self.grad += out.data"),
    ),
    _m(
        "pow-exponent-not-decremented",
        "local-derivative",
        "The power rule is written n * x**n instead of n * x**(n - 1).",
        (
            "other * self.data ** (other - 1) * out.grad",
            "other * self.data**other * out.grad",
        ),
    ),
    _m(
        "pow-uses-output",
        "local-derivative",
        "The power rule multiplies by out.data instead of by the exponent n.",
        (
            "other * self.data ** (other - 1) * out.grad",
            "out.data * self.data ** (other - 1) * out.grad",
        ),
    ),
    _m(
        "mul-both-to-self",
        "local-derivative",
        "The mul backward sends both contributions to self and none to other.",
        (
            "            other.grad += self.data * out.grad\n",
            "            self.grad += self.data * out.grad\n",
        ),
    ),
    _m(
        "mul-own-value",
        "local-derivative",
        "The mul backward multiplies each operand's gradient by its own value"
        " instead of the other operand's.",
        (
            _MUL_BACKWARD,
            "            self.grad += self.data * out.grad\n"
            "            other.grad += other.data * out.grad\n",
        ),
    ),
    _m(
        "mul-self-grad-for-out-grad",
        "local-derivative",
        "The mul backward multiplies by the operand's own grad where out.grad belongs.",
        (
            _MUL_BACKWARD,
            "            self.grad += other.data * self.grad\n"
            "            other.grad += self.data * other.grad\n",
        ),
    ),
    _m(
        "div-backward-copied-from-mul",
        "local-derivative",
        "The division backward was copied from multiplication, as if a / b were a * b.",
        (_DIV_BACKWARD, _MUL_BACKWARD),
    ),
    _m(
        "div-quotient-rule-sign",
        "local-derivative",
        "The division backward adds a / b**2 to the denominator's gradient"
        " instead of subtracting it.",
        (
            "other.grad -= out.grad * out.data / other.data",
            "other.grad += out.grad * out.data / other.data",
        ),
    ),
    _m(
        "div-denominator-not-squared",
        "local-derivative",
        "The division backward gives the denominator -a / b instead of -a / b**2.",
        (
            "other.grad -= out.grad * out.data / other.data",
            "other.grad -= out.grad * self.data / other.data",
        ),
    ),
    _m(
        "relu-mask-from-grad",
        "local-derivative",
        "The relu backward masks with self.grad > 0 instead of out.data > 0.",
        ("(out.data > 0) * out.grad", "(self.grad > 0) * out.grad"),
    ),
    _m(
        "relu-no-mask",
        "local-derivative",
        "The relu backward passes the gradient through even where x < 0.",
        ("self.grad += (out.data > 0) * out.grad", "self.grad += out.grad"),
    ),
    _m(
        "relu-no-backward",
        "local-derivative",
        "relu defines its _backward closure but never attaches it to out.",
        (
            "            self.grad += (out.data > 0) * out.grad\n"
            "\n"
            "        out._backward = _backward\n",
            "            self.grad += (out.data > 0) * out.grad\n\n",
        ),
    ),
    _m(
        "log-missing-upstream",
        "local-derivative",
        "The log backward adds 1 / x and forgets to multiply by out.grad.",
        ("self.grad += out.grad / self.data", "self.grad += 1 / self.data"),
    ),
    _m(
        "log-epsilon-guard",
        "local-derivative",
        "The log backward divides by x + 1e-7 to avoid division by zero, which"
        " is off by a relative 1e-7.",
        (
            "self.grad += out.grad / self.data",
            "self.grad += out.grad / (self.data + 1e-7)",
        ),
    ),
    _m(
        "sigmoid-plus-instead-of-times",
        "local-derivative",
        "The sigmoid backward adds out.grad to s * (1 - s) instead of multiplying.",
        ("s * (1 - s) * out.grad", "s * (1 - s) + out.grad"),
    ),
    _m(
        "sigmoid-derivative-from-input",
        "local-derivative",
        "The sigmoid backward uses x * (1 - x) with the input x instead of the"
        " output s.",
        ("s * (1 - s) * out.grad", "x * (1 - x) * out.grad"),
    ),
    # -- accumulation: a node used more than once -------------------------------
    _m(
        "add-grad-overwrites",
        "accumulation",
        "The add backward assigns with = instead of +=, so a + a gets"
        " gradient 1 instead of 2.",
        (
            _ADD_BACKWARD,
            "            self.grad = 1.0 * out.grad\n"
            "            other.grad = 1.0 * out.grad\n",
        ),
    ),
    _m(
        "mul-grad-overwrites",
        "accumulation",
        "The mul backward assigns with = instead of +=, so x * x gets"
        " gradient x instead of 2x.",
        (
            _MUL_BACKWARD,
            "            self.grad = other.data * out.grad\n"
            "            other.grad = self.data * out.grad\n",
        ),
    ),
    _m(
        "tanh-grad-overwrites",
        "accumulation",
        "The tanh backward assigns with = instead of +=, wiping out other uses"
        " of its input.",
        ("self.grad += (1 - t**2) * out.grad", "self.grad = (1 - t**2) * out.grad"),
    ),
    _m(
        "exp-grad-overwrites",
        "accumulation",
        "The exp backward assigns with = instead of +=, wiping out other uses"
        " of its input.",
        ("self.grad += out.data * out.grad", "self.grad = out.data * out.grad"),
    ),
    _m(
        "pow-grad-overwrites",
        "accumulation",
        "The pow backward assigns with = instead of +=, wiping out other uses"
        " of its base.",
        (
            "self.grad += other * self.data ** (other - 1) * out.grad",
            "self.grad = other * self.data ** (other - 1) * out.grad",
        ),
    ),
    _m(
        "topo-no-visited-set",
        "accumulation",
        "The topological sort never checks whether a node was already visited,"
        " so a shared node runs its backward twice.",
        ("            elif node not in visited:\n", "            else:\n"),
    ),
    _m(
        "visited-keyed-by-data",
        "accumulation",
        "The visited set stores node.data instead of the node, so a second node"
        " with the same value is skipped.",
        (
            _VISIT,
            "            elif node.data not in visited:\n"
            "                visited.add(node.data)\n",
        ),
        # relu(u) == u for u > 0, x * 1.0 == x, ...: equal values also occur
        # without reuse, so chains and single ops can fail too.
        also=("local-derivative", "propagation"),
    ),
    _m(
        "persistent-visited-set",
        "accumulation",
        "The visited set is a mutable default argument, so a second backward"
        " skips every node the first one saw.",
        ("    def backward(self):\n", "    def backward(self, visited=set()):\n"),
        ("        visited = set()\n        stack", "        stack"),
    ),
    _m(
        "visited-flag-on-nodes",
        "accumulation",
        "The sort marks nodes with a _visited flag that is never cleared, so a"
        " second backward skips every node the first one saw.",
        (
            _VISIT,
            '            elif not getattr(node, "_visited", False):\n'
            "                node._visited = True\n",
        ),
    ),
    _m(
        "preorder-stack-walk",
        "accumulation",
        "The iterative sort appends each node when it is first popped and walks"
        " that pre-order forwards, so a shared node can run before all its"
        " users.",
        (
            _BACKWARD_METHOD,
            "    def backward(self):\n"
            "        # Pop a node, record it, push its children: the output comes\n"
            "        # first, so walk the list forwards.\n"
            "        topo = []\n"
            "        visited = set()\n"
            "        stack = [self]\n"
            "        while stack:\n"
            "            node = stack.pop()\n"
            "            if node not in visited:\n"
            "                visited.add(node)\n"
            "                topo.append(node)\n"
            "                stack.extend(node._prev)\n"
            "\n"
            "        self.grad = 1.0\n"
            "        for node in topo:\n"
            "            node._backward()\n",
        ),
    ),
    _m(
        "push-to-children-no-topo",
        "accumulation",
        "backward runs each node's _backward and then its children's with no"
        " topological order, double counting through diamonds.",
        (
            _BACKWARD_METHOD,
            "    def backward(self):\n"
            "        # Each node passes its gradient on, then its children do.\n"
            "        self.grad = 1.0\n"
            "        stack = [self]\n"
            "        while stack:\n"
            "            node = stack.pop()\n"
            "            node._backward()\n"
            "            stack.extend(node._prev)\n",
        ),
    ),
    # -- propagation: the walk over the graph is wrong -------------------------
    _m(
        "root-not-seeded",
        "propagation",
        "backward never sets the output's grad to 1, so every gradient stays 0.",
        (
            _CHAIN_RULE,
            "        for node in reversed(topo):\n            node._backward()\n",
        ),
    ),
    _m(
        "root-seeded-after-loop",
        "propagation",
        "backward sets the output's grad to 1 only after the loop has run.",
        (
            _CHAIN_RULE,
            "        for node in reversed(topo):\n"
            "            node._backward()\n"
            "        self.grad = 1.0\n",
        ),
        # One backward() cannot tell this from "no op has a backward": the
        # output's grad is 1 and every other grad is 0.
        also=("local-derivative",),
    ),
    _m(
        "topo-walked-forwards",
        "propagation",
        "backward walks the topological order from the inputs to the output.",
        ("        for node in reversed(topo):\n", "        for node in topo:\n"),
        # x - y is y * -1 then an add in this engine, a chain of two nodes:
        # the lone sub, neg or rsub already gets wrong gradients.
        also=("local-derivative",),
    ),
    _m(
        "recursive-topo",
        "propagation",
        "The topological sort is the lecture's recursive build_topo, which"
        " raises RecursionError on a graph a few thousand nodes deep: a limit,"
        " an error for a user who asks for graphs 2,500 deep (--min-depth).",
        (
            _BACKWARD_METHOD,
            "    def backward(self):\n"
            "        topo = []\n"
            "        visited = set()\n"
            "\n"
            "        def build_topo(v):\n"
            "            if v not in visited:\n"
            "                visited.add(v)\n"
            "                for child in v._prev:\n"
            "                    build_topo(child)\n"
            "                topo.append(v)\n"
            "\n"
            "        build_topo(self)\n"
            "\n"
            "        # go one variable at a time and apply the chain rule\n"
            + _CHAIN_RULE,
        ),
        min_depth=2500,
    ),
    # -- zero-grad: the nn helpers leave stale gradients ------------------------
    _m(
        "zero-grad-noop",
        "zero-grad",
        "zero_grad writes p.grad == 0.0, a comparison that does nothing.",
        ("            p.grad = 0.0\n", "            p.grad == 0.0\n"),
    ),
    _m(
        "zero-grad-resets-data",
        "zero-grad",
        "zero_grad resets p.data instead of p.grad.",
        ("            p.grad = 0.0\n", "            p.data = 0.0\n"),
    ),
    _m(
        "parameters-omit-bias",
        "zero-grad",
        "Neuron.parameters returns only the weights, so biases are never"
        " zeroed or trained.",
        ("        return self.w + [self.b]\n", "        return self.w\n"),
    ),
    _m(
        "layer-parameters-return-in-loop",
        "zero-grad",
        "Layer.parameters has its return indented inside the loop, so only the"
        " first neuron's parameters are returned.",
        (
            "            params.extend(ps)\n        return params\n",
            "            params.extend(ps)\n            return params\n",
        ),
    ),
    # -- crash: the engine raises where it should not ---------------------------
    _m(
        "exp-backward-nameerror",
        "crash",
        "The exp backward refers to a variable called output that does not"
        " exist, so it raises NameError.",
        ("self.grad += out.data * out.grad", "self.grad += output.data * out.grad"),
    ),
    _m(
        "relu-backward-compares-value",
        "crash",
        "The relu backward compares the Value out > 0 instead of out.data > 0,"
        " which raises TypeError.",
        ("(out.data > 0) * out.grad", "(out > 0) * out.grad"),
    ),
    _m(
        "sigmoid-backward-math-on-value",
        "crash",
        "The sigmoid backward calls math.exp(-self) on a Value instead of a"
        " float, which raises TypeError.",
        (
            "self.grad += s * (1 - s) * out.grad",
            "self.grad += math.exp(-self) / (1 + math.exp(-self)) ** 2 * out.grad",
        ),
    ),
    _m(
        "pow-exponent-dot-data",
        "crash",
        "The pow backward reads other.data as mul does, but the exponent is a"
        " plain number, so it raises AttributeError.",
        (
            "other * self.data ** (other - 1) * out.grad",
            "other.data * self.data ** (other.data - 1) * out.grad",
        ),
    ),
    # -- defined but broken, found in published engines (2026-12) ---------------
    _m(
        "rtruediv-misspelt",
        "crash",
        "The reflected division is spelt _rtruediv__, so Python never calls it"
        " and 1 / x raises TypeError: defined, but broken, not unsupported.",
        ("    def __rtruediv__(self, other):", "    def _rtruediv__(self, other):"),
    ),
    _m(
        "sub-needs-missing-neg",
        "crash",
        "__neg__ is spelt _neg__, so __sub__, written as self + (-other),"
        " raises TypeError on every subtraction.",
        ("    def __neg__(self):", "    def _neg__(self):"),
    ),
)
"""Every buggy engine, grouped by category; names are unique."""


def mutant_named(name: str) -> Mutant:
    """The mutant called `name`; raises `KeyError` listing the names if none."""
    for mutant in MUTANTS:
        if mutant.name == name:
            return mutant
    known = ", ".join(m.name for m in MUTANTS)
    raise KeyError(f"no mutant named {name!r}; known mutants: {known}")
