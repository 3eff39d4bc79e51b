from dbt.adapters.base import AdapterPlugin

from dbt.adapters.quiver.connections import QuiverConnectionManager  # noqa: F401
from dbt.adapters.quiver.connections import QuiverCredentials
from dbt.adapters.quiver.impl import QuiverAdapter
from dbt.include import quiver

Plugin = AdapterPlugin(
    adapter=QuiverAdapter,
    credentials=QuiverCredentials,
    include_path=quiver.PACKAGE_PATH,
)
