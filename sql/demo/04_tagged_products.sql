-- Step 4: tag every title into a table, keeping its cluster.
CREATE OR REPLACE TABLE tagged_products AS
SELECT *,
       cluster_assign('title_clusters', embed('title_vectors', title)).cluster_id AS cluster_id,
       tag('title_tags', title) AS tags
FROM products;
