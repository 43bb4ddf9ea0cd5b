"""Fixtures shared by the processor tests."""

from __future__ import annotations

import pytest

from processors.segment import Segmenter


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    """A segmenter that knows three brands and their keywords, as the worker builds it from the config."""
    from processors.brands import BrandRule
    from processors.enrich import brand_terms

    rules = [
        BrandRule(name="海底捞", keywords=["捞王"]),
        BrandRule(name="蒙牛", keywords=["特仑苏"]),
        BrandRule(name="喜茶", keywords=["HEYTEA"]),
    ]
    return Segmenter(t for r in rules for t in brand_terms(r))
