"""The references: SymPy derivatives, mpmath finite differences, tolerances.

Nothing here imports an engine: the references share no code with what they
check. `gradcheck.internal.refs.references` is the facade the checking layer uses.
"""
