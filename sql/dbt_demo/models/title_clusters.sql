-- The title vectors in 100 clusters (k-means, cosine): sql/demo/02.
{{ config(
    materialized='quiver_model',
    model_type='kmeans',
    options={'k': 100, 'distance': 'cosine', 'max_iter': 20, 'seed': 1}
) }}
select embed({{ quiver_model_name('title_vectors') }}, title)
from {{ source('catalogue', 'products') }}
