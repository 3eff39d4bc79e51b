-- The tagger: each cluster centre's 300 nearest words (sql/demo/03). It
-- reads no rows, so its SQL only names the models it is built from.
{{ config(
    materialized='quiver_model',
    model_type='tagger',
    options={'embedding': 'title_vectors', 'clusters': 'title_clusters',
             'candidates': 300, 'max_tags': 5}
) }}
-- depends_on: {{ ref('title_vectors') }}
-- depends_on: {{ ref('title_clusters') }}
