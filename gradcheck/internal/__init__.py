"""The checker's machinery: nothing here is public API.

The public surface sits one level up (`gradcheck.check_engine`,
`gradcheck.assert_gradients`, `gradcheck.strategies`, `gradcheck.report`,
`gradcheck.errors`, the pytest plugin, the CLI and the mutant gallery). Names
under `gradcheck.internal` may change in any release; `docs/architecture.md`
gives each module's one job.
"""
