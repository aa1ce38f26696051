"""Recommender data: CSV/TFDS/synthetic loading, per-user hold-out, id encoding, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from kerasuite import config as cfg
from kerasuite.data import movielens, recsys
from kerasuite.data.settings import RecsysDataConfig
from kerasuite.errors import UserError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- per-user hold-out


def test_csv_with_timestamps_holds_out_each_users_latest(tmp_path):
    path = write(tmp_path / "ratings.csv", "user_id,item_id,rating,timestamp\n"
                 "a,x,5,30\n"  # a's latest, though not a's last row
                 "a,y,3,10\n"
                 "a,z,4,20\n"
                 "b,x,2,5\n"
                 "b,y,1,7\n"  # b's latest
                 "c,z,4,1\n")  # c has one interaction: it stays in training
    raw = recsys.load_csv(str(path), seed=0)
    assert raw.split == "latest"
    held = sorted(zip(raw.test.users.tolist(), raw.test.items.tolist(), raw.test.ratings.tolist()))
    assert held == [("a", "x", 5.0), ("b", "y", 1.0)]
    assert sorted(zip(raw.train.users.tolist(), raw.train.items.tolist())) == [
        ("a", "y"), ("a", "z"), ("b", "x"), ("c", "z")]
    assert raw.train.timestamps is not None and len(raw.train.timestamps) == 4


def test_csv_without_timestamps_holds_out_one_per_user_independent_of_row_order(tmp_path):
    rows = [f"u{u},i{i}" for u in range(20) for i in range(u % 4 + 2)]
    forward = write(tmp_path / "forward.csv", "user_id,item_id\n" + "\n".join(rows) + "\n")
    backward = write(tmp_path / "backward.csv", "user_id,item_id\n" + "\n".join(reversed(rows)) + "\n")
    a = recsys.load_csv(str(forward), seed=3)
    b = recsys.load_csv(str(backward), seed=3)
    assert a.split == "hashed" and a.train.ratings is None
    held_a = sorted(zip(a.test.users.tolist(), a.test.items.tolist()))
    held_b = sorted(zip(b.test.users.tolist(), b.test.items.tolist()))
    assert held_a == held_b
    assert len(held_a) == 20 and len({u for u, _ in held_a}) == 20  # exactly one per user
    assert len(a.train) + len(a.test) == len(rows)
    other_seed = recsys.load_csv(str(forward), seed=4)
    assert sorted(zip(other_seed.test.users.tolist(), other_seed.test.items.tolist())) != held_a


def test_csv_folder_uses_train_and_test_files(tmp_path):
    write(tmp_path / "train.csv", "user_id,item_id,title,genres\nu1,a,Alpha One,x|y\nu2,b,Beta,y\n")
    write(tmp_path / "test.csv", "user_id,item_id\nu1,b\nu3,c\n")
    raw = recsys.load_csv(str(tmp_path), seed=0)
    assert raw.split == "given"
    assert raw.train.users.tolist() == ["u1", "u2"] and raw.test.items.tolist() == ["b", "c"]
    assert raw.item_titles == {"a": "Alpha One", "b": "Beta"}
    assert raw.item_genres == {"a": ["x", "y"], "b": ["y"]}


# ---------------------------------------------------------------------- files in their own shape


@pytest.mark.parametrize("pointer", ["ratings.csv", ""])  # the file, or the extracted folder itself
def test_movielens_latest_small_reads_as_it_is_with_titles_and_genres_from_movies_csv(tmp_path, pointer):
    # ml-latest-small: camelCase ids in ratings.csv, titles and genres in movies.csv beside it
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n"
                    "1,1,4.0,964982703\n1,3,4.0,964981247\n2,1,3.0,964982224\n2,6,5.0,964983815\n")
    write(tmp_path / "movies.csv", "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
          '3,Grumpier Old Men (1995),Comedy|Romance\n6,"Heat, The (1995)",(no genres listed)\n')
    write(tmp_path / "tags.csv", "userId,movieId,tag,timestamp\n2,6,heist,1445714994\n")
    write(tmp_path / "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n")
    raw = recsys.load_csv(str(tmp_path / pointer), seed=0)
    assert raw.split == "latest" and raw.item_table == str(tmp_path / "movies.csv")
    held = sorted(zip(raw.test.users.tolist(), raw.test.items.tolist(), raw.test.ratings.tolist()))
    assert held == [("1", "1", 4.0), ("2", "6", 5.0)]  # each user's latest, by timestamp
    assert raw.item_titles["6"] == "Heat, The (1995)" and raw.item_genres["1"] == ["Adventure", "Animation"]


# GroupLens' headerless downloads (helpers.write_ml_100k, write_ml_1m: the real layouts)
ML_MOVIES = [(1, "Toy Story (1995)", ("Animation", "Children's", "Comedy")),
             (2, "Misérables, Les (1995)", ("Drama", "Musical")),
             (3, 'Shawshank "Redemption", The (1994)', ("Drama",)),
             (4, "unknown", ("unknown",))]
ML_RATINGS = [(1, 1, 5, 874965758), (1, 2, 3, 876893171),  # user 1's latest: item 2
              (2, 3, 4, 888551230), (2, 1, 2, 888550871), (2, 4, 1, 888551001),  # user 2's latest: item 3
              (3, 2, 4, 891035994)]  # a single rating stays in training


def _held(raw):
    return sorted(zip(raw.test.users.tolist(), raw.test.items.tolist(), raw.test.ratings.tolist(),
                      raw.test.timestamps.tolist()))


@pytest.mark.parametrize("pointer", ["", "u.data"])
def test_ml_100k_reads_u_data_held_out_per_user_with_titles_and_genres_from_u_item(tmp_path, pointer):
    from helpers import write_ml_100k

    folder = write_ml_100k(tmp_path / "ml-100k", ML_RATINGS, ML_MOVIES)
    raw = recsys.load_csv(str(folder / pointer), seed=0)
    assert raw.split == "latest" and raw.item_table == str(folder / "u.item")
    assert _held(raw) == [("1", "2", 3.0, 876893171), ("2", "3", 4.0, 888551230)]
    assert sorted(zip(raw.train.users.tolist(), raw.train.items.tolist())) == [("1", "1"), ("2", "1"), ("2", "4"),
                                                                               ("3", "2")]
    assert raw.train.ratings.dtype == np.float32 and raw.train.timestamps.dtype == np.int64
    assert raw.item_titles == {str(movie): title for movie, title, _ in ML_MOVIES}  # u.item is ISO-8859-1
    assert raw.item_genres["1"] == ["Animation", "Children's", "Comedy"] and raw.item_genres["4"] == ["unknown"]
    assert raw.genre_names[:2] == ["unknown", "Action"] and len(raw.genre_names) == 19  # u.genre's order
    arrays = recsys.encode(raw)  # the two-tower side features, as for ml-latest-small
    assert arrays.item_genres.shape == (5, 19) and arrays.has_titles
    assert arrays.item_titles[arrays.items.ids.index("2") + 1] == "Misérables, Les (1995)"


def test_ml_100k_predefined_split_finds_its_test_half_beside_it(tmp_path):
    from helpers import write_ml_100k

    base, test = ML_RATINGS[:4], ML_RATINGS[4:]
    folder = write_ml_100k(tmp_path / "ml-100k", ML_RATINGS, ML_MOVIES, splits={"u1": (base, test), "ua": (test, base)})
    raw = recsys.load_csv(str(folder / "u1.base"), seed=0)
    assert raw.split == "given"
    assert list(zip(raw.train.users.tolist(), raw.train.items.tolist())) == [("1", "1"), ("1", "2"), ("2", "3"),
                                                                             ("2", "1")]
    assert _held(raw) == [("2", "4", 1.0, 888551001), ("3", "2", 4.0, 891035994)]
    assert raw.item_titles["2"] == "Misérables, Les (1995)" and raw.item_table == str(folder / "u.item")
    assert len(recsys.load_csv(str(folder / "ua.base"), seed=0).train) == 2


@pytest.mark.parametrize("name, encoding, pointer", [("ml-1m", "latin-1", ""), ("ml-1m", "latin-1", "ratings.dat"),
                                                     ("ml-10M100K", "utf-8", "")])
def test_ml_1m_and_ml_10m_read_ratings_dat_with_titles_and_genres_from_movies_dat(tmp_path, name, encoding, pointer):
    from helpers import write_ml_1m

    rows = [(user, item, rating - 0.5 if encoding == "utf-8" else rating, stamp)  # ml-10m has half stars
            for user, item, rating, stamp in ML_RATINGS]
    folder = write_ml_1m(tmp_path / name, rows, ML_MOVIES, encoding)
    raw = recsys.load_csv(str(folder / pointer), seed=0)
    assert raw.split == "latest" and raw.item_table == str(folder / "movies.dat")
    half = -0.5 if encoding == "utf-8" else 0.0
    assert _held(raw) == [("1", "2", 3.0 + half, 876893171), ("2", "3", 4.0 + half, 888551230)]
    assert raw.item_titles == {str(movie): title for movie, title, _ in ML_MOVIES}
    assert raw.item_genres["2"] == ["Drama", "Musical"] and raw.genre_names is None  # sorted as found
    assert recsys.encode(raw).genre_names == ["Animation", "Children's", "Comedy", "Drama", "Musical", "unknown"]


def test_ml_10m_split_script_halves_read_as_a_given_split(tmp_path):
    from helpers import dat_ratings, write_ml_1m

    folder = write_ml_1m(tmp_path / "ml-10M100K", ML_RATINGS, ML_MOVIES, "utf-8")
    (folder / "r1.train").write_text(dat_ratings(ML_RATINGS[:5]))
    (folder / "r1.test").write_text(dat_ratings(ML_RATINGS[5:]))
    raw = recsys.load_csv(str(folder / "r1.train"), seed=0)
    assert raw.split == "given" and len(raw.train) == 5 and _held(raw) == [("3", "2", 4.0, 891035994)]


def test_a_folder_holding_train_and_test_csv_reads_them_as_before_even_beside_u_data(tmp_path):
    from helpers import write_ml_100k

    folder = write_ml_100k(tmp_path / "ml-100k", ML_RATINGS, ML_MOVIES)
    assert recsys.load_csv(str(folder), seed=0).item_table == str(folder / "u.item")
    write(folder / "train.csv", "user_id,item_id\nu1,a\n")
    write(folder / "test.csv", "user_id,item_id\nu1,b\n")
    raw = recsys.load_csv(str(folder), seed=0)
    assert raw.train.users.tolist() == ["u1"] and raw.item_table is None


def test_ratings_read_in_blocks_and_line_by_line_agree_and_name_the_right_line(tmp_path, monkeypatch):
    """numpy's block reader and the line reader it falls back on give the same table, and a bad
    row in a later block is named by its line in the file."""
    from helpers import write_ml_1m

    rng = np.random.default_rng(0)
    rows = [(int(u), int(i), float(r) / 2, int(t)) for u, i, r, t in zip(rng.integers(1, 50, 400), rng.integers(1, 90, 400),
                                                                          rng.integers(1, 11, 400), rng.integers(9e8, 1e9, 400))]
    folder = write_ml_1m(tmp_path / "ml-1m", rows, ML_MOVIES)
    whole = recsys.read_movielens_ratings(folder / "ratings.dat", movielens.ML_1M_10M)
    monkeypatch.setattr(recsys, "MOVIELENS_BLOCK_BYTES", 100)  # blocks of about four lines
    blocks = recsys.read_movielens_ratings(folder / "ratings.dat", movielens.ML_1M_10M)
    monkeypatch.setattr(recsys, "_movielens_block", lambda block, separator: None)
    lines = recsys.read_movielens_ratings(folder / "ratings.dat", movielens.ML_1M_10M)
    for table in (blocks, lines):
        for field in ("users", "items", "ratings", "timestamps"):
            np.testing.assert_array_equal(getattr(table, field), getattr(whole, field))
    assert whole.users.tolist()[:2] == [str(rows[0][0]), str(rows[1][0])] and whole.ratings.tolist()[2] == rows[2][2]
    monkeypatch.undo()
    monkeypatch.setattr(recsys, "MOVIELENS_BLOCK_BYTES", 100)
    text = (folder / "ratings.dat").read_text().splitlines()
    text[300] = "7::8::4"
    (folder / "ratings.dat").write_text("\n".join(text) + "\n")
    with pytest.raises(UserError, match=r"ratings\.dat: line 301: 3 fields separated by '::'"):
        recsys.read_movielens_ratings(folder / "ratings.dat", movielens.ML_1M_10M)


BX_RATINGS = ('"User-ID";"ISBN";"Book-Rating"\n"276725";"034545104X";"0"\n"276726";"0155061224";"5"\n'
              '"276727";"0446520802";"0"\n"276729";"052165615X";"3"\n"276729";"0521795028";"6"\n')


def test_book_crossing_ratings_read_by_their_semicolons_with_named_columns(tmp_path):
    # BX-Book-Ratings.csv: every field quoted, semicolon-separated, ISO-8859-1; 0 is an implicit rating
    path = tmp_path / "BX-Book-Ratings.csv"
    path.write_bytes(BX_RATINGS.encode("latin-1"))
    settings = RecsysDataConfig(user_column="User-ID", item_column="ISBN", rating_column="Book-Rating")
    raw = recsys.load_csv(str(path), seed=0, names=recsys.column_names(settings))
    rows = sorted(zip(raw.train.users.tolist() + raw.test.users.tolist(), raw.train.items.tolist() + raw.test.items.tolist(),
                      raw.train.ratings.tolist() + raw.test.ratings.tolist()))
    assert rows[0] == ("276725", "034545104X", 0.0) and len(rows) == 5
    assert raw.test.users.tolist() == ["276729"]  # the one user with two ratings
    assert raw.notes == [f"{path} is semicolon-separated (seen in its header row)"]


def test_an_iso_8859_1_file_keeps_ids_that_differ_in_an_accent_apart(tmp_path):
    # Excel in a German locale writes ';' and the Windows code page, whose letters are ISO-8859-1's:
    # not UTF-8, whose replacement character would make both customers one
    path = tmp_path / "bewertungen.csv"
    path.write_bytes("Kunde;Artikel;Bewertung\nJos\u00e9;K\u00e4se;5\nJos\u00e8;K\u00e4se;4\nJos\u00e9;Brot;3\n".encode("latin-1"))
    names = recsys.column_names(RecsysDataConfig(user_column="Kunde", item_column="Artikel", rating_column="Bewertung"))
    table, _, _ = recsys.read_interactions_csv(path, names)
    assert table.users.tolist() == ["Jos\u00e9", "Jos\u00e8", "Jos\u00e9"] and table.items.tolist()[0] == "K\u00e4se"
    path.write_bytes("\ufeffKunde;Artikel\nJos\u00e9;K\u00e4se\n".encode("utf-8"))  # valid UTF-8 stays UTF-8
    assert recsys.read_interactions_csv(path, names | {"rating": "rating"})[0].users.tolist() == ["Jos\u00e9"]


def test_hetrec_user_artists_dat_read_by_its_tabs_through_the_recommender_loader(tmp_path):
    # HetRec 2011 Last.fm: user_artists.dat, a header row, tab-separated, no quoting; userID is user_id
    path = tmp_path / "user_artists.dat"
    path.write_text("userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n2\t53\t11351\n"
                    "3\t101\t179\n3\t102\t167\n4\t51\t590\n", encoding="utf-8")
    config = cfg.defaults("retrieval")
    config.data.source = f"csv:{path}"
    config.data.recsys.item_column, config.data.recsys.rating_column = "artistID", "weight"
    arrays = recsys.load_arrays(config)
    assert arrays.num_users == 4 and arrays.has_ratings  # 3 users and the unknown user
    assert arrays.items.ids == ["101", "102", "51", "52", "53"]
    assert arrays.notes == [f"{path} is tab-separated (seen in its header row)"]
    assert sorted(arrays.train.ratings.tolist() + arrays.test.ratings.tolist()) == [167, 179, 590, 11351, 11690, 13883]


def test_named_columns_and_a_tsv_file(tmp_path):
    names = {**recsys.column_names(), "user_id": "customer", "item_id": "product", "rating": "stars"}
    path = write(tmp_path / "reviews.tsv", 'Customer\tProduct\tStars\tTitle\n'
                 'c1\tp1\t5\tThe "best, really kettle\n\nc1\tp2\t3\tMug\nc2\tp1\t4\t\n')
    table, titles, _ = recsys.read_interactions_csv(path, names)
    assert table.users.tolist() == ["c1", "c1", "c2"] and table.ratings.tolist() == [5.0, 3.0, 4.0]
    assert titles == {"p1": 'The "best, really kettle', "p2": "Mug"}  # a .tsv quotes nothing
    bad = write(tmp_path / "bad.tsv", "Customer\tProduct\tStars\nc1\tp1\t5\nc1\tp2\tfine\n")
    with pytest.raises(UserError, match=r"bad\.tsv: line 3: column 'Stars' is not a number: 'fine'"):
        recsys.read_interactions_csv(bad, names)


def test_a_csv_folder_takes_train_and_test_tsv_files_and_an_items_table(tmp_path):
    write(tmp_path / "train.tsv", "user_id\titem_id\nu1\ta\nu2\tb\n")
    write(tmp_path / "test.tsv", "user_id\titem_id\nu1\tb\n")
    write(tmp_path / "items.tsv", "item_id\ttitle\na\tAlpha\nb\tBeta\n")
    raw = recsys.load_csv(str(tmp_path), seed=0)
    assert raw.train.items.tolist() == ["a", "b"] and raw.test.users.tolist() == ["u1"]
    assert raw.item_titles == {"a": "Alpha", "b": "Beta"} and raw.item_genres == {}
    assert raw.notes == []  # a .tsv is tab-separated by its name


def test_a_semicolon_folder_and_its_items_table_are_each_read_and_noted(tmp_path):
    write(tmp_path / "train.csv", "user_id;item_id\nu1;a\nu2;b\n")
    write(tmp_path / "test.csv", "user_id,item_id\nu1,b\n")
    write(tmp_path / "movies.csv", 'movieId;title;genres\na;"Alpha; the first";x|y\nb;Beta, The;y\n')
    raw = recsys.load_csv(str(tmp_path), seed=0)
    assert raw.train.items.tolist() == ["a", "b"] and raw.test.items.tolist() == ["b"]
    assert raw.item_titles == {"a": "Alpha; the first", "b": "Beta, The"} and raw.item_genres == {"a": ["x", "y"], "b": ["y"]}
    assert raw.notes == [f"{tmp_path / name} is semicolon-separated (seen in its header row)"
                         for name in ("train.csv", "movies.csv")]


def test_an_exact_header_name_wins_over_one_matched_without_underscores(tmp_path):
    path = write(tmp_path / "both.csv", "userId,user_id,item_id\nwrong,right,i\n")
    table, _, _ = recsys.read_interactions_csv(path)
    assert table.users.tolist() == ["right"]


def test_an_items_table_is_read_only_for_what_the_interactions_lack(tmp_path):
    write(tmp_path / "movies.csv", "movieId,title,genres\na,Table title,x\n")
    own = write(tmp_path / "own.csv", "user_id,item_id,title,genres\nu,a,Own title,y\nu,b,B,y\n")
    raw = recsys.load_csv(str(own), seed=0)
    assert raw.item_table is None and raw.item_titles["a"] == "Own title"
    # an items.csv without an item column (or without titles and genres) describes something else
    write(tmp_path / "movies.csv", "shelf,title\n1,x\n")
    plain = write(tmp_path / "plain.csv", "user_id,item_id\nu,a\nu,b\n")
    assert recsys.load_csv(str(plain), seed=0).item_titles == {}
    # the interactions file itself is never read again as the item table
    clicks = write(tmp_path / "items.csv", "user_id,item_id,title\nu,a,\nu,b,\n")
    assert recsys.load_csv(str(clicks), seed=0).item_table is None


@pytest.mark.parametrize("header, names, message", [
    ("customer,product\n", {}, "missing column 'user_id' (header has: customer,product); "
                                "name it with --set data.recsys.user_column=NAME"),
    ("user_id,product\n", {}, "missing column 'item_id' or 'movie_id' (header has: user_id,product); "
                               "name it with --set data.recsys.item_column=NAME"),
    ("user_id,item_id\n", {"rating": "stars"}, "missing column 'stars' (header has: user_id,item_id); "
                                                "name it with --set data.recsys.rating_column=NAME"),
])
def test_a_missing_column_is_named_with_the_header_and_its_setting(tmp_path, header, names, message):
    path = write(tmp_path / "ratings.csv", header + "u,i\nu,j\n")
    with pytest.raises(UserError) as caught:
        recsys.load_csv(str(path), seed=0, names={**recsys.column_names(), **names})
    assert str(caught.value) == f"{path}: {message}"


def test_a_named_title_column_found_nowhere_is_refused(tmp_path):
    path = write(tmp_path / "ratings.csv", "user_id,item_id\nu,i\nu,j\n")
    with pytest.raises(UserError, match=r"no values of column 'name' \(data\.recsys\.title_column\)"):
        recsys.load_csv(str(path), seed=0, names={**recsys.column_names(), "title": "name"})
    write(tmp_path / "items.csv", "item_id,name\ni,Eye\n")
    assert recsys.load_csv(str(path), seed=0, names={**recsys.column_names(), "title": "name"}).item_titles == {"i": "Eye"}


# ----------------------------------------------------------------------------------- encoding


def test_encode_indexes_users_from_training_only_and_items_from_the_catalogue(tmp_path):
    write(tmp_path / "train.csv", "user_id,item_id,title,genres\nu1,a,Alpha One,x|y\nu2,b,Beta one,y\n")
    write(tmp_path / "test.csv", "user_id,item_id\nu1,b\nstranger,c\n")
    arrays = recsys.encode(recsys.load_csv(str(tmp_path), seed=0), title_length=3)
    assert arrays.users.ids == ["u1", "u2"] and arrays.num_users == 3  # row 0 = OOV
    assert arrays.items.ids == ["a", "b", "c"]
    assert arrays.test.users.tolist() == [1, 0]  # the unknown user maps to the OOV index
    assert arrays.test.items.tolist() == [2, 3]
    assert arrays.genre_names == ["x", "y"]
    np.testing.assert_array_equal(arrays.item_genres, [[0, 0], [1, 1], [0, 1], [0, 0]])
    # "one" is in two titles so it ranks first (index 2), then alphabetical: alpha 3, beta 4
    assert arrays.title_tokens == ["one", "alpha", "beta"]
    np.testing.assert_array_equal(arrays.item_title_ids, [[0, 0, 0], [3, 2, 0], [4, 2, 0], [0, 0, 0]])
    assert arrays.item_titles == ["[unknown]", "Alpha One", "Beta one", "c"]
    plain = recsys.encode(recsys.load_csv(str(tmp_path), seed=0), use_side_features=False)
    assert plain.item_features(np.array([1, 2])) == {}


def test_sample_negatives_avoid_known_interactions():
    known = recsys.EncodedSplit(np.array([1, 1, 1, 2]), np.array([1, 2, 3, 4]), None)
    users, items = recsys.sample_negatives(known, known, num_items=6, per_positive=3, seed=0)
    assert users.tolist() == [1] * 9 + [2] * 3
    taken = {(1, 1), (1, 2), (1, 3), (2, 4)}
    assert all((u, i) not in taken and 1 <= i <= 5 for u, i in zip(users.tolist(), items.tolist()))


# ---------------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_reports_a_ceiling():
    spec = "clusters,users=40,items=32,clusters=4,per_user=6,noise=0"
    a = recsys.encode(recsys.synthetic(spec, seed=1))
    b = recsys.encode(recsys.synthetic(spec, seed=1))
    np.testing.assert_array_equal(a.train.items, b.train.items)
    assert len(a.test) == 40 and len(a.train) == 40 * 5
    seen = {}
    for user, item in zip(a.train.users.tolist(), a.train.items.tolist()):
        seen.setdefault(user, set()).add(item)
    seen = {u: np.array(sorted(v)) for u, v in seen.items()}
    # noise=0: every held-out item is in the user's cluster of 8 items, 5 of them seen, so the
    # oracle ranks the 3 unseen ones (target included) first: recall@1 = 1/3, recall@3 = 1.
    assert recsys.planted_recall_ceiling(a, a.test, seen, 1) == pytest.approx(1 / 3)
    assert recsys.planted_recall_ceiling(a, a.test, seen, 3) == pytest.approx(1.0)


def test_planted_ceiling_of_an_outside_target_is_at_most_one_when_k_covers_the_catalogue():
    # u0's cluster is {i0, i1}, i0 seen; the held-out i3 is outside it. The oracle ranks i1 first,
    # then i2..i5 at random: i3 is in the top 2 with probability (2 - 1) / 4, and in the top 10
    # always, as all 5 open items are.
    train = recsys.Interactions(np.array(["u0"] + ["u1"] * 6), np.array(["i0"] + [f"i{i}" for i in range(6)]))
    test = recsys.Interactions(np.array(["u0"]), np.array(["i3"]))
    planted = {"user_cluster": {"u0": 0, "u1": 1}, "item_cluster": {f"i{i}": int(i >= 2) for i in range(6)}}
    a = recsys.encode(recsys.RawRecsys(train, test, planted=planted))
    seen = {int(a.users.lookup(["u0"])[0]): a.items.lookup(["i0"])}
    assert recsys.planted_recall_ceiling(a, a.test, seen, 2) == pytest.approx(0.25)
    assert recsys.planted_recall_ceiling(a, a.test, seen, 10) == pytest.approx(1.0)


@pytest.mark.parametrize("spec", ["blobs", "clusters,users=x", "clusters,colour=3", "clusters,noise=2"])
def test_synthetic_refuses_bad_specs(spec):
    with pytest.raises(UserError, match="synthetic"):
        recsys.parse_synthetic(spec)


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("text, message", [
    ("", r"bad\.csv: empty file"),
    ("user_id,item_id\n", r"bad\.csv: no data rows"),
    ("user_id,rating\nu,4\n", r"bad\.csv: missing column 'item_id'"),
    ("item_id,rating\ni,4\n", r"bad\.csv: missing column 'user_id'"),
    ("user_id,item_id,rating\nu,i,4\nu,j,great\n", r"bad\.csv: line 3: column 'rating' is not a number: 'great'"),
    ("user_id,item_id,rating\nu,i,nan\n", r"bad\.csv: line 2: column 'rating' is not a finite number"),
    ("user_id,item_id,timestamp\nu,i,yesterday\n", r"bad\.csv: line 2: column 'timestamp' is not a number"),
    ("user_id,item_id\n,i\n", r"bad\.csv: line 2: column 'user_id' is empty"),
    ("user_id,item_id,rating,title\nu,i,4,\"Toy\nStory\"\nu,j,5,Heat\nu,k,bad,Big\n", r"bad\.csv: line 5: column 'rating'"),
    ("title,user_id,item_id\nHeat,u,i\n\"Fargo, 1996\",u,j\nBig, The,u,k\n", r"bad\.csv: line 4: 4 fields, the header has 3"),
    ("user_id;item_id;title\nu;i;Heat\nu;j;Fargo; 1996\n", r"bad\.csv: line 3: 4 fields, the header has 3; "
     r"put a value that holds semicolons in double quotes$"),
    ("user_id;item_id|x\nu;i|1\n", r"bad\.csv: line 1 holds no comma but a semicolon and a pipe outside double quotes, "
     r"so which one separates its columns is unclear; double-quote the values that hold the other$"),
    ("\n\nuser_id\titem_id;x\nu\ti;1\n", r"bad\.csv: line 3 holds no comma but a tab and a semicolon .*; name a "
     r"tab-separated file \.tsv, or double-quote"),
])
def test_bad_csv_is_one_line_user_error_naming_file_and_column(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(UserError, match=message) as caught:
        recsys.load_csv(str(path), seed=0)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("layout, pointer, change, message", [
    ("ml-100k", "", ("u.data", "1\t2\t5\t874965758\n1\t3\t4\n"), r"u\.data: line 2: 3 fields separated by tabs; "
     r"ml-100k ratings rows have 4: user id \| item id \| rating \| timestamp$"),
    ("ml-100k", "u.data", ("u.data", "1,2,5,874965758\n"), r"u\.data: line 1: 1 fields separated by tabs"),
    ("ml-100k", "", ("u.data", "1\t2\t5\t874965758\n\n1\t3\tfive\t874965758\n"),
     r"u\.data: line 3: the rating is not a number: 'five'$"),
    ("ml-100k", "", ("u.data", "1\t2\t5\t874965758\nx\t3\t4\t874965758\n"), r"line 2: the user id is not a whole number: 'x'$"),
    ("ml-100k", "", ("u.data", "1\t2\t5\t87496.5\n"), r"line 1: the timestamp is not a whole number: '87496.5'$"),
    ("ml-100k", "", ("u.data", "1\t2\tnan\t874965758\n"), r"line 1: the rating is not a finite number: 'nan'$"),
    ("ml-100k", "", ("u.data", ""), r"u\.data: no ratings; a u\.data row is user id \| item id \| rating \| timestamp$"),
    ("ml-100k", "", ("u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                               "2|GoldenEye (1995)|01-Jan-1995||http://x|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"),
     r"u\.item: line 2: 23 fields separated by '\|', a u\.item row has 24"),
    ("ml-100k", "", ("u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|yes\n"),
     r"u\.item: line 1: the 'Western' genre flag \(field 24\) is not 0 or 1: 'yes'$"),
    ("ml-100k", "", ("u.genre", "unknown|0\nAction|0\n"), r"u\.genre: line 2: genre index 0 is given twice$"),
    ("ml-100k", "u1.test", None, r"csv:.*u1\.test: u1\.test is the test half of a predefined ml-100k split; "
                                 r"point at u1\.base, which reads u1\.test beside it as its test split$"),
    ("ml-100k", "u2.base", None, r"u2\.base is the training half of a predefined ml-100k split, and its test half "
                                 r"u2\.test is not beside it$"),
    ("ml-100k", "u.item", None, r"u\.item holds no ratings; point at u\.data or the folder holding it \(ml-100k\)$"),
    ("ml-1m", "", ("ratings.dat", "1::1193::5::978300760\n1::661::3\n"),
     r"ratings\.dat: line 2: 3 fields separated by '::'; ml-1m/ml-10m ratings rows have 4: UserID::MovieID::Rating::Timestamp$"),
    ("ml-1m", "", ("ratings.dat", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"), r"ratings\.dat: line 1: 1 fields"),
    ("ml-1m", "", ("movies.dat", "1::Toy Story (1995)::Animation\n2::Jumanji (1995)\n"),
     r"movies\.dat: line 2: 2 fields separated by '::', a movies\.dat row has 3: MovieID::Title::Genres$"),
    ("ml-1m", "", ("movies.dat", "one::Toy Story (1995)::Animation\n"), r"movies\.dat: line 1: the movie id is not a whole number"),
    ("ml-1m", "users.dat", None, r"users\.dat holds no ratings; point at ratings\.dat or the folder holding it"),
])
def test_bad_movielens_files_are_one_line_user_errors_naming_file_and_line(tmp_path, layout, pointer, change, message):
    from helpers import write_ml_100k, write_ml_1m

    folder = tmp_path / layout
    (write_ml_100k if layout == "ml-100k" else write_ml_1m)(folder, ML_RATINGS, ML_MOVIES)
    if layout == "ml-100k":
        (folder / "u1.test").write_text("1\t1\t5\t874965758\n")
    if change:
        (folder / change[0]).write_text(change[1], encoding="latin-1")
    with pytest.raises(UserError, match=message) as caught:
        recsys.load_csv(str(folder / pointer), seed=0)
    assert "\n" not in str(caught.value)


def test_a_column_setting_for_a_headerless_download_is_refused_not_ignored(tmp_path):
    from helpers import write_ml_1m

    folder = write_ml_1m(tmp_path / "ml-1m", ML_RATINGS, ML_MOVIES)
    with pytest.raises(UserError, match=r"ratings\.dat has no header row, so data\.recsys\.rating_column names no column "
                                        r"\(its columns are UserID::MovieID::Rating::Timestamp\); drop the setting"):
        recsys.load_csv(str(folder), seed=0, names={**recsys.column_names(), "rating": "stars"})
    (folder / "u.data").write_text("")
    with pytest.raises(UserError, match=r"the folder holds both u\.data and ratings\.dat; point at one of them"):
        recsys.load_csv(str(folder), seed=0)


def test_bad_sources_are_refused(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        recsys.load_raw(f"csv:{tmp_path / 'missing.csv'}", seed=0)
    with pytest.raises(UserError, match="train.csv and test.csv"):
        recsys.load_raw(f"csv:{tmp_path}", seed=0)
    with pytest.raises(UserError, match="movielens"):
        recsys.load_raw("tfds:mnist", seed=0)
    with pytest.raises(UserError, match="reads"):
        recsys.load_raw("folder:x", seed=0)


# -------------------------------------------------------------------------------------- tfds


def test_tfds_movielens_loads_through_real_tfds_code_offline():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    ratings = [("1", "10", 4.0, 100, [0, 7]), ("1", "11", 2.0, 300, [4]), ("1", "12", 5.0, 200, []),
               ("2", "10", 3.0, 50, [0, 7]), ("2", "12", 1.0, 60, [])]
    titles = {"10": "Toy Story (1995)", "11": "Heat (1995)", "12": "Fargo (1996)"}

    def as_dataset(self, *args, **kwargs):
        def examples():
            for user, movie, rating, timestamp, genres in ratings:
                yield {"user_id": user, "movie_id": movie, "user_rating": rating, "timestamp": timestamp,
                       "movie_title": titles[movie], "movie_genres": np.array(genres, np.int64),
                       "bucketized_user_age": 25.0, "raw_user_age": 25.0, "user_gender": True,
                       "user_occupation_label": 1, "user_occupation_text": "artist", "user_zip_code": "0"}

        return tf.data.Dataset.from_generator(examples, output_signature=self.info.features.get_tensor_spec())

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        raw = recsys.load_tfds("movielens/100k-ratings", seed=0)
    assert raw.split == "latest"
    assert sorted(zip(raw.test.users.tolist(), raw.test.items.tolist())) == [("1", "11"), ("2", "12")]
    assert raw.item_titles["12"] == "Fargo (1996)"
    assert raw.item_genres["10"] == ["Action", "Drama"]
    assert raw.genre_names[4] == "Comedy" and len(raw.genre_names) == 21


def test_a_folder_with_only_half_a_split_is_refused_though_it_holds_ratings_csv(tmp_path):
    from kerasuite.errors import UserError

    write(tmp_path / "ratings.csv", "user_id,item_id\nu1,a\nu1,b\n")
    write(tmp_path / "train.csv", "user_id,item_id\nu1,a\n")
    with pytest.raises(UserError, match="no test.csv"):
        recsys.load_csv(str(tmp_path), seed=0)
