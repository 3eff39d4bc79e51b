-- Word vectors of the titles (word2vec, skip-gram): sql/demo/01.
{{ config(
    materialized='quiver_model',
    model_type='word2vec',
    options={'dim': 100, 'window': 5, 'min_count': 5, 'epochs': 5, 'seed': 1}
) }}
select title from {{ source('catalogue', 'products') }}
