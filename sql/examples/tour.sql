-- A short tour of quiver: run it with
--   cargo run -- -f sql/examples/tour.sql
-- Tables are Parquet under the warehouse (./warehouse by default) and are
-- still there the next time quiver starts.

CREATE OR REPLACE TABLE products AS
SELECT * FROM (VALUES
  (1, 'Euro Delight Pizza',                  [0.9, 0.1, 0.0]),
  (2, 'stripe crewneck t-shirt',             [0.1, 0.9, 0.1]),
  (3, 'Otterbox case for Apple iPhone pink', [0.0, 0.2, 0.9]),
  (4, 'frozen pepperoni pizza family size',  [0.8, 0.2, 0.1])
) AS t(id, title, features);

-- Products most like the first one, by cosine similarity of their vectors.
SELECT p.title,
       round(cosine_similarity(p.features, q.features), 3) AS similarity
FROM products p, products q
WHERE q.id = 1 AND p.id <> 1
ORDER BY similarity DESC;

CREATE OR REPLACE VIEW pizzas AS
SELECT id, title FROM products WHERE lower(title) LIKE '%pizza%';

SELECT * FROM pizzas ORDER BY id;

SHOW MODELS;
