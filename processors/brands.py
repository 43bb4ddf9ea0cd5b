"""Brand rules and matching (placeholder: owned by the brand-rules engineer, to be replaced)."""
from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class BrandRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list, validation_alias=AliasChoices("keywords", "aliases"))
    exclude: list[str] = Field(default_factory=list)


class BrandMatcher:
    def __init__(self, rules: list[BrandRule]):
        self.rules = rules

    def match(self, text: str) -> list[str]:
        out = []
        for r in self.rules:
            terms = [r.name, *r.keywords]
            if any(t in text for t in terms) and not any(x in text for x in r.exclude):
                out.append(r.name)
        return out
