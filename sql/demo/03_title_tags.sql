-- Step 3: build the tagger: each cluster centre's 300 nearest words, once.
-- A title is tagged with the words of its cluster's list that it contains.
CREATE OR REPLACE MODEL title_tags TYPE tagger
  OPTIONS (embedding = 'title_vectors', clusters = 'title_clusters',
           candidates = 300, max_tags = 5);
