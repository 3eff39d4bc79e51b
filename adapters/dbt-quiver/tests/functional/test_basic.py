"""dbt-tests-adapter's basic suite (dbt.tests.adapter.basic), run as it
ships. Classes not run here are listed in docs/dbt.md with the reason."""

import pytest
from dbt.tests.adapter.basic import expected_catalog
from dbt.tests.adapter.basic.test_adapter_methods import BaseAdapterMethod
from dbt.tests.adapter.basic.test_base import BaseSimpleMaterializations
from dbt.tests.adapter.basic.test_docs_generate import BaseDocsGenerate
from dbt.tests.adapter.basic.test_empty import BaseEmpty
from dbt.tests.adapter.basic.test_ephemeral import BaseEphemeral
from dbt.tests.adapter.basic.test_generic_tests import BaseGenericTests
from dbt.tests.adapter.basic.test_incremental import (
    BaseIncremental,
    BaseIncrementalBadStrategy,
    BaseIncrementalNotSchemaChange,
)
from dbt.tests.adapter.basic.test_singular_tests import BaseSingularTests
from dbt.tests.adapter.basic.test_singular_tests_ephemeral import BaseSingularTestsEphemeral
from dbt.tests.adapter.basic.test_snapshot_check_cols import BaseSnapshotCheckCols
from dbt.tests.adapter.basic.test_snapshot_timestamp import BaseSnapshotTimestamp
from dbt.tests.adapter.basic.test_table_materialization import BaseTableMaterialization
from dbt.tests.adapter.basic.test_validate_connection import BaseValidateConnection


class TestSimpleMaterializationsQuiver(BaseSimpleMaterializations):
    pass


class TestSingularTestsQuiver(BaseSingularTests):
    pass


class TestSingularTestsEphemeralQuiver(BaseSingularTestsEphemeral):
    pass


class TestEmptyQuiver(BaseEmpty):
    pass


class TestEphemeralQuiver(BaseEphemeral):
    pass


class TestIncrementalQuiver(BaseIncremental):
    pass


class TestIncrementalNotSchemaChangeQuiver(BaseIncrementalNotSchemaChange):
    pass


class TestIncrementalBadStrategyQuiver(BaseIncrementalBadStrategy):
    pass


class TestGenericTestsQuiver(BaseGenericTests):
    pass


class TestSnapshotCheckColsQuiver(BaseSnapshotCheckCols):
    pass


class TestSnapshotTimestampQuiver(BaseSnapshotTimestamp):
    pass


class TestTableMatQuiver(BaseTableMaterialization):
    pass


class TestAdapterMethodQuiver(BaseAdapterMethod):
    pass


class TestValidateConnectionQuiver(BaseValidateConnection):
    pass


class TestDocsGenerateQuiver(BaseDocsGenerate):
    @pytest.fixture(scope="class")
    def expected_catalog(self, project):
        return expected_catalog.base_expected_catalog(
            project,
            role=None,
            id_type="BIGINT",
            text_type="VARCHAR",
            time_type="TIMESTAMP",
            view_type="VIEW",
            table_type="BASE TABLE",
            model_stats=expected_catalog.no_stats(),
        )
