"""One stop list: the reader's content words are stemmed, hipporag's fact words are not and keep three letters or more."""

from rag.words import STOP, content_words, fact_words


def test_content_words_drop_stop_words_and_stem_plurals():
    assert content_words("Who were the members of the Beatles in 1962?") == {"member", "beatle", "1962"}
    assert "the" in STOP and "called" in STOP


def test_fact_words_keep_words_as_written_of_three_letters_or_more():
    assert fact_words("Knotts build shops in the UK") == {"knotts", "build", "shops"}
    assert fact_words("Café Müller is a ballet") == {"café", "müller", "ballet"}
