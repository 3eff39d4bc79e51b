"""Relations: `"quiver"."schema"."name"`, always quoted, as DataFusion keeps
quoted identifiers as written and folds unquoted ones to lower case."""

from dataclasses import dataclass, field

from dbt.adapters.base.relation import BaseRelation, Policy


@dataclass
class QuiverQuotePolicy(Policy):
    database: bool = True
    schema: bool = True
    identifier: bool = True


@dataclass(frozen=True, eq=False, repr=False)
class QuiverRelation(BaseRelation):
    quote_policy: Policy = field(default_factory=lambda: QuiverQuotePolicy())
    require_alias: bool = False
