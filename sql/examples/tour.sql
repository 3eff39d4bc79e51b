-- A short tour of quiver, the tagging job in miniature: run it with
--   cargo run -- -f sql/examples/tour.sql
-- Tables and models persist under the warehouse (./warehouse by default).

-- A small generated catalogue of product titles.
CREATE OR REPLACE TABLE products AS
SELECT value AS id,
       CASE value % 4
         WHEN 0 THEN ['Euro Delight', 'Family', 'Stone Baked', 'Classic'][value % 7 % 4 + 1] || ' '
                     || ['Pepperoni', 'Margherita', 'Four Cheese', 'Veggie'][value % 5 % 4 + 1] || ' Pizza'
         WHEN 1 THEN ['stripe', 'plain', 'vintage', 'graphic'][value % 7 % 4 + 1] || ' '
                     || ['crewneck', 'v-neck', 'oversized', 'slim'][value % 5 % 4 + 1] || ' t-shirt '
                     || ['red', 'navy', 'white', 'black'][value % 3 + 1]
         WHEN 2 THEN ['Otterbox', 'Spigen', 'Casetify', 'Generic'][value % 7 % 4 + 1] || ' case for Apple iPhone '
                     || ['13', '14', '15', 'SE'][value % 5 % 4 + 1] || ' ' || ['pink', 'clear', 'black', 'blue'][value % 3 + 1]
         ELSE ['Nike', 'Adidas', 'Asics', 'Brooks'][value % 7 % 4 + 1] || ' '
              || ['trail', 'road', 'racing', 'everyday'][value % 5 % 4 + 1] || ' running shoes size ' || (38 + value % 8)
       END AS title
FROM generate_series(1, 20000);

-- Word vectors, title vectors clustered, and a tagger over both.
CREATE OR REPLACE MODEL title_vectors TYPE word2vec
  OPTIONS (dim = 32, min_count = 2, epochs = 3, seed = 1)
  AS SELECT title FROM products;

CREATE OR REPLACE MODEL title_clusters TYPE kmeans OPTIONS (k = 4, seed = 1)
  AS SELECT embed('title_vectors', title) FROM products;

CREATE OR REPLACE MODEL title_tags TYPE tagger
  OPTIONS (embedding = 'title_vectors', clusters = 'title_clusters')
  AS SELECT title FROM products;

SHOW MODELS;

SELECT * FROM nearest_words('title_vectors', 'pizza', 3);

SELECT cluster_id, size FROM model_centroids('title_clusters') ORDER BY cluster_id;

SELECT title, tag('title_tags', title) AS tags
FROM products WHERE id IN (4, 5, 6, 7, 1000, 1001);

-- Rank by similarity to a phrase, in SQL.
SELECT title, round(cosine_similarity(embed('title_vectors', title), embed('title_vectors', 'trail running shoes')), 3) AS s
FROM products ORDER BY s DESC LIMIT 3;
