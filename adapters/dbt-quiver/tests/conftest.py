"""dbt's adapter test suite against quiver, in the local mode: the adapter
starts `quiver serve` (QUIVER_BIN, or `quiver` on PATH) on a warehouse in a
temporary folder, on a free loopback port, and stops it when pytest exits.
Each test class gets its own schema there (dbt's fixtures)."""

import pytest

pytest_plugins = ["dbt.tests.fixtures.project"]


@pytest.fixture(scope="session")
def dbt_profile_target(tmp_path_factory):
    return {
        "type": "quiver",
        "threads": 4,
        "warehouse": str(tmp_path_factory.mktemp("warehouse")),
    }


@pytest.fixture(scope="class")
def logs_dir(tmp_path_factory, prefix):
    """dbt's logs beside the test projects, not in the checkout."""
    import os

    path = str(tmp_path_factory.mktemp("logs") / prefix)
    os.environ["DBT_LOG_PATH"] = path
    yield path
    del os.environ["DBT_LOG_PATH"]
