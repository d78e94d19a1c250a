"""textstats on plain CPython with the SDK's in-memory host (`bash sdk/python/test.sh` runs it).
Files named test_*.py stay out of the component."""

import unittest

from harmonia import TaskError
from harmonia.testing import FakeHost

from plugin import TextStats

TEXT = "The cat sat on the mat. The cat is happy! Dogs, however, don't bark at cats?"


class AnalyzeTest(unittest.TestCase):
    def test_counts(self):
        host = FakeHost()
        out = host.call(TextStats, "analyze", {"text": TEXT, "top": 3})
        self.assertEqual(out["words"], 16)
        self.assertEqual(out["sentences"], 3)
        self.assertEqual(out["characters"], len(TEXT))
        self.assertEqual(out["avg_word_length"], round(sum(map(len, "The cat sat on the mat The cat is happy Dogs however don't bark at cats".split())) / 16, 2))
        self.assertEqual(out["lexical_diversity"], round(13 / 16, 3))
        self.assertEqual(out["reading_minutes"], 0.08)
        # Stop words left out, lowercased, ties by word.
        self.assertEqual(out["top_words"], [{"word": "cat", "count": 2}, {"word": "bark", "count": 1},
                                            {"word": "cats", "count": 1}])
        self.assertEqual(host.logs, [("info", f"analyze: 16 words, 3 sentences, {len(TEXT)} characters")])

    def test_defaults_and_edges(self):
        host = FakeHost()
        self.assertEqual(len(host.call(TextStats, "analyze", {"text": TEXT})["top_words"]), 5)
        empty = host.call(TextStats, "analyze", {"text": ""})
        self.assertEqual(empty, {"words": 0, "sentences": 0, "characters": 0, "avg_word_length": 0.0,
                                 "lexical_diversity": 0.0, "reading_minutes": 0.0, "top_words": []})
        self.assertEqual(host.call(TextStats, "analyze", {"text": "no full stop"})["sentences"], 1)
        self.assertEqual(host.call(TextStats, "analyze", {"text": "Été à Paris. Ça va?"})["words"], 5)

    def test_bad_input_names_the_field(self):
        for input, code in [({}, "missing-field"), ({"text": 3}, "wrong-type"), ({"text": "x", "top": -1}, "out-of-range")]:
            with self.assertRaises(TaskError) as cm:
                FakeHost().call(TextStats, "analyze", input)
            self.assertEqual((cm.exception.kind, cm.exception.code), ("invalid-input", code))
            self.assertRegex(cm.exception.message, "`(text|top)`")


class KeywordsTest(unittest.TestCase):
    def test_keywords(self):
        out = FakeHost().call(TextStats, "keywords", {"text": TEXT + " Cats purr. A cat naps.", "n": 2})
        self.assertEqual(out, {"keywords": ["cat", "cats"]})


class CorpusTest(unittest.TestCase):
    def test_counts_across_calls_in_the_kv_store(self):
        host = FakeHost()
        self.assertEqual(host.call(TextStats, "corpus_add", {"text": "red fish, blue fish"}),
                         {"corpus": "default", "documents": 1, "words": 4})
        host.call(TextStats, "corpus_add", {"text": "one fish"})
        stats = host.call(TextStats, "corpus_stats", {"top": 2})
        self.assertEqual(stats, {"corpus": "default", "documents": 2, "words": 6,
                                 "top_words": [{"word": "fish", "count": 3}, {"word": "blue", "count": 1}]})
        self.assertEqual([e[0] for e in host.events], ["textstats.corpus_updated"] * 2)
        host.call(TextStats, "corpus_reset", {})
        with self.assertRaises(TaskError) as cm:
            host.call(TextStats, "corpus_stats", {})
        self.assertEqual((cm.exception.code, cm.exception.details), ("unknown-corpus", {"corpus": "default"}))

    def test_a_corpus_name_over_the_kv_key_limit_is_a_fatal_error(self):
        # The key is "corpus/<name>": the SDK refuses keys over 1024 bytes before the host does.
        for action in ("corpus_add", "corpus_stats", "corpus_reset"):
            with self.assertRaises(TaskError) as cm:
                FakeHost().call(TextStats, action, {"text": "a b", "corpus": "x" * 1100})
            self.assertEqual((cm.exception.kind, cm.exception.code), ("fatal", "kv-key-too-long"), action)
            self.assertIn("is 1107 bytes, over the host's limit of 1024 bytes", cm.exception.message)


if __name__ == "__main__":
    unittest.main()
