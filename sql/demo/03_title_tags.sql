-- Step 3: build the tagger from the titles themselves. It learns which
-- adjacent words are one phrase ("t-shirt", "screen protector"), which
-- words and phrases each cluster's titles hold (its candidates), and how
-- strongly they go together. A title's tags are its candidates, the one
-- that goes best with the title's other words first: the product type
-- goes with its brand, flavour and size, which do not go with each other.
CREATE OR REPLACE MODEL title_tags TYPE tagger
  OPTIONS (embedding = 'title_vectors', clusters = 'title_clusters', max_tags = 3)
  AS SELECT title FROM products;
