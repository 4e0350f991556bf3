"""Stage 2 never reads the texts a search scores on: corpus lines whose text is a dev or test
text are dropped before the shards are made (a review may occur in both the training and the
test file of a public dataset: book_review has 370 such train rows), unless the space says
``stage2.keep_eval_text: true``."""

from __future__ import annotations

import pytest
from space_helpers import base_space, write_space

from uer_ray.tune import load_space
from uer_ray.tune.domains import SpaceError
from uer_ray.tune.prepare import stage2_corpus


def _rows(path: str) -> list[str]:
    return [line.rstrip("\n").split("\t", 1)[1] for line in open(path, encoding="utf-8")][1:]


@pytest.mark.parametrize("fmt", ["cls", "text"])
def test_corpus_lines_equal_to_a_dev_or_test_text_are_dropped(tmp_path, fmt, capsys):
    s = base_space(tmp_path)
    files = s["data"]
    dev, test = _rows(files["dev"]), _rows(files["test"])
    own = ["一段只在语料里的评论", "另一段评论，也不在评测集里"]
    texts = [own[0], dev[3], own[1], test[7], f"  {test[9]}  "]  # spaces around count as equal
    lines = [f"1\t{t}" if fmt == "cls" else t for t in texts]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s["stage2"].update(corpus=str(corpus), format=fmt)
    space = load_space(write_space(tmp_path, s), check_builds=False)
    assert space.stage2.keep_eval_text is False
    kept = stage2_corpus(space, corpus, files, tmp_path / "out")
    assert kept != corpus
    left = kept.read_text(encoding="utf-8").splitlines()
    assert left == [lines[0], lines[2]]
    assert "2 lines; 3 dropped" in capsys.readouterr().out

    # a corpus with nothing to drop is used as it is
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")
    assert stage2_corpus(space, clean, files, tmp_path / "out") == clean


def test_keep_eval_text_is_a_switch(tmp_path):
    s = base_space(tmp_path)
    s["stage2"]["keep_eval_text"] = True
    assert load_space(write_space(tmp_path, s), check_builds=False).stage2.keep_eval_text
    s["stage2"]["keep_eval_text"] = "yes"
    with pytest.raises(SpaceError, match="keep_eval_text: true or false"):
        load_space(write_space(tmp_path, s), check_builds=False)
    del s["stage2"]["keep_eval_text"]
    s["stage2"]["keep_eval_txt"] = True
    with pytest.raises(SpaceError, match="did you mean 'keep_eval_text'"):
        load_space(write_space(tmp_path, s), check_builds=False)


def test_unlabelled_format_keeps_only_the_texts(tmp_path):
    """A labelled file read as unlabelled text: the labels (and the header) never reach the
    shards, and lines equal to a dev or test text still go."""
    s = base_space(tmp_path)
    files = s["data"]
    test = _rows(files["test"])
    corpus = tmp_path / "labelled.tsv"
    corpus.write_text(f"label\ttext_a\n1\t好看的书\n0\t{test[0]}\n0\t太差了\n", encoding="utf-8")
    s["stage2"].update(corpus=str(corpus), format="unlabelled")
    space = load_space(write_space(tmp_path, s), check_builds=False)
    out = stage2_corpus(space, corpus, files, tmp_path / "out")
    assert out.read_text(encoding="utf-8").splitlines() == ["好看的书", "太差了"]
    s["stage2"]["format"] = "labeled"
    with pytest.raises(SpaceError, match="'unlabelled'"):
        load_space(write_space(tmp_path, s), check_builds=False)
