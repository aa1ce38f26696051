"""Text sources (csv:, folder:, tfds: through mock data, synthetic:) and the one-line errors for bad
input, down to the CLI's exit code 2."""

import os

import numpy as np
import pytest
from helpers import REPO, assert_one_line_error, run_main

from kerasuite import config as cfg
from kerasuite.data import text as text_data
from kerasuite.errors import UserError


def _config(**data) -> cfg.RunConfig:
    config = cfg.defaults("text_classification")
    for key, value in data.items():
        setattr(config.data, key, value)
    return config


def _write_csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


def test_csv_file_is_split_deterministically_and_stratified(tmp_path):
    rows = [f'"good movie number {i}, truly",pos' for i in range(20)] + [f"bad film {i},neg" for i in range(20)]
    path = _write_csv(tmp_path / "reviews.csv", rows)
    config = _config(source=f"csv:{path}", test_fraction=0.25, validation_fraction=0.2)
    first = text_data.load(config.data.source, config)
    assert first.class_names == ["neg", "pos"]
    assert (len(first.train), len(first.validation), len(first.test)) == (24, 6, 10)
    assert sorted(np.bincount(first.test.labels)) == [5, 5]
    assert "good movie number 0, truly" in first.train.texts + first.validation.texts + first.test.texts
    again = text_data.load(config.data.source, config)
    assert again.test.texts == first.test.texts


def test_csv_folder_uses_its_train_and_test_files(tmp_path):
    _write_csv(tmp_path / "train.csv", ["one,1", "two,2", "ten,10", "uno,1", "dos,2", "diez,10"])
    # columns are found by name (here swapped, with stray spaces and capitals); quoted newlines stay
    (tmp_path / "test.csv").write_text(' Label ,TEXT\n10,"multi\nline text"\n2,dos\n', encoding="utf-8")
    config = _config(source=f"csv:{tmp_path}", validation_fraction=0.0)
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["1", "2", "10"]  # numeric order, not "1", "10", "2"
    assert raw.test.texts == ["multi\nline text", "dos"]
    assert raw.test.labels.tolist() == [2, 1]
    assert raw.validation is None and len(raw.train) == 6


def test_named_columns_read_a_file_in_its_own_shape(tmp_path):
    # Kaggle's IMDB file: review,sentiment; the settings name the columns, any case
    rows = [f'"A fine film, number {i}",positive' for i in range(10)] + [f"dull {i},negative" for i in range(10)]
    path = _write_csv(tmp_path / "IMDB Dataset.csv", rows, header="Review,Sentiment")
    config = _config(source=f"csv:{path}", validation_fraction=0.0)
    config.data.text.text_column, config.data.text.label_column = "review", "sentiment"
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["negative", "positive"]
    assert "A fine film, number 0" in raw.train.texts + raw.test.texts and len(raw.train) + len(raw.test) == 20


def test_a_tsv_file_is_tab_separated_and_its_quotes_are_text(tmp_path):
    # GLUE SST-2's train.tsv: sentence<TAB>label, quotes never quoting (one opens and never closes)
    path = tmp_path / "train.tsv"
    path.write_text('sentence\tlabel\nit \'s a "charming, often affecting journey \t1\n\nunflinchingly bleak\t0\n'
                    + "".join(f"good {i}\t1\nbad {i}\t0\n" for i in range(8)), encoding="utf-8")
    texts, labels, lines = text_data.read_csv(path, "sentence")
    assert texts[:2] == ['it \'s a "charming, often affecting journey ', "unflinchingly bleak"]
    assert labels[:2] == ["1", "0"] and lines[:3] == [2, 4, 5]  # physical lines: the blank line 3 counts
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\nfine\tpos\ntwo\tparts\tneg\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad\.tsv:3: expected 2 columns, got 3; a value holds a tab"):
        text_data.read_csv(bad)


def test_a_csv_folder_takes_train_and_test_tsv_files(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"w{i}\t{i % 2}\n" for i in range(6)))
    (tmp_path / "test.tsv").write_text('sentence\tlabel\n"odd quote\t1\n')
    config = _config(source=f"csv:{tmp_path}", validation_fraction=0.0)
    config.data.text.text_column = "sentence"
    raw = text_data.load(config.data.source, config)
    assert raw.test.texts == ['"odd quote'] and len(raw.train) == 6


@pytest.mark.parametrize("delimiter, name", [(";", "semicolon"), ("|", "pipe")])
def test_a_semicolon_or_pipe_separated_file_is_read_by_the_delimiter_its_header_shows(tmp_path, delimiter, name):
    # Excel in a German or French locale writes ';' ("CSV UTF-8": with a byte order mark) and
    # quotes only a value holding one; a comma is text there. Database exports write '|'.
    rows = ([f'"Sch\u00f6n{delimiter} wirklich"{delimiter}gut'] + [f"gut, aber teuer {i}{delimiter}gut" for i in range(7)]
            + [f"schlecht {i}{delimiter}schlecht" for i in range(8)])
    path = tmp_path / "bewertungen.csv"
    path.write_text(f"Text{delimiter}Label\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8-sig")
    config = _config(source=f"csv:{path}", validation_fraction=0.0, test_fraction=0.25)
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["gut", "schlecht"] and len(raw.train) + len(raw.test) == 16
    every = raw.train.texts + raw.test.texts
    assert f"Sch\u00f6n{delimiter} wirklich" in every and "gut, aber teuer 0" in every
    assert raw.notes == [f"{path} is {name}-separated (seen in its header row)"]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"text{delimiter}label\nfine{delimiter}gut\nok{delimiter} really{delimiter}gut\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"bad\.csv:3: expected 2 columns, got 3; put a value that holds {name}s in double quotes"):
        text_data.read_csv(bad)


def test_a_tab_separated_file_not_named_tsv_is_read_as_a_tsv_is(tmp_path):
    # a .tsv's reasons hold for tabs under any name: quotes are text (one opens and never closes)
    path = tmp_path / "sentences.txt"
    path.write_text('sentence\tlabel\nit \'s a "charming, often affecting journey \t1\nunflinchingly bleak\t0\n', encoding="utf-8")
    texts, labels, _ = text_data.read_csv(path, "sentence")
    assert texts == ['it \'s a "charming, often affecting journey ', "unflinchingly bleak"] and labels == ["1", "0"]


def test_a_first_row_with_no_comma_and_two_other_delimiters_is_refused(tmp_path, capsys):
    path = tmp_path / "mixed.csv"
    path.write_text("text;label|source\nfine;pos|web\nbad;neg|web\n", encoding="utf-8")
    done = run_main(capsys, "--task", "text_classification", "--data", f"csv:{path}", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, f"{path}: line 1 holds no comma but a semicolon and a pipe outside double quotes",
                          "double-quote the values that hold the other")


def test_an_unlabelled_test_file_is_named_as_such_not_blamed_on_the_label_setting(tmp_path):
    """GLUE's SST-2 folder: train.tsv and dev.tsv have labels, test.tsv (index, sentence) has none.
    The error said to choose another data.text.label_column, which train.tsv's label then lacks."""
    for name in ("train.tsv", "dev.tsv"):
        (tmp_path / name).write_text("sentence\tlabel\n" + "".join(f"w{i}\t{i % 2}\n" for i in range(6)))
    (tmp_path / "test.tsv").write_text("index\tsentence\n0\tuncharted\n1\tfamiliar\n")
    config = _config(source=f"csv:{tmp_path}")
    config.data.text.text_column = "sentence"
    with pytest.raises(UserError) as error:
        text_data.load(config.data.source, config)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'test.tsv'}: no 'label' column") and "\n" not in message
    assert "train.tsv has one" in message and "data.text.label_column" not in message
    assert f"csv:{tmp_path / 'train.tsv'}" in message

@pytest.mark.parametrize("files, culprit", [
    (("train.csv",), "no test.csv or test.tsv"),
    (("train.csv", "train.tsv", "test.csv"), "both train.csv and train.tsv"),
])
def test_a_csv_folder_without_one_file_per_split_is_refused(tmp_path, files, culprit):
    for name in files:
        _write_csv(tmp_path / name, ["a,x", "b,y"])
    with pytest.raises(UserError) as error:
        text_data.load(f"csv:{tmp_path}", _config())
    assert culprit in str(error.value) and str(tmp_path) in str(error.value) and "\n" not in str(error.value)


def test_missing_column_names_the_file_the_header_and_the_settings(tmp_path):
    path = _write_csv(tmp_path / "reviews.csv", ["fine,positive"], header="review,sentiment")
    with pytest.raises(UserError) as error:
        text_data.load(f"csv:{path}", _config())
    assert str(error.value) == (f"{path}: missing column 'text', 'label' (header has 'review', 'sentiment'); "
                                "choose columns with --set data.text.text_column=NAME data.text.label_column=NAME")
    config = _config()
    config.data.text.text_column = "review"
    with pytest.raises(UserError, match=r"missing column 'label' .*--set data\.text\.label_column=NAME$"):
        text_data.load(f"csv:{path}", config)


def test_class_order_is_the_same_in_every_process_and_never_crashes():
    import subprocess
    import sys

    probe = "from kerasuite.data.text import _class_order; print(_class_order(['1', '01', '001', '2', '-3']))"
    orders = {subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": str(seed)}, check=True).stdout for seed in range(6)}
    assert orders == {"['-3', '001', '01', '1', '2']\n"}
    assert text_data._class_order(["²", "1"]) == ["1", "²"]  # isdigit() but not an int: sorted as text


def test_folder_of_text_files_with_and_without_train_test_layout(tmp_path):
    for split in ("train", "test"):
        for label, words in (("ham", "hello friend"), ("spam", "WIN MONEY now")):
            folder = tmp_path / "split" / split / label
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}.txt").write_bytes(f"\ufeff{words} {i}".encode() + b"\xff")
    config = _config(source=f"folder:{tmp_path / 'split'}", validation_fraction=0.0)
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["ham", "spam"]
    assert (len(raw.train), len(raw.test)) == (6, 6)
    assert "hello friend 0\ufffd" in raw.train.texts  # BOM dropped, broken byte replaced

    flat = tmp_path / "flat"
    for label in ("a", "b"):
        (flat / label).mkdir(parents=True)
        for i in range(20):
            (flat / label / f"{label}{i}.txt").write_text(f"text {label} {i}", encoding="utf-8")
    config = _config(source=f"folder:{flat}", test_fraction=0.3, validation_fraction=0.0)
    raw = text_data.load(config.data.source, config)
    assert len(raw.train) + len(raw.test) == 40 and 0 < len(raw.test) < 40
    assert set(raw.train.texts).isdisjoint(raw.test.texts)


def test_a_val_folder_is_the_validation_split_and_train_is_used_whole(tmp_path):
    for split, count in (("train", 6), ("validation", 2), ("test", 3)):
        for label in ("ham", "spam"):
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(count):
                (tmp_path / split / label / f"{i}.txt").write_text(f"{split} {label} {i}", encoding="utf-8")
    config = _config(source=f"folder:{tmp_path}", validation_fraction=0.5)  # the folder wins
    raw = text_data.load(config.data.source, config)
    assert raw.validation.texts == ["validation ham 0", "validation ham 1", "validation spam 0", "validation spam 1"]
    assert raw.validation.labels.tolist() == [0, 0, 1, 1]
    assert sorted(raw.train.texts) == sorted(f"train {label} {i}" for label in ("ham", "spam") for i in range(6))
    assert len(raw.test) == 6 and raw.validation_source == str(tmp_path / "validation")
    again = text_data.load(config.data.source, config)
    assert again.train.texts == raw.train.texts  # a resumed run sees the same splits in the same order


def test_data_limit_on_a_folder_keeps_every_class(tmp_path):
    for label in ("a", "b", "c"):
        (tmp_path / label).mkdir()
        for i in range(20):
            (tmp_path / label / f"{i}.txt").write_text(f"{label} words {i}", encoding="utf-8")
    config = _config(source=f"folder:{tmp_path}", validation_fraction=0.0, limit=12)
    raw = text_data.load(config.data.source, config)
    assert len(raw.train) == 12 and set(raw.train.labels.tolist()) == {0, 1, 2}


def test_first_training_batches_mix_the_classes_of_a_split_longer_than_the_shuffle_buffer(tmp_path):
    from kerasuite.data.pipeline import make_pipeline

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(200):
            (tmp_path / label / f"{label}{i}.txt").write_text(f"{label} words {i}", encoding="utf-8")
    config = _config(source=f"folder:{tmp_path}", shuffle_buffer=50)  # 50 to 340 as 10,000 to a large folder
    raw = text_data.load(config.data.source, config)
    batches = make_pipeline(text_data.as_dataset(raw.train), training=True, batch_size=32,
                            shuffle_buffer=config.data.shuffle_buffer, seed=config.seed)
    for _, labels in batches.take(3):
        assert min(np.bincount(labels.numpy(), minlength=2)) >= 8


def test_tfds_imdb_reviews_runs_the_real_loading_code_on_mock_data():
    import tensorflow_datasets as tfds

    config = _config(source="tfds:imdb_reviews", validation_fraction=0.25)
    with tfds.testing.mock_data(num_examples=12):
        raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["neg", "pos"]
    assert (len(raw.train), len(raw.validation), len(raw.test)) == (9, 3, 12)
    assert all(isinstance(t, str) for t in raw.train.texts) and set(raw.test.labels.tolist()) <= {0, 1}


def test_synthetic_topics_is_learnable_but_no_single_word_decides():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, labels, names = text_data.synthetic_texts(4, 100, seed=0)
    assert names == ["topic_0", "topic_1", "topic_2", "topic_3"] and len(texts) == 400
    assert text_data.synthetic_texts(4, 100, seed=0)[0] == texts
    counts = (CountVectorizer(token_pattern=r"[^\s,.!?;]+").fit_transform(texts) > 0).toarray()
    train, test = np.arange(0, 400, 2), np.arange(1, 400, 2)
    accuracy = LogisticRegression(max_iter=2000).fit(counts[train], labels[train]).score(counts[test], labels[test])
    assert accuracy > 0.8
    # predicting a word's majority class when present (else class 0) never gets near that
    best_single = 0.0
    for column in counts.T:
        if column[train].any():
            majority = np.bincount(labels[train][column[train] == 1]).argmax()
            best_single = max(best_single, float(np.mean(np.where(column[test], majority, 0) == labels[test])))
    assert best_single < 0.6


@pytest.mark.parametrize("content, culprit", [
    ("review,label\nfine,pos\n", "'text'"),
    ("text,sentiment\nfine,pos\n", "'label'"),
    ("", "empty file"),
    ("text,label\n", "no data rows"),
    ("text,label\n,pos\n  ,neg\n", "column 'text' is empty"),
    ("text,label\nfine,pos\nok,\n", ":3: column 'label' is empty"),
    ("text,label\nfine,pos\nok,pos\n", "single value"),
    ("text,label\nfine,pos\ngreat movie, loved it,pos\nbad,neg\n", ":3: expected 2 columns, got 3"),
])
def test_bad_csv_is_refused_naming_file_and_column(tmp_path, content, culprit):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as error:
        text_data.load(f"csv:{path}", _config())
    message = str(error.value)
    assert str(path) in message and culprit in message and "\n" not in message


def test_label_seen_only_in_test_is_refused(tmp_path):
    _write_csv(tmp_path / "train.csv", ["a,x", "b,y"])
    _write_csv(tmp_path / "test.csv", ["c,x", "d,z"])
    with pytest.raises(UserError, match=r"test\.csv:3: label 'z' does not occur in train\.csv"):
        text_data.load(f"csv:{tmp_path}", _config())


@pytest.mark.parametrize("spec, culprit", [
    ("synthetic:poems", "synthetic:poems"),
    ("synthetic:topics-1", "synthetic:topics-1"),
    ("builtin:digits", "this task reads"),
    ("csv:/nonexistent/x.csv", "/nonexistent/x.csv"),
])
def test_unknown_sources_are_refused(spec, culprit):
    with pytest.raises(UserError, match=culprit.replace(".", r"\.")):
        text_data.load(spec, _config())


def test_cli_exits_2_with_one_line_for_bad_text_input(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("body,label\nhello,a\n", encoding="utf-8")
    done = run_main(capsys, "--task", "text_classification", "--data", f"csv:{bad}", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, str(bad), "'text'", "'body', 'label'", "--set data.text.text_column=NAME")
    done = run_main(capsys, "--task", "text_classification", "--data", "synthetic:topics", "--run-dir", str(tmp_path / "run2"),
                    "--set", "data.text.standardize=upper")
    assert_one_line_error(done, 2, "data.text.standardize")
    done = run_main(capsys, "--task", "text_classification", "--data", "synthetic:topics", "--run-dir", str(tmp_path / "run3"),
                    "--set", "model.lstm.cell=rnn", "data.text.max_tokens=50", "data.text.sequence_length=4")
    assert_one_line_error(done, 2, "model.lstm.cell")


def test_a_20_newsgroups_archive_reads_as_downloaded(tmp_path):
    news = tmp_path / "20news-bydate"
    for split, count in (("20news-bydate-train", 6), ("20news-bydate-test", 2)):
        for group in ("rec.autos", "sci.space"):
            (news / split / group).mkdir(parents=True)
            for n in range(count):
                (news / split / group / str(50000 + n)).write_text(f"From: a@b\nSubject: {group} {n}\n", encoding="latin-1")
    config = _config(source=f"folder:{news}", validation_fraction=0.0)
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["rec.autos", "sci.space"]
    assert (len(raw.train), len(raw.test)) == (12, 4)
    assert sorted(raw.test.texts)[0] == "From: a@b\nSubject: rec.autos 0\n"


# ------------------------------------------------------------------ files without a header row

AG_NEWS_CLASSES = "World\nSports\nBusiness\nSci/Tech\n"


def _zhang_row(index: int | str, *fields: str) -> str:
    """One row as Xiang Zhang's sets write it: every field double-quoted, quotes doubled, a line
    break in a value written as backslash-n."""
    return ",".join('"' + str(field).replace('"', '""') + '"' for field in (index, *fields)) + "\n"


def _write_zhang_set(folder, classes: str | None, train: str, test: str | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    if classes is not None:
        (folder / "classes.txt").write_text(classes, encoding="utf-8")
    (folder / "readme.txt").write_text("AG's News Topic Classification Dataset\n\nVersion 3, Updated 09/09/2015\n")
    (folder / "train.csv").write_text(train, encoding="utf-8")
    if test is not None:
        (folder / "test.csv").write_text(test, encoding="utf-8")
    return folder


def _ag_news_rows(per_class: int, offset: int = 0) -> str:
    words = {1: "election minister", 2: "match goal", 3: "shares profit", 4: "software space"}
    return "".join(_zhang_row(index, f"{words[index]} headline {offset + i}",
                              f"{words[index]} story {offset + i},\\nsaid the ""agency"".")
                   for i in range(per_class) for index in words)


def test_an_ag_news_folder_reads_as_downloaded(tmp_path):
    """ag_news_csv/: train.csv and test.csv without a header, "class index","title","description",
    and classes.txt naming the classes; the class names are the data set's, in index order."""
    train = (_zhang_row(3, "Wall St. Bears Claw Back Into the Black (Reuters)",
                        "Reuters - Short-sellers, Wall Street's dwindling\\band of ultra-cynics, are seeing green again.")
             + _zhang_row(2, 'Phelps "Golden" Again', 'He said "yes",\\nthen swam.\\n\\nA new record.')
             + _ag_news_rows(3))
    folder = _write_zhang_set(tmp_path / "ag_news_csv", AG_NEWS_CLASSES, train,
                              _zhang_row(4, "Comets ahead", "A probe\\nlaunches.") + _zhang_row(1, "Vote", "Polls open."))
    assert (folder / "train.csv").read_bytes().startswith(b'"3","Wall St. Bears Claw Back Into the Black (Reuters)",')
    config = _config(source=f"csv:{folder}", validation_fraction=0.0)
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert raw.test.texts == ["Comets ahead A probe\nlaunches.", "Vote Polls open."]
    assert raw.test.labels.tolist() == [3, 0]
    texts = dict(zip(raw.train.texts, raw.train.labels.tolist()))
    assert texts['Phelps "Golden" Again He said "yes",\nthen swam.\n\nA new record.'] == 1
    # only \n is an escape: the data set's other backslashes are its own text
    assert texts["Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers, Wall Street's "
                 "dwindling\\band of ultra-cynics, are seeing green again."] == 2
    assert len(raw.train) == 14

    # the training file alone, classes.txt beside it: a held-out test split, the same class names
    alone = _config(source=f"csv:{folder / 'train.csv'}", validation_fraction=0.0, test_fraction=0.25)
    raw = text_data.load(alone.data.source, alone)
    assert raw.class_names == ["World", "Sports", "Business", "Sci/Tech"] and len(raw.train) + len(raw.test) == 14

    # chosen columns (the description alone) still take their class names from classes.txt
    config.data.text.header, config.data.text.label_column, config.data.text.text_column = False, "1", "3"
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert raw.test.texts == ["A probe\nlaunches.", "Polls open."] and raw.test.labels.tolist() == [3, 0]


def test_a_yahoo_answers_row_joins_its_three_text_fields_and_skips_empty_ones(tmp_path):
    classes = "Society & Culture\nScience & Mathematics\nHealth\n"
    train = (_zhang_row(2, "Why is the sky blue?", "", "Rayleigh scattering.\\nShort waves scatter more.")
             + _zhang_row(3, "Is sleep important?", "I sleep 4 hours.", "Yes.") + _zhang_row(1, "Holidays", "", ""))
    folder = _write_zhang_set(tmp_path / "yahoo_answers_csv", classes, train)
    texts, labels, lines = text_data._read_table(folder / "train.csv",
                                                 text_data._table_layout(folder / "train.csv", _config().data.text))
    assert texts == ["Why is the sky blue? Rayleigh scattering.\nShort waves scatter more.",
                     "Is sleep important? I sleep 4 hours. Yes.", "Holidays"]
    assert labels == ["Science & Mathematics", "Health", "Society & Culture"] and lines == [1, 2, 3]


def _yelp_rows(per_class: int) -> str:
    words = {1: "rude cold slow", 2: "friendly tasty fresh"}
    return "".join(_zhang_row(index, f"The staff was {words[index]} visit {i}.\\nWould {'not ' * (index == 1)}return.")
                   for i in range(per_class) for index in words)


def test_a_yelp_polarity_folder_is_refused_with_how_to_read_it_then_read_by_column_numbers(tmp_path, capsys):
    """yelp_review_polarity_csv/ ships train.csv, test.csv and readme.txt: two columns (class index
    1 or 2, review) and no classes.txt."""
    review = ("Unfortunately, the frustration of being this doctor's patient is a repeat of the experience "
              "I've had with so many other doctors in NYC -- good doctor, terrible staff.\\nIt seems that his "
              'staff simply never answers the phone. "Call back later", they say.')
    folder = _write_zhang_set(tmp_path / "yelp_review_polarity_csv", None, _zhang_row(1, review) + _yelp_rows(6),
                              _yelp_rows(2))
    done = run_main(capsys, "--task", "text_classification", "--data", f"csv:{folder}", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, f"{folder / 'train.csv'}:1: the first row ('1', 'Unfortunately, the",
                          "looks like data", "--set data.text.header=false data.text.label_column=N data.text.text_column=N",
                          "a classes.txt beside it")

    config = _config(source=f"csv:{folder}", validation_fraction=0.0)
    config.data.text.header, config.data.text.label_column, config.data.text.text_column = False, "1", "2"
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["1", "2"]  # the indices themselves: nothing names them
    assert review.replace("\\n", "\n") in raw.train.texts
    assert raw.test.texts[:2] == ["The staff was rude cold slow visit 0.\nWould not return.",
                                  "The staff was friendly tasty fresh visit 0.\nWould return."]

    # a classes.txt written beside it names them, and no setting is needed
    (folder / "classes.txt").write_text("negative\npositive\n", encoding="utf-8")
    raw = text_data.load(f"csv:{folder}", _config(validation_fraction=0.0))
    assert raw.class_names == ["negative", "positive"] and raw.test.labels.tolist()[:2] == [0, 1]


def test_data_text_header_false_reads_any_file_by_column_numbers(tmp_path):
    """Sentiment140's training file: no header, six columns (polarity 0 or 4, id, date, query, user,
    tweet), Latin-1; the label is column 1 and the text column 6."""
    rows = [f'"{label}","146781{i:04d}","Mon Apr 06 22:19:{i % 60:02d} PDT 2009","NO_QUERY","user{i}",'
            f'"@friend {word} day, number {i}"\n' for i in range(8) for label, word in (("0", "awful"), ("4", "lovely"))]
    path = tmp_path / "training.1600000.processed.noemoticon.csv"
    path.write_bytes(("".join(rows) + '"4","1","Mon","NO_QUERY","u","caf\xe9 ""ol\xe9"""\n').encode("latin-1"))
    config = _config(source=f"csv:{path}", validation_fraction=0.0, test_fraction=0.25)
    config.data.text.header, config.data.text.label_column, config.data.text.text_column = False, "1", "6"
    cfg.validate(config)
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["0", "4"] and len(raw.train) + len(raw.test) == 17
    every = raw.train.texts + raw.test.texts
    assert "@friend awful day, number 0" in every and 'caf\ufffd "ol\ufffd"' in every  # not UTF-8: replaced

    # several text columns, label last: joined in the order the setting lists them
    table = tmp_path / "pairs.tsv"
    table.write_text("".join(f"question {i}\tanswer {i}\t{'yes' if i % 2 else 'no'}\n" for i in range(10)))
    config = _config(source=f"csv:{table}", validation_fraction=0.0)
    config.data.text.header, config.data.text.label_column, config.data.text.text_column = False, "3", "2, 1"
    cfg.validate(config)
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["no", "yes"] and "answer 3 question 3" in raw.train.texts + raw.test.texts


def test_a_first_row_of_data_stays_comma_separated_whatever_its_quoted_text_holds(tmp_path):
    """AG News has no header: every field quoted, here more semicolons and pipes in the first
    row's text than commas between its fields. Beside its classes.txt the first row is looked at
    as a possible header, with data.text.header=false it is data, without either it is taken for
    a header: each way the file stays comma-separated (a header's delimiter is looked for outside
    quotes only)."""
    first = _zhang_row(3, "Oil; gas; coal | prices", "Brent rose; WTI fell; traders | brokers said.")
    folder = _write_zhang_set(tmp_path / "ag_news_csv", AG_NEWS_CLASSES, first + _ag_news_rows(6))
    for header, settings in ((True, {}), (False, {"label_column": "1", "text_column": "2,3"})):
        config = _config(source=f"csv:{folder / 'train.csv'}", validation_fraction=0.0, test_fraction=0.25)
        config.data.text.header = header
        for key, value in settings.items():
            setattr(config.data.text, key, value)
        raw = text_data.load(config.data.source, config)
        assert "Oil; gas; coal | prices Brent rose; WTI fell; traders | brokers said." in raw.train.texts + raw.test.texts
        assert raw.class_names == ["World", "Sports", "Business", "Sci/Tech"] and raw.notes == []
    # without classes.txt the first row is taken for a header, and refused as data cell by cell
    (folder / "classes.txt").unlink()
    with pytest.raises(UserError, match=r"train\.csv:1: the first row \('3', 'Oil; gas; coal \| prices', 'Brent rose; "):
        text_data.load(f"csv:{folder}/train.csv", _config())


def test_named_text_columns_are_joined_too(tmp_path):
    """Kaggle's copy of AG News has a header (Class Index,Title,Description) and no classes.txt."""
    path = tmp_path / "train.csv"
    path.write_text('Class Index,Title,Description\n' + _ag_news_rows(3).replace("\\n", " "), encoding="utf-8")
    config = _config(source=f"csv:{path}", validation_fraction=0.0)
    config.data.text.text_column, config.data.text.label_column = "title, description", "class index"
    raw = text_data.load(config.data.source, config)
    assert raw.class_names == ["1", "2", "3", "4"]
    assert "shares profit headline 0 shares profit story 0, said the agency." in raw.train.texts + raw.test.texts


def test_a_header_row_beside_a_classes_txt_is_still_a_header(tmp_path):
    folder = tmp_path / "own"
    _write_zhang_set(folder, "World\nSports\n", "label,text\n" + "".join(f"{1 + i % 2},words {i}\n" for i in range(8)))
    raw = text_data.load(f"csv:{folder / 'train.csv'}", _config(validation_fraction=0.0))
    assert raw.class_names == ["1", "2"]  # the header names the columns; classes.txt is not read


@pytest.mark.parametrize("classes, train, test, culprit", [
    (AG_NEWS_CLASSES, _zhang_row(1, "a", "b") + _zhang_row(5, "c", "d"), None,
     "train.csv:2: column 1 holds '5', not a class index 1..4 ("),
    (AG_NEWS_CLASSES, _zhang_row(1, "a", "b") + _zhang_row(0, "c", "d"), None, "train.csv:2: column 1 holds '0'"),
    (AG_NEWS_CLASSES, _zhang_row(1, "a", "b") + _zhang_row("Sports", "c", "d"), None, "train.csv:2: column 1 holds 'Sports'"),
    (AG_NEWS_CLASSES, _zhang_row(1, "a", "b") + _zhang_row(2, "c", "d"), _zhang_row(2, "e", "f") + _zhang_row(9, "g", "h"),
     "test.csv:2: column 1 holds '9'"),
    (AG_NEWS_CLASSES, _zhang_row(1, "a", "b") + _zhang_row("", "c", "d"), None, "train.csv:2: column 1 is empty"),
    (AG_NEWS_CLASSES, _zhang_row(1, "a", "b") + _zhang_row(2, "c", "d", "e"), None, "train.csv:2: expected 3 columns, got 4"),
    (AG_NEWS_CLASSES, _zhang_row(1, "a", "b") + _zhang_row(2, "c", "d"), _zhang_row(2, "e"), "test.csv:1: expected 3 columns, got 2"),
    (AG_NEWS_CLASSES, _zhang_row(1, "a", "b") + _zhang_row(1, "c", "d"), None, "train.csv: column 1 has a single value ('World')"),
    (AG_NEWS_CLASSES, _zhang_row(1, "", "") + _zhang_row(2, " ", ""), None, "train.csv: columns 2, 3 are empty in every row"),
    ("World\n\nSports\nBusiness\n", _zhang_row(1, "a", "b") + _zhang_row(2, "c", "d"), None, "classes.txt:2: blank line"),
    ("World\nSports\nWorld\n", _zhang_row(1, "a", "b") + _zhang_row(2, "c", "d"), None,
     "classes.txt:3: 'World' again (line 1)"),
    ("\n \n", _zhang_row(1, "a", "b") + _zhang_row(2, "c", "d"), None, "classes.txt: no class names"),
])
def test_a_bad_class_indexed_file_is_refused_in_one_line(tmp_path, classes, train, test, culprit):
    folder = _write_zhang_set(tmp_path / "set", classes, train, test)
    target = folder if test is not None else folder / "train.csv"
    with pytest.raises(UserError) as error:
        text_data.load(f"csv:{target}", _config())
    message = str(error.value)
    assert culprit in message and str(folder) in message and "\n" not in message, message


def test_a_classes_txt_with_trailing_blank_lines_and_windows_line_ends_is_read(tmp_path):
    folder = _write_zhang_set(tmp_path / "set", None, _zhang_row(1, "a", "b") + _zhang_row(2, "c", "d"))
    (folder / "classes.txt").write_bytes(b"\xef\xbb\xbfWorld\r\nSports \r\n\r\n\n")
    assert text_data.read_class_list(folder / "classes.txt") == ("World", "Sports")


@pytest.mark.parametrize("content, settings, culprit", [
    ("1,a,b\n2,c\n", ("3", "1"), ":2: expected 3 columns, got 2"),
    ("1,a\n2,b\n", ("3", "1"), ":1: expected 3 columns or more (data.text.label_column=1 data.text.text_column=3), got 2"),
    ("", ("2", "1"), "empty file"),
    ("\n\n", ("2", "1"), "empty file"),
    ("1,a\n2,b, and more\n", ("2", "1"), ":2: expected 2 columns, got 3; put a value that holds commas in double quotes"),
])
def test_header_false_refuses_a_file_that_does_not_fit_its_columns(tmp_path, content, settings, culprit):
    path = tmp_path / "plain.csv"
    path.write_text(content, encoding="utf-8")
    config = _config(source=f"csv:{path}")
    config.data.text.header = False
    config.data.text.text_column, config.data.text.label_column = settings
    with pytest.raises(UserError) as error:
        text_data.load(config.data.source, config)
    message = str(error.value)
    assert message.startswith(str(path)) and culprit in message and "header" not in message[len(str(path)):], message
