"""Writes tests/data/gensim_small.{txt,bin}: a tiny word2vec model trained
and saved by gensim, which quiver's tests load to prove it reads what gensim
writes. Run once with gensim installed; the files are committed.

    python benches/make_gensim_fixture.py
"""
import pathlib

from gensim.models import Word2Vec

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
sentences = [
    ["pizza", "pepperoni", "cheese", "oven"],
    ["pizza", "margherita", "cheese", "basil"],
    ["iphone", "case", "apple", "pink"],
    ["iphone", "charger", "apple", "cable"],
    ["Café", "東京", "naïve"],
] * 20
model = Word2Vec(sentences, vector_size=8, window=2, min_count=1, seed=1, workers=1, epochs=5)
model.wv.save_word2vec_format(str(out / "gensim_small.txt"), binary=False)
model.wv.save_word2vec_format(str(out / "gensim_small.bin"), binary=True)
print("wrote", out / "gensim_small.txt", "and .bin;", len(model.wv), "words")
