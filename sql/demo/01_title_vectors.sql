-- Step 1: train word vectors on the titles (word2vec, skip-gram).
-- Words that appear together in titles ("pepperoni", "pizza", "Euro Delight")
-- get nearby vectors; colours and sizes, which go with everything, do not
-- settle near any one product family.
CREATE OR REPLACE MODEL title_vectors TYPE word2vec
  OPTIONS (dim = 100, window = 5, min_count = 5, epochs = 5, seed = 1)
  AS SELECT title FROM products;
