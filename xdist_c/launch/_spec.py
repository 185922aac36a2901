"""Expansion of ``--tx`` values into one execnet spec string per worker."""

from __future__ import annotations

import pytest


def expand_tx_specs(tx: list[str]) -> list[str]:
    """``["2*popen", "ssh=h"]`` -> ``["popen", "popen", "ssh=h"]``."""
    specs: list[str] = []
    for value in tx:
        count, star, rest = value.partition("*")
        if star and count.strip().isdigit():
            specs.extend([rest] * int(count))
        else:
            specs.append(value)
    return specs


def parse_tx_spec_config(config: pytest.Config) -> list[str]:
    """The worker specs of this run; UsageError when there are none."""
    specs = expand_tx_specs(list(config.getvalue("tx") or ()))
    if not specs:
        raise pytest.UsageError("MISSING test execution (tx) nodes: please specify --tx")
    return specs
