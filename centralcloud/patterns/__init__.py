"""Pattern knowledge: what the team's instances report they use, and what goes together.

`report` holds the normalized report and its rules (names, merging, digest, rejects),
`formats` reads the four report formats into it, `native` is the native wire format,
`metrics` is the co-usage arithmetic and the privacy threshold. All of it is pure: no
database, no NATS.
"""
