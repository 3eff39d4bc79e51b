-- The tagger, learned from the titles (sql/demo/03): phrases, each
-- cluster's candidates and how strongly words go together.
{{ config(
    materialized='quiver_model',
    model_type='tagger',
    options={'embedding': 'title_vectors', 'clusters': 'title_clusters', 'max_tags': 3}
) }}
-- depends_on: {{ ref('title_vectors') }}
-- depends_on: {{ ref('title_clusters') }}
select title from {{ source('catalogue', 'products') }}
