"""Each sentence read with the sentences around it in its document: every word once as a sentence's own, context
from its own document only, within the sub-words asked and the model's length; documents kept from every input."""

import json

import pytest

from conftest import conll_sentences
from tasks.config.sections import ColumnsConfig, DataConfig, TokenizationConfig
from tasks.data.assets import embedded_conll2003_files
from tasks.data.context import DOCUMENT, context_sizes, readings, sentence_ranges
from tasks.pretrained import load_tokenizer
from tasks.scores.metrics import IGNORED


def conll_documents(count: int) -> list[list[list[str]]]:
    """The first documents of CoNLL-2003's test file, each a list of sentences' words."""
    from tasks.data.derived import conll_documents as documents_of
    from tasks.data.local_files import text_lines

    found = documents_of(text_lines(embedded_conll2003_files()["test"], None))[:count]
    return [[sentence.split(" ") for sentence in document] for document in found]


def test_a_row_that_fits_is_one_sentence_and_a_longer_one_splits_after_sentence_ends():
    words = ["He", "won", ".", '"', "No", "!", '"', "(", "Fine", ".", ")", "Yes", "?"]
    assert sentence_ranges(words, [1] * len(words), 13) == [(0, len(words))]
    # An opening quote starts a sentence; a closing quote or bracket ends the one it closes.
    assert sentence_ranges(words, [1] * len(words), 12) == [(0, 3), (3, 7), (7, 11), (11, 13)]
    assert sentence_ranges(["a", "b"], [8, 8], 10) == [(0, 2)]  # no sentence end: one sentence, read in windows


def test_context_takes_whole_words_nearest_first_up_to_the_asked_sub_words_and_the_room():
    assert context_sizes([1, 1, 1, 1], [2, 2, 2], context=6, room=100) == (4, 1)
    assert context_sizes([1] * 10, [1] * 10, context=64, room=6) == (3, 3)
    assert context_sizes([1] * 10, [], context=64, room=6) == (6, 0)  # no words after: the side before takes the room
    assert context_sizes([5], [1, 1], context=4, room=100) == (0, 2)  # a word is never cut


@pytest.mark.parametrize("context", [0, 4, 32])
def test_every_word_is_some_reading_own_once_and_context_comes_from_its_document(context):
    documents = conll_documents(4)
    sentences = [words for document in documents for words in document]
    ids = [number for number, document in enumerate(documents) for _ in document]
    lengths = [[1 + len(word) // 6 for word in words] for words in sentences]  # a stand-in for sub-words
    found = readings(sentences, lengths, ids, budget=40, context=context)
    assert [(reading.row, reading.start) for reading in found] == sorted(
        (reading.row, reading.start) for reading in found
    )
    for row, words in enumerate(sentences):
        own = [reading for reading in found if reading.row == row]
        assert [
            word
            for reading in own
            for word in reading.words[reading.first : reading.first + reading.end - reading.start]
        ] == words
    stream = {number: [word for words in document for word in words] for number, document in enumerate(documents)}
    for reading in found:
        document = stream[ids[reading.row]]
        assert any(document[start : start + len(reading.words)] == reading.words for start in range(len(document)))
        before = reading.first
        after = len(reading.words) - reading.first - (reading.end - reading.start)
        assert before + after <= context  # words, each a sub-word at least
    assert all(
        sum(1 + len(word) // 6 for word in reading.words) <= 40
        for reading in found
        if reading.first or len(reading.words) > reading.end - reading.start
    )


def test_without_documents_each_row_is_read_alone():
    sentences = [words for document in conll_documents(2) for words in document]
    found = readings(sentences, [[1] * len(words) for words in sentences], None, budget=120, context=64)
    assert [reading.words for reading in found] == sentences


def test_training_learns_and_evaluation_scores_only_a_sentence_own_words(tiny_model):
    import datasets

    from tasks.profiles.ner.tokenization import tokenize

    tokenizer = load_tokenizer(str(tiny_model))
    sentences = conll_documents(1)[0][:12]
    tags = [[index % 9 for index, _ in enumerate(words)] for words in sentences]
    rows = datasets.Dataset.from_dict({"tokens": sentences, "ner_tags": tags, DOCUMENT: [0] * len(sentences)})
    labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    alone = tokenize(rows, tokenizer, labels, TokenizationConfig(), "test").rows
    with_context = tokenize(rows, tokenizer, labels, TokenizationConfig(context=16), "test").rows
    training = tokenize(
        rows, tokenizer, labels, TokenizationConfig(context=16, label_alignment="first-subword"), "train"
    ).rows
    scored = [
        [[label for label in row if label != IGNORED] for row in split["labels"]]
        for split in (alone, with_context, training)
    ]
    assert scored[0] == scored[1] == scored[2] == tags  # the same words labelled, once each
    assert sum(map(len, with_context["input_ids"])) > sum(map(len, alone["input_ids"])) + 16 * (len(sentences) - 2)
    assert all(len(ids) <= 128 for ids in with_context["input_ids"])


def test_conll_documents_are_kept_and_the_training_slice_takes_whole_documents():
    from tasks.data.sources import read_source, resolve_dataset
    from tasks.steps.load import normalize, select_samples

    data = DataConfig(dataset="embedded:conll2003", max_train_samples=1000, seed=3)
    source = resolve_dataset(data)
    loaded = normalize(read_source(source, data).splits, source, data, "ner")[0]
    assert [len(set(loaded[split][DOCUMENT])) for split in ("train", "validation", "test")] == [946, 216, 231]
    train = select_samples(loaded, data)["train"]
    drawn, every = list(train[DOCUMENT]), list(loaded["train"][DOCUMENT])
    sizes = {document: every.count(document) for document in set(drawn)}
    assert 1000 <= len(train) < 1000 + max(sizes.values())
    assert len(train) == sum(sizes.values())  # whole documents
    assert drawn == sorted(drawn)  # in their order


def test_a_document_column_is_read_from_json_lines_and_must_name_a_column(tmp_path):
    from tasks.data.sources import read_source, resolve_dataset
    from tasks.errors import PipelineError
    from tasks.steps.load import normalize

    found = conll_documents(3)
    repeated = [words for document in found for words in document]
    documents = [
        [words for words in document if repeated.count(words) == 1] for document in found
    ]  # tell stories apart
    lines = [
        json.dumps({"tokens": words, "ner_tags": ["O"] * len(words), "story": f"story-{number}"})
        for number, document in enumerate(documents)
        for words in document
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    data = DataConfig(dataset=str(tmp_path / "train.jsonl"), document_column="story", max_train_samples=None)
    source = resolve_dataset(data)
    loaded = normalize(read_source(source, data).splits, source, data, "ner")[0]
    story = {tuple(words): number for number, document in enumerate(documents) for words in document}
    for rows in loaded.values():  # validation is carved out of train, each numbered on its own
        stories = {(document, story[tuple(words)]) for document, words in zip(rows[DOCUMENT], rows["tokens"])}
        assert len(stories) == len({document for document, _ in stories}) == len({number for _, number in stories})
    assert len(set(loaded["train"][DOCUMENT])) == 3
    wrong = data.model_copy(update={"document_column": "chapter"})
    with pytest.raises(PipelineError, match="column 'chapter' not found"):
        normalize(read_source(source, wrong).splits, source, wrong, "ner")


def test_prediction_input_keeps_documents_of_conll_plain_text_and_json_lines(tmp_path):
    from tasks.steps.read import read_rows, resolve_input

    blocks = conll_sentences(embedded_conll2003_files()["test"], 5)
    marked = tmp_path / "marked.txt"
    marked.write_text(
        "-DOCSTART- -X- -X- O\n\n"
        + "\n\n".join(blocks[:2])
        + "\n\n-DOCSTART- -X- -X- O\n\n"
        + "\n\n".join(blocks[2:])
        + "\n"
    )
    rows = read_rows(resolve_input(str(marked), "test", "auto"), ColumnsConfig(), "ner")
    assert rows.columns[DOCUMENT] == [1, 1, 2, 2, 2]
    texts = [" ".join(line.split()[0] for line in block.splitlines()) for block in blocks]
    plain = tmp_path / "plain.txt"
    plain.write_text(f"{texts[0]}\n{texts[1]}\n\n\n{texts[2]}\n")
    rows = read_rows(resolve_input(str(plain), "test", "auto"), ColumnsConfig(), "ner")
    assert rows.columns[DOCUMENT] == [0, 0, 2] and rows.problems == []
    lines = tmp_path / "rows.jsonl"
    lines.write_text(
        "".join(
            json.dumps({"text": text, **({"doc": number // 2} if number != 3 else {})}) + "\n"
            for number, text in enumerate(texts)
        )
    )
    rows = read_rows(resolve_input(str(lines), "test", "auto"), ColumnsConfig(document_column="doc"), "ner")
    assert rows.columns[DOCUMENT] == ["0", "0", "1", "2"] and rows.problems == ["line 4: no document in column 'doc'"]
