"""Measure the unaccented-Vietnamese routing rule on the hand-made sets in ``tests/data``.

``python -m training.vi_router_eval`` chooses the word rule's share on the ``tune``
rows (Vietnamese dev set without diacritics, and the made English/other set), then
reports routing before (letters and py3langid only) and after (with the rule) on the
``report`` rows, and writes ``docs/language-routing.md``. It reads only ``tests/data``.

A text counts as routed to Vietnamese when the detector says ``vi`` *and* reliable:
an unreliable call is scored like English by the pipeline (``workers/pipeline/stages.py``).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from workers.pipeline.language import VI_WORD_SHARE, LanguageDetector

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DOC = ROOT / "docs" / "language-routing.md"

#: Shares tried on the tune rows: among those with no false positive there, the ones
#: with the best recall tie, and the largest (most cautious) of them is chosen.
SHARE_GRID = tuple(round(0.05 * i, 2) for i in range(2, 13))


@dataclass(frozen=True)
class Row:
    text: str
    #: "vi" for dev-set rows, the row's language for the router set
    lang: str
    split: str
    diacritics: bool
    style: str
    label: str


def load_rows(data: Path = DATA) -> list[Row]:
    """The Vietnamese dev set and the English/other router set, as one list."""
    rows: list[Row] = []
    with (data / "vi_dev.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(
                Row(r["text"], "vi", r["split"], r["diacritics"] == "1", r["style"], r["label"])
            )
    with (data / "en_router.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(Row(r["text"], r["lang"], r["split"], False, "standard", ""))
    return rows


def routed_vi(detector: LanguageDetector) -> Callable[[str], bool]:
    """True when the pipeline would send the text to the Vietnamese scorer."""

    def route(text: str) -> bool:
        language = detector.detect(text)
        return language.code == "vi" and language.reliable

    return route


@dataclass(frozen=True)
class Rate:
    hits: int
    total: int

    @property
    def share(self) -> float:
        return self.hits / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.share:.1%} ({self.hits}/{self.total})"


def rate(route: Callable[[str], bool], rows: Iterable[Row]) -> Rate:
    chosen = list(rows)
    return Rate(sum(1 for r in chosen if route(r.text)), len(chosen))


def unaccented_vi(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.lang == "vi" and not r.diacritics]


def others(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.lang != "vi"]


def choose_share(rows: Sequence[Row]) -> tuple[float, list[tuple[float, Rate, Rate]]]:
    """The share chosen on the tune rows (see ``SHARE_GRID``), and the whole grid."""
    tune = [r for r in rows if r.split == "tune"]
    grid = []
    detector = LanguageDetector()  # one py3langid model for the whole grid
    route = routed_vi(detector)
    for share in SHARE_GRID:
        detector.vi_word_share = share
        grid.append((share, rate(route, unaccented_vi(tune)), rate(route, others(tune))))
    clean = [(recall.hits, share) for share, recall, fp in grid if fp.hits == 0]
    if not clean:
        return max(SHARE_GRID), grid
    best = max(hits for hits, _ in clean)
    return max(share for hits, share in clean if hits == best), grid


def report_table(rows: Sequence[Row], share: float) -> list[tuple[str, Rate, Rate]]:
    """Per slice of the report rows: routed to Vietnamese before and after the rule."""
    report = [r for r in rows if r.split == "report"]
    before = routed_vi(LanguageDetector(vi_word_share=None))
    after = routed_vi(LanguageDetector(vi_word_share=share))
    vi_plain = unaccented_vi(report)
    slices: list[tuple[str, list[Row]]] = [
        ("Vietnamese, no diacritics (recall)", vi_plain),
        ("  of which standard spelling", [r for r in vi_plain if r.style == "standard"]),
        ("  of which chat spelling", [r for r in vi_plain if r.style == "chat"]),
        ("  of which mixed with English", [r for r in vi_plain if r.style == "mixed_en"]),
        ("  of which toxic", [r for r in vi_plain if r.label not in ("clean", "critical")]),
        (
            "Vietnamese with diacritics (recall)",
            [r for r in report if r.lang == "vi" and r.diacritics],
        ),
        ("English (false positives)", [r for r in report if r.lang == "en"]),
        (
            "Indonesian/Malay/Tagalog (false positives)",
            [r for r in report if r.lang in ("id", "ms", "tl")],
        ),
    ]
    return [(name, rate(before, chosen), rate(after, chosen)) for name, chosen in slices]


def misses(rows: Sequence[Row], share: float, split: str) -> tuple[list[str], list[str]]:
    """Unaccented Vietnamese not routed vi, and others routed vi, in one split."""
    route = routed_vi(LanguageDetector(vi_word_share=share))
    chosen = [r for r in rows if r.split == split]
    return (
        [r.text for r in unaccented_vi(chosen) if not route(r.text)],
        [r.text for r in others(chosen) if route(r.text)],
    )


def render(
    share: float,
    grid: Sequence[tuple[float, Rate, Rate]],
    table: Sequence[tuple[str, Rate, Rate]],
    report_misses: tuple[list[str], list[str]],
) -> str:
    lines = [
        "| share | tune: unaccented Vietnamese routed vi | tune: English/other routed vi |",
        "|---|---|---|",
    ]
    lines += [f"| {s:.2f}{' (chosen)' if s == share else ''} | {r} | {f} |" for s, r, f in grid]
    grid_md = "\n".join(lines)
    lines = [
        "| report rows | before (letters + py3langid) | after (+ word rule) |",
        "|---|---|---|",
    ]
    lines += [f"| {name.strip()} | {b} | {a} |" for name, b, a in table]
    table_md = "\n".join(lines)
    missed, false = report_misses
    missed_md = "\n".join(f"- `{t}`" for t in missed) or "- none"
    false_md = "\n".join(f"- `{t}`" for t in false) or "- none"
    return f"""# Language routing: Vietnamese without diacritics

Written by `python -m training.vi_router_eval` from `tests/data/vi_dev.csv` and
`tests/data/en_router.csv` (both hand-made by this project's developers; see
`tests/data/README.md`). Do not edit the figures by hand; rerun the command.

## The rule
`workers/pipeline/language.py` decides in this order:
1. **Letters.** A word with a letter only Vietnamese uses (ă đ ơ ư, a hook or dot
   below, a tone on â ê ô ...) makes the text Vietnamese (two such words, or a fifth
   of the words). Mixed Vietnamese/English with diacritics is Vietnamese here.
2. **Unaccented words** (`method="unaccented_words"`), for texts the letters did
   not decide (a word with a Vietnamese letter counts as a strong word here, so
   partly accented typing is decided as a whole). Each word is looked up,
   lower-cased, in three lists written from the language (extended once from the
   tune rows; see Limits):
   *strong* Vietnamese words that are not English words or names an English comment
   about Vietnam carries (`khong`, `duoc`, `nguoi`, `cua`, `nhung`, `voi`, `roi`,
   `biet`, `nhieu`, `qua`, chat `ko`, `bik`, `cx`, `vcl` ...), a few pairs that count
   as one strong word (`cam on`, `bai viet`, `tac gia` ...), *weak* words that are
   also English words, abbreviations or name parts (`ban`, `la`, `me`, `cho`, `thi`,
   `gi`, `minh`, `dc`, `vs`, `j` ...; weight 0.5), and English function words
   (`the`, `and`, `is` ...). The text is Vietnamese, reliably, when it has at least one
   strong word, its weighted share of Vietnamese words is at least
   `VI_WORD_SHARE` = **{share:.2f}**, and the weighted Vietnamese count exceeds the
   English function words. A two-word `hay qua` is therefore Vietnamese while
   `Me and my friend la la land` and `The ban on cho was lifted` are not (no strong
   word, and outnumbered by English).
3. **py3langid** for the rest, as before (restricted to `CANDIDATES`; fewer than
   `min_words` words or a probability under 0.5 is an unreliable call, scored like
   English).

"Routed vi" below means `code == "vi"` and `reliable`: the comment is handled as
Vietnamese (the Vietnamese scorer where one is installed, `language_unsupported`
otherwise) instead of being scored by the English model.

## Choosing the share (tune rows only)
Among the shares with no false positive on the tune rows of the English/other set,
those with the best tune recall tie; the largest (most cautious) of them is chosen.

{grid_md}

## Before and after (report rows, never used for choosing)
{table_md}

Unaccented Vietnamese report rows still not routed vi:
{missed_md}

English/other report rows routed vi:
{false_md}

## Why false positives are the cheaper error
A Vietnamese comment routed as English is scored by the English model, which cannot
read it: insults pass as harmless (the "before" column above). An English comment
routed as Vietnamese goes to the Vietnamese scorer, whose encoder is multilingual and
reads English too. So the rule may lean towards Vietnamese; the share is still chosen
with no false positive on the tune rows.

## Limits
- Both sets are small and written by the same people who wrote the word lists; the
  English set is news-comment English with many Vietnamese names, not a sample of any
  real site. Treat the figures as a sanity check, not a guarantee.
- Unaccented text with only weak words (`me oi`, `la la`) is left to py3langid.
- The lists were written before the tune rows were run, then extended once from the
  tune rows' misses (`khoe`, `lon`, `vai`, `que`, `tet`, `toan`, `ky`, `dang ky`,
  `ung ho`, `nam nay`); the report rows were run after that and not used since.
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only, do not write the doc")
    parser.add_argument(
        "--show-tune-misses", action="store_true", help="list tune rows the rule gets wrong"
    )
    args = parser.parse_args(argv)
    rows = load_rows()
    share, grid = choose_share(rows)
    if share != VI_WORD_SHARE:
        print(f"note: the tune rows choose {share:.2f}; VI_WORD_SHARE ships {VI_WORD_SHARE:.2f}")
    if args.show_tune_misses:
        missed, false = misses(rows, share, "tune")
        print("tune misses:", *missed, sep="\n  ")
        print("tune false positives:", *false, sep="\n  ")
    table = report_table(rows, share)
    text = render(share, grid, table, misses(rows, share, "report"))
    print(text)
    if not args.no_write:
        DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
