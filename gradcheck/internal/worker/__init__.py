"""The isolated worker: the only place where a user's engine runs.

It needs nothing but the standard library and the engine: it imports no
SymPy, mpmath, Hypothesis or judging code, so an engine that tampers with
modules can change nothing the verdict depends on. The parent
(`gradcheck.internal.checking.supervisor`) sends work over a private pipe and gets
plain numbers back; the worker's stdout and stderr are only captured text.

* `protocol`: length-prefixed JSON frames on file descriptors;
* `api`: how an engine spells data, gradient, backward and its constructor;
* `apply`: how each op of the table is applied to engine values;
* `loading`: import a target (file, module, notebook, source text);
* `sources`: a notebook or a .py file that will not import, as definitions-only
  source; its stages are `notebook_cells`, `definition_filter`,
  `definition_choice` and `source_notes`, sharing `source_model`;
* `contract`: what a leaf must do, and which ops exist, are missing or broken;
* `runner`: build graph programs on the engine and read values and gradients;
* `recipes`: the stateful and nn probes, run on engine objects;
* `serve`: the request loop;
* `fork_server`: one pre-loaded process that forks workers; `fork_client`
  is the checker's handle on it.
"""
