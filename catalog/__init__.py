"""Shared facts read by both the components and the policy packs.

This package holds data and pure lookups only: it imports nothing from ``components``,
``policies`` or ``infra`` and no Pulumi SDK, so every layer may read it.
"""
