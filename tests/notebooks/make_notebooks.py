"""Write the notebook fixtures of tests/test_sources.py.

The .ipynb files are checked in; this script is how they were made. Rerun it
after editing a cell: `python tests/notebooks/make_notebooks.py`. Each notebook
shows one way learners lay out an engine in Jupyter. The engine code is ours.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent

FULL_VALUE = '''\
class Value:
    """A scalar that remembers how it was made, for backprop."""

    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
'''

ADD_ONLY_VALUE = """\
class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)

    def __repr__(self):
        return f"Value({self.data})"

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out
"""

STUB_VALUE = '''\
class Value:
    """Exercise: fill in the methods below."""

    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._prev = set(_children)

    def __add__(self, other):
        # TODO: your code here
        pass

    def __mul__(self, other):
        ...

    def backward(self):
        raise NotImplementedError("write backward")
'''


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def v4(cells: list[tuple[str, str]]) -> dict[str, object]:
    out = []
    for kind, text in cells:
        cell: dict[str, object] = {"cell_type": kind, "metadata": {}}
        cell["source"] = _lines(text)
        if kind == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
        out.append(cell)
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def v3(cells: list[tuple[str, str]]) -> dict[str, object]:
    out = []
    for kind, text in cells:
        if kind == "code":
            out.append(
                {
                    "cell_type": "code",
                    "collapsed": False,
                    "input": _lines(text),
                    "language": "python",
                    "metadata": {},
                    "outputs": [],
                }
            )
        elif kind == "heading":
            out.append(
                {"cell_type": "heading", "level": 1, "metadata": {}, "source": text}
            )
        else:
            out.append({"cell_type": kind, "metadata": {}, "source": _lines(text)})
    return {
        "metadata": {"name": "syntax_v3"},
        "nbformat": 3,
        "nbformat_minor": 0,
        "worksheets": [{"cells": out, "metadata": {}}],
    }


def redefinitions() -> dict[str, object]:
    return v4(
        [
            ("markdown", "# Building Value, step by step"),
            ("code", "import math"),
            ("code", ADD_ONLY_VALUE),
            (
                "code",
                "def relu_old(self):\n    return self\n\nValue.relu_old = relu_old\n",
            ),
            ("code", "a = Value(2.0)\nb = Value(-3.0)\na + b"),
            ("markdown", "Now with multiplication and backward:"),
            ("code", FULL_VALUE),
            ("code", "x = Value(2.0) * Value(3.0)\nx.backward()\nprint(x.grad)"),
            ("markdown", "## Exercise: write Value yourself"),
            ("code", STUB_VALUE),
        ]
    )


def later_methods() -> dict[str, object]:
    return v4(
        [
            ("code", FULL_VALUE.replace("    def __mul__", "    def _unused_mul")),
            (
                "markdown",
                "Multiplication goes like this:\n\n```python\n"
                "def mul(self, other):\n    raise RuntimeError('markdown ran')\n```",
            ),
            (
                "code",
                "def mul(self, other):\n"
                "    other = other if isinstance(other, Value) else Value(other)\n"
                '    out = Value(self.data * other.data, (self, other), "*")\n\n'
                "    def _backward():\n"
                "        self.grad += other.data * out.grad\n"
                "        other.grad += self.data * out.grad\n\n"
                "    out._backward = _backward\n"
                "    return out\n\n\n"
                "def tanh(self):\n"
                "    t = math.tanh(self.data)\n"
                '    out = Value(t, (self,), "tanh")\n\n'
                "    def _backward():\n"
                "        self.grad += (1 - t * t) * out.grad\n\n"
                "    out._backward = _backward\n"
                "    return out\n",
            ),
            ("code", "import math"),
            (
                "code",
                "Value.__mul__ = mul\n"
                "Value.tanh = tanh\n"
                'setattr(Value, "__rmul__", mul)\n\n'
                "params = [Value(0.5), Value(-0.5)]\n"
                "for step in range(3):\n"
                '    raise RuntimeError("training ran")\n'
                'print("done")\n',
            ),
        ]
    )


HELPER = '''\
def topo_order(root):
    """Nodes of the graph under root, children before parents."""
    order, seen, todo = [], set(), deque([(root, False)])
    while todo:
        node, expanded = todo.pop()
        if expanded:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            todo.append((node, True))
            todo.extend((child, False) for child in node._prev)
    return order
'''


def far_cells() -> dict[str, object]:
    value = FULL_VALUE.split("    def backward(self):")[0] + (
        "    def backward(self):\n"
        "        self.grad = 1.0\n"
        "        for node in reversed(topo_order(self)):\n"
        "            node._backward()\n"
    )
    cells: list[tuple[str, str]] = [
        ("markdown", "# A long lecture notebook"),
        ("markdown", "The Value class first; its helper comes much later."),
        ("code", value),
    ]
    for i in range(4, 42):
        if i % 2:
            cells.append(("markdown", f"Step {i}: try it out."))
        else:
            cells.append(("code", f"v{i} = Value({i}.0) * Value(2.0)\nprint(v{i})"))
    cells.append(("code", HELPER))  # cell 42: 39 cells after the use in cell 3
    cells.append(("markdown", "The helper needs deque:"))
    cells.append(("code", "from collections import deque"))
    return v4(cells)


def magics() -> dict[str, object]:
    return v4(
        [
            ("code", "%matplotlib inline\n%load_ext autoreload\n%autoreload 2"),
            ("code", "!pip install definitely_not_installed_xyz\nimport math"),
            ("code", "%%time\n" + FULL_VALUE),
            ("code", "Value?"),
            (
                "code",
                "get_ipython().run_line_magic("
                "'config', \"InlineBackend.figure_format = 'svg'\")",
            ),
            ("code", "%%bash\necho hello"),
            ("code", "def double(v):\n    %time w = v + v\n    return v + v\n"),
            ("code", "files = !ls\nfiles"),
            ("code", "%%writefile helpers.py\ndef square(v):\n    return v * v\n"),
        ]
    )


def syntax_v3() -> dict[str, object]:
    return v3(
        [
            ("heading", "An old notebook (format 3)"),
            ("code", 'print "python 2 print"'),
            ("code", FULL_VALUE),
            ("code", "x = 1\ndef broken(:\n    pass\n"),
            ("code", "class Broken:\n    def f(self)\n        pass\n"),
            ("markdown", "The end."),
        ]
    )


def training() -> dict[str, object]:
    return v4(
        [
            ("code", "import math\nimport random"),
            (
                "code",
                "EPS = 1e-8\nLR = 0.05\nxs = [[2.0, 3.0], [1.0, -1.0]]\n"
                "ys = [1.0, -1.0]\nrandom.seed(0)",
            ),
            ("code", FULL_VALUE),
            (
                "code",
                "class Neuron:\n"
                "    def __init__(self, nin):\n"
                "        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]\n"
                "\n"
                "    def __call__(self, x):\n"
                "        out = Value(0.0)\n"
                "        for wi, xi in zip(self.w, x):\n"
                "            out = out + wi * xi\n"
                "        return out\n",
            ),
            ("code", "model = Neuron(2)\nlosses = []"),
            (
                "code",
                "for k in range(20):\n"
                "    loss = model(xs[0])\n"
                "    loss.backward()\n"
                '    raise RuntimeError("training ran")\n',
            ),
            ("code", "plt.plot(losses)\ndraw_dot(model(xs[0]))\nloss.backward()"),
            ("code", 'with open("log.txt", "w") as f:\n    f.write("x")'),
            ("code", 'if __name__ == "__main__":\n    raise RuntimeError("main ran")'),
            ("code", "pred = model"),
        ]
    )


def missing_import() -> dict[str, object]:
    return v4(
        [
            (
                "code",
                "import definitely_not_installed_xyz as dn\n"
                "from definitely_not_installed_xyz.plots import show_graph",
            ),
            ("code", FULL_VALUE),
            (
                "code",
                "import definitely_missing_torchlike as torchy\n\n\n"
                "def compare_with_torch(v):\n"
                "    return torchy.tensor(v.data)\n",
            ),
            ("code", "class TorchValue(torchy.Tensor):\n    pass\n"),
            ("code", "class Value(dn.Base):\n    pass\n"),
        ]
    )


NOTEBOOKS = {
    "redefinitions.ipynb": redefinitions,
    "later_methods.ipynb": later_methods,
    "far_cells.ipynb": far_cells,
    "magics.ipynb": magics,
    "syntax_v3.ipynb": syntax_v3,
    "training.ipynb": training,
    "missing_import.ipynb": missing_import,
}


def main() -> None:
    for name, build in NOTEBOOKS.items():
        text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
