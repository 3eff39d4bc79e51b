-- Every title tagged, with its cluster (sql/demo/04).
{{ config(materialized='table') }}
select
    *,
    cluster_assign(
        {{ quiver_model_name('title_clusters') }},
        embed({{ quiver_model_name('title_vectors') }}, title)
    ).cluster_id as cluster_id,
    tag({{ quiver_model_name('title_tags') }}, title) as tags
from {{ source('catalogue', 'products') }}
