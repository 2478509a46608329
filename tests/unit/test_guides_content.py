"""Guides in the editors' content: the sample guides load in ten languages, and every mistake an editor can make
in a guide (no steps, a picture missing or too large or not a picture, a link that is not https, a loop of guides,
a reference to nothing) is reported by `qcbot content check` with file, line and what to write instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from storage.content import ContentError, load_content, translation_gaps
from storage.content.guides import MAX_PICTURE_BYTES
from tests.conftest import SAMPLE_CONTENT

GUIDE = """id: {id}
title: Guida di prova
audience: Chi prova
needs: Niente
minutes: 5
{extra}steps:
  - text: Primo passo
    link: https://example.org
  - text: Secondo passo
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, copy)
    return copy


def problems_of(folder: Path) -> list:
    with pytest.raises(ContentError) as caught:
        load_content(folder)
    return caught.value.problems


def write(folder: Path, name: str, text: str) -> None:
    (folder / "guides" / f"{name}.yaml").write_text(text, encoding="utf-8")


def test_the_four_sample_guides_load_with_their_pictures_in_every_language(sample_content):
    assert set(sample_content.guides) == {"spid-cie", "pagopa", "mm-casa-portal", "maintenance-request"}
    assert all(step.picture is None or step.picture.is_file() for guide in sample_content.guides.values() for step in guide.steps)
    assert sample_content.guides["mm-casa-portal"].first == ("spid-cie",)
    gaps = translation_gaps(sample_content)
    assert not [where for fields in gaps.values() for where in fields if "/guides/" in where]


def test_a_guide_without_steps(folder):
    write(folder, "vuota", "id: vuota\ntitle: Vuota\naudience: Tutti\nneeds: Niente\nminutes: 5\nsteps: []\n")
    [problem] = problems_of(folder)
    assert problem.file.endswith("guides/vuota.yaml") and problem.line == 6
    assert problem.message == "the guide has no steps" and "- text:" in problem.hint


def test_a_picture_that_is_missing_too_large_or_not_a_picture(folder):
    pictures = folder / "guides" / "pictures"
    (pictures / "huge.png").write_bytes(b"\x89PNG" + b"0" * (MAX_PICTURE_BYTES + 1))
    (pictures / "notes.png").write_text("not a picture", encoding="utf-8")
    Image.new("RGB", (40, 40)).save(pictures / "photo.gif")
    write(folder, "foto", GUIDE.format(id="foto", extra="").replace(
        "  - text: Secondo passo\n",
        "  - text: Secondo passo\n    picture: assente.png\n  - text: Terzo\n    picture: huge.png\n"
        "  - text: Quarto\n    picture: notes.png\n  - text: Quinto\n    picture: photo.gif\n"))
    problems = problems_of(folder)
    by_line = {problem.line: problem for problem in problems}
    assert by_line[10].message == 'the picture "assente.png" is missing' and "guides/pictures/" in by_line[10].hint
    assert by_line[12].message == 'the picture "huge.png" is too large (1000 KB)' and "at most 1000 KB" in by_line[12].hint
    assert by_line[14].message == '"notes.png" is not a picture' and "PNG or JPEG" in by_line[14].hint
    assert by_line[16].message == 'the picture "photo.gif" is GIF'
    assert all(problem.field.startswith("steps[") and problem.field.endswith("].picture") for problem in problems)


def test_a_link_that_is_not_https(folder):
    write(folder, "link", GUIDE.format(id="link", extra="").replace("https://example.org", "http://example.org"))
    [problem] = problems_of(folder)
    assert (problem.line, problem.field) == (8, "steps[0].link")
    assert problem.message == '"http://example.org" is not a secure link' and '"https://example.org"' in problem.hint


def test_a_loop_of_guides_is_reported_once_with_where_to_cut_it(folder):
    write(folder, "uno", GUIDE.format(id="uno", extra="first: [due]\n"))
    write(folder, "due", GUIDE.format(id="due", extra="first: [tre]\n"))
    write(folder, "tre", GUIDE.format(id="tre", extra="first: [uno]\n"))
    [problem] = problems_of(folder)
    assert problem.file.endswith("guides/due.yaml") and problem.line == 6 and problem.field == "first[0]"
    assert problem.message == 'the guides form a loop: "due" → "tre" → "uno" → "due"'
    assert problem.hint == 'remove "tre" from "first" here, or "due" from "first" in uno.yaml'


def test_references_to_faq_services_and_guides_that_do_not_exist(folder):
    write(folder, "rif", GUIDE.format(id="rif", extra="first: [spid]\nfaq: [pay-rnet]\nservices: [omero-digital-desk]\n"))
    problems = problems_of(folder)
    assert [(problem.field, problem.message) for problem in problems] == [
        ("first[0]", 'there is no guide "spid"'), ("faq[0]", 'there is no FAQ entry "pay-rnet"'),
    ]
    assert 'did you mean "pay-rent"' in problems[1].hint


def test_content_check_prints_file_line_and_hint(folder, capsys):
    write(folder, "vuota", "id: vuota\ntitle: Vuota\naudience: Tutti\nneeds: Niente\nminutes: 5\n")
    with pytest.raises(SystemExit) as exit_code:
        main(["content", "check", str(folder)])
    assert exit_code.value.code == 1
    assert "content/guides/vuota.yaml:1: steps: the guide has no steps (add \"steps:\"" in capsys.readouterr().out


def test_content_check_counts_the_guides(capsys):
    main(["content", "check", str(SAMPLE_CONTENT)])
    assert "4 guides" in capsys.readouterr().out


@pytest.mark.parametrize(("query", "language", "guide"), [
    ("SPID", "it", "spid-cie"), ("CIE", "it", "spid-cie"), ("ISEE", "it", "spid-cie"), ("pagare", "it", "pagopa"),
    ("bolletta", "it", "pagopa"), ("pagoPA", "ar", "pagopa"), ("فاتورة", "ar", "pagopa"), ("缴费", "zh", "pagopa"),
    ("factura", "es", "pagopa"), ("documenti MM Casa", "it", "mm-casa-portal"), ("riparazione", "uk", "maintenance-request"),
])
def test_search_finds_the_guides_in_any_language(sample_content, query, language, guide):
    from storage.domain.search import search

    assert ("guide", guide) in [(hit.kind, hit.id) for hit in search(sample_content, query, language)]
