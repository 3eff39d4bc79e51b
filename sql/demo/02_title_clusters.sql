-- Step 2: cluster the title vectors (k-means, 100 clusters).
-- A title vector is the mean of its word vectors (embed).
CREATE OR REPLACE MODEL title_clusters TYPE kmeans
  OPTIONS (k = 100, distance = 'cosine', max_iter = 20, seed = 1)
  AS SELECT embed('title_vectors', title) FROM products;
