"""Dependency trees resolved per ecosystem, approximately as its own installer does.

One module per ecosystem (`npm`, `pypi`, `cargo`, `hex`), each with an async
`resolve(...)` over a `Provider` of facts, returning a `Resolution`. The
approximations each makes are written at the top of its module.
"""
