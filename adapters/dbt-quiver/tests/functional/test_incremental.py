"""dbt-tests-adapter's incremental suite (dbt.tests.adapter.incremental):
unique keys with delete+insert and merge, on_schema_change, merge with
excluded columns, and incremental predicates."""

import pytest
from dbt.tests.adapter.incremental.test_incremental_merge_exclude_columns import (
    BaseMergeExcludeColumns,
)
from dbt.tests.adapter.incremental.test_incremental_on_schema_change import (
    BaseIncrementalOnSchemaChange,
)
from dbt.tests.adapter.incremental.test_incremental_predicates import BaseIncrementalPredicates
from dbt.tests.adapter.incremental.test_incremental_unique_id import BaseIncrementalUniqueKey


class TestIncrementalUniqueKeyQuiver(BaseIncrementalUniqueKey):
    pass


class TestIncrementalUniqueKeyMergeQuiver(BaseIncrementalUniqueKey):
    @pytest.fixture(scope="class")
    def project_config_update(self):
        return {"models": {"+incremental_strategy": "merge"}}


class TestIncrementalOnSchemaChangeQuiver(BaseIncrementalOnSchemaChange):
    pass


class TestMergeExcludeColumnsQuiver(BaseMergeExcludeColumns):
    pass


class TestIncrementalPredicatesDeleteInsertQuiver(BaseIncrementalPredicates):
    pass


class TestIncrementalPredicatesMergeQuiver(BaseIncrementalPredicates):
    @pytest.fixture(scope="class")
    def project_config_update(self):
        return {
            "models": {
                "+incremental_predicates": ["dbt_internal_dest.id != 2"],
                "+incremental_strategy": "merge",
            }
        }
