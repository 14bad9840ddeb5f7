"""Answers built on the facts: recommended versions and resolved dependency trees.

The modules here are pure (or take an async provider of facts), so the store and
the NATS edge can feed them whatever they hold without the answers knowing where
facts come from.
"""
