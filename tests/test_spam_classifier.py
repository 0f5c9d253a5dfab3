"""The learned spam classifier: the packaged artifact, online learning, persistence.

No database or Redis: these tests use no conftest fixtures. The retraining test needs
../shared/data and skips without it; everything else needs only the packaged artifact.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training.spam_data import ENGLISH_NEWS_HAM, VIETNAMESE_HAM
from workers.spam import classifier as classifier_module
from workers.spam.classifier import (
    ARTIFACT_NAME,
    MODEL_DIR,
    PROVENANCE_NAME,
    SpamClassifier,
    logit,
    ngram_buckets,
    normalize,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"

ENGLISH_SPAM = (
    "Check out my channel http://bit.ly/xyz subscribe for free iPhone!!!",
    "WIN a FREE prize! Text CLAIM to 80082 now, call 09061234567",
    "Subscribe to my channel please, I make music videos www.youtube.com/user/xyz",
)
ENGLISH_HAM = (
    "I disagree with the mayor, the bus lanes were a good idea.",
    "Great article, thanks for explaining the new tax rules so clearly.",
    "Does anyone know when the new bridge will open?",
    "Interesting read, but the figures in the second paragraph look wrong.",
    "My thoughts are with the families of the victims.",
    "I think the referee made the wrong call in the second half.",
)
# Ordinary Vietnamese and short English news comments: one list, shared with the report
# (training/spam_data.py). The English ones were written before the model that now scores
# them was trained; known misses stay in the list, marked, rather than being swapped out.
KNOWN_ENGLISH_MISSES = {
    # "please", "follow" and "month" are YouTube ("follow me") and SMS ("per month")
    # spam vocabulary; about 0.57 with the packaged model, so it would be held, not rejected.
    "Please follow up on this story next month.": "polite request in spam vocabulary",
}
VIETNAMESE_SPAM = "Liên hệ zalo 0912345678 để nhận quà miễn phí"
VIETNAMESE_SPAM_VARIANT = "Nhận quà miễn phí, liên hệ zalo ngay nhé"


@pytest.fixture(scope="module")
def model() -> SpamClassifier:
    return SpamClassifier.load()


def test_packaged_artifact_is_next_to_the_module_and_small() -> None:
    assert Path(classifier_module.__file__).resolve().parent / "model" == MODEL_DIR
    artifact = MODEL_DIR / ARTIFACT_NAME
    assert artifact.stat().st_size < 1_000_000
    provenance = json.loads((MODEL_DIR / PROVENANCE_NAME).read_text(encoding="utf-8"))
    assert provenance["artifact_sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    for source in ("youtube-spam-collection", "sms-spam-collection"):
        assert provenance["sources"][source]["commit"]
        assert provenance["sources"][source]["license"]


def test_runtime_packages_never_import_the_training_code() -> None:
    # training/ (and scikit-learn, a dev dependency) is not installed with the service.
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted((root / "service").rglob("*.py")) + sorted((root / "workers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            offenders += [
                f"{path.relative_to(root)}: {name}"
                for name in names
                if name.split(".")[0] in ("training", "sklearn")
            ]
    assert offenders == []


def test_packaged_artifact_loads_fast_without_shared_data(
    model: SpamClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any attempt to read outside the package (e.g. ../shared) during load fails the test.
    real_read_bytes = Path.read_bytes

    def guarded_read_bytes(self: Path) -> bytes:
        assert MODEL_DIR in self.resolve().parents, f"load() read {self}"
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", guarded_read_bytes)
    start = time.perf_counter()
    loaded = SpamClassifier.load()
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5  # ~5 ms measured; generous for slow CI
    digest = hashlib.sha256(real_read_bytes(MODEL_DIR / ARTIFACT_NAME)).hexdigest()
    assert loaded.version == f"nb-char-1.0+{digest[:12]}"
    assert re.fullmatch(r"nb-char-1\.0\+[0-9a-f]{12}", model.version)


def test_probabilities_are_in_unit_interval(model: SpamClassifier) -> None:
    texts = [
        "",
        "   \n\t ",
        "a",
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "😀🔥💯" * 50,
        "free " * 5000,
        "x" * 20000,
        "\u200bfr\u200bee\ufeff",
        *ENGLISH_SPAM,
        *VIETNAMESE_HAM,
    ]
    probabilities = model.probabilities(texts)
    assert len(probabilities) == len(texts)
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in probabilities)
    assert probabilities == [model.probability(t) for t in texts]


@pytest.mark.parametrize("text", ENGLISH_SPAM)
def test_obvious_english_spam_scores_high(model: SpamClassifier, text: str) -> None:
    assert model.probability(text) > 0.5


@pytest.mark.parametrize("text", ENGLISH_HAM)
def test_ordinary_english_comments_score_low(model: SpamClassifier, text: str) -> None:
    assert model.probability(text) < 0.5


@pytest.mark.parametrize("text", VIETNAMESE_HAM)
def test_ordinary_vietnamese_comments_score_below_half(model: SpamClassifier, text: str) -> None:
    assert model.probability(text) < 0.5


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(t, marks=pytest.mark.xfail(reason=KNOWN_ENGLISH_MISSES[t], strict=False))
        if t in KNOWN_ENGLISH_MISSES
        else t
        for t in ENGLISH_NEWS_HAM
    ],
)
def test_ordinary_english_news_comments_score_below_half(model: SpamClassifier, text: str) -> None:
    # The classifier alone; before discussion ham was added, polite short comments like
    # the first two scored about 0.51.
    assert model.probability(text) < 0.5


def test_english_news_comments_mostly_score_well_below_half(model: SpamClassifier) -> None:
    probabilities = model.probabilities(ENGLISH_NEWS_HAM)
    assert len(KNOWN_ENGLISH_MISSES) <= 1
    assert float(np.median(probabilities)) < 0.1
    assert max(probabilities) < 0.7  # even the known miss is held, never near auto-reject


def test_no_known_features_scores_the_class_prior(model: SpamClassifier) -> None:
    prior = json.loads((MODEL_DIR / PROVENANCE_NAME).read_text(encoding="utf-8"))["class_prior"]
    assert model.prior_probability == pytest.approx(prior, abs=1e-12)
    hp = model.hyperparameters

    def buckets(text: str) -> np.ndarray:
        return ngram_buckets(text, hp["bits"], hp["min_n"], hp["max_n"], hp["binary"])

    for text in ("", "  "):
        assert model.evidence(text) == (0.0, 0)
        assert model.probability(text) == pytest.approx(prior, abs=1e-12)
    # Lone letters of scripts absent from the training data: their few buckets are known
    # only by hash collision, so some of them have no known bucket at all; those score
    # exactly the prior.
    letters = "ყქწჭღჟᚠᚢᚦᚨꦄꦆꦈᐁᐃᐅⴰⴱⴲ"
    unknown = [ch for ch in letters if not model._known[buckets(ch)].any()]
    assert unknown
    for text in unknown:
        assert model.evidence(text) == (0.0, 0)
        assert model.probability(text) == pytest.approx(prior, abs=1e-12)
    # A whole sentence in an unseen script: its known buckets are hash collisions, about
    # as many as the share of occupied buckets, and it scores near the prior.
    georgian = "გამარჯობა ყველას"
    occupancy = float(model._known.mean())
    assert model.evidence(georgian)[1] < (occupancy + 0.15) * len(buckets(georgian))
    assert abs(model.probability(georgian) - prior) < 0.15


def test_logit() -> None:
    assert logit(0.5) == 0.0
    assert logit(0.9) == pytest.approx(math.log(9))
    assert logit(0.1) == pytest.approx(-math.log(9))
    # 0 and 1 are clipped: a classifier that is certain still combines with the signals
    assert logit(0.0) == pytest.approx(math.log(1e-6 / (1 - 1e-6)))
    assert logit(1.0) == pytest.approx(-logit(0.0))


def test_learn_moves_a_similar_text(model: SpamClassifier) -> None:
    learner = model.copy()
    before = learner.probability(VIETNAMESE_SPAM_VARIANT)
    unrelated_before = learner.probabilities(VIETNAMESE_HAM)
    for _ in range(3):
        learner.learn(VIETNAMESE_SPAM, is_spam=True)
    after = learner.probability(VIETNAMESE_SPAM_VARIANT)
    assert after > before + 0.3
    assert after > 0.9
    assert logit(after) - logit(before) > 2.0
    # Unrelated Vietnamese comments move much less and stay below 0.5. They do move a
    # little: with only Vietnamese *spam* labelled, shared Vietnamese n-grams (diacritic
    # syllables) lean spam until Vietnamese ham is labelled too.
    unrelated_after = learner.probabilities(VIETNAMESE_HAM)
    assert all(p < 0.5 for p in unrelated_after)
    assert max(a - b for a, b in zip(unrelated_after, unrelated_before, strict=True)) < 0.2
    assert learner.version == f"{model.version}+3labels"


def test_learn_as_ham_lowers_a_similar_text(model: SpamClassifier) -> None:
    learner = model.copy()
    text = "Thanks for the update, very helpful."
    before = learner.probability("Thanks for the update, really helpful!")
    learner.learn(text, is_spam=False)
    after = learner.probability("Thanks for the update, really helpful!")
    # In log-odds: the text now starts well below 0.5 (about 0.3), where a fixed step in
    # probability would ask for more than the same evidence gives.
    assert logit(after) < logit(before) - 0.75


def test_learn_rejects_bad_weights(model: SpamClassifier) -> None:
    learner = model.copy()
    for weight in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            learner.learn("spam", is_spam=True, weight=weight)
    assert learner.version == model.version


def test_labels_commute_so_workers_agree(model: SpamClassifier) -> None:
    labels = [(VIETNAMESE_SPAM, True), (VIETNAMESE_HAM[0], False), (ENGLISH_SPAM[0], True)]
    a, b = model.copy(), model.copy()
    for text, is_spam in labels:
        a.learn(text, is_spam)
    for text, is_spam in reversed(labels):
        b.learn(text, is_spam)
    probe = [VIETNAMESE_SPAM_VARIANT, *VIETNAMESE_HAM, *ENGLISH_HAM]
    assert a.probabilities(probe) == b.probabilities(probe)
    assert a.version == b.version


def test_copy_is_independent(model: SpamClassifier) -> None:
    probe = [VIETNAMESE_SPAM_VARIANT, *ENGLISH_HAM]
    original_scores = model.probabilities(probe)
    original_version = model.version
    clone = model.copy()
    clone.learn(VIETNAMESE_SPAM, is_spam=True, weight=5.0)
    clone.calibration["temperature"] *= 2
    clone.hyperparameters["alpha"] = 123.0
    assert model.probabilities(probe) == original_scores
    assert model.version == original_version
    assert clone.probabilities(probe) != original_scores
    # And the other way round: learning on the original leaves an earlier copy alone.
    other = model.copy()
    before = other.probabilities(probe)
    model_copy = model.copy()
    model_copy.learn(ENGLISH_HAM[0], is_spam=True)
    assert other.probabilities(probe) == before


def test_save_load_round_trip(model: SpamClassifier, tmp_path: Path) -> None:
    probe = [VIETNAMESE_SPAM_VARIANT, *VIETNAMESE_HAM, *ENGLISH_SPAM, *ENGLISH_HAM, ""]
    artifact = model.save(tmp_path / "plain")
    assert artifact == tmp_path / "plain" / ARTIFACT_NAME
    reloaded = SpamClassifier.load(tmp_path / "plain")
    assert reloaded.probabilities(probe) == model.probabilities(probe)
    # Same counts, same bytes: the version of an unchanged model survives a save.
    assert reloaded.version == model.version

    learner = model.copy()
    learner.learn(VIETNAMESE_SPAM, is_spam=True, weight=0.3)  # fractional: float64 path
    learner.learn(ENGLISH_HAM[0], is_spam=False)
    saved = learner.save(tmp_path / "learned")
    reloaded = SpamClassifier.load(saved)  # the .npz path works as well as the folder
    assert reloaded.probabilities(probe) == learner.probabilities(probe)
    assert reloaded.version != model.version
    provenance = json.loads((tmp_path / "learned" / PROVENANCE_NAME).read_text("utf-8"))
    assert provenance["derived_from"] == f"{model.version}+2labels"
    assert provenance["version"] == reloaded.version


def test_hashing_is_identical_across_processes() -> None:
    text = "Liên hệ zalo 0912345678 http://bit.ly/abc để nhận quà!"
    code = (
        "from workers.spam.classifier import ngram_buckets;"
        f"print(ngram_buckets({text!r}, 18, 1, 5, True).tolist())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    assert json.loads(out) == ngram_buckets(text, 18, 1, 5, True).tolist()


def test_normalize() -> None:
    assert normalize("  Xin\u00a0CHÀO \u200b\n bạn  ") == "xin chào bạn"
    # NFD input (combining marks) normalises to the same text as NFC input.
    assert normalize("Vie\u0302\u0323t Nam") == normalize("Việt Nam")
    assert normalize("see http://www.Example.com/a/b?c=1 now") == "see \ue000 example.com now"
    assert normalize("go to bit.ly/xyz") == "go to \ue000 bit.ly"
    assert normalize("call 0912 345 678") == "call 0000 000 000"


def test_train_ignores_unseen_features() -> None:
    examples = [
        ("buy cheap pills now, free offer", True),
        ("cheap pills, buy now", True),
        ("hello friend, how are you today", False),
        ("see you at dinner, friend", False),
    ]
    model = SpamClassifier.train(examples, bits=16, min_count=1)
    assert model.probability("cheap pills for you") > model.probability("how are you, friend")
    # Nothing of this script was seen, so no evidence either way.
    assert model.evidence("ყველას") == (0.0, 0)
    assert model.probability("ყველას") == pytest.approx(0.5)  # identity calibration
    with pytest.raises(TypeError):
        SpamClassifier.train(examples, no_such_option=1)


@pytest.mark.slow
def test_retrain_from_shared_data_meets_floors_and_matches_the_artifact(
    model: SpamClassifier,
) -> None:
    for folder in ("youtube-spam-collection", "sms-spam-collection", "jigsaw-toxic-comment-sample"):
        if not (DATA_DIR / folder).is_dir():
            pytest.skip(f"{DATA_DIR / folder} is absent")
    from training import spam, spam_data

    corpus = spam_data.load_corpus(DATA_DIR, tweets=False)
    assert set(corpus.discussion) == set(spam_data.DISCUSSION_TRAIN)
    assert set(corpus.heldout) == set(spam_data.DISCUSSION_HELDOUT)
    config = spam.Config("packaged", dict(model.hyperparameters))
    # The held-out discussion files never reach training, not even the packaged model's.
    trained_texts = {text for text, _, _ in spam.training_set(corpus, (), config)}
    heldout_texts = {text for texts in corpus.heldout.values() for text in texts}
    assert not trained_texts & heldout_texts
    rot = spam.rotations(corpus, config)
    summary = spam.summarise(rot)
    precision_05, recall_05, _ = summary.at[0.5]
    precision_09, recall_09, _ = summary.at[0.9]
    # Floors well under the reported numbers (docs/spam-classifier.md), above chance.
    assert summary.auc > 0.9
    assert precision_05 > 0.85
    assert recall_05 > 0.45
    assert precision_09 > 0.95
    assert recall_09 > 0.25
    # Out-of-fold discussion comments (each scored by the rotation that held it out).
    validation = spam.out_of_fold(rot)
    assert np.mean(validation["train.a.ok.1k.csv"] >= 0.5) < 0.03
    # The committed artifact is what this code trains from this data.
    retrained = spam.fit_final(corpus, config, rot)
    assert np.array_equal(retrained._spam, model._spam)
    assert np.array_equal(retrained._ham, model._ham)
    assert retrained.calibration == pytest.approx(model.calibration, rel=1e-6)
    # Held-out discussion: few false alarms, alone and combined with the text signals.
    for name, texts in corpus.heldout.items():
        alone = np.array(model.probabilities(texts))
        assert np.mean(alone >= 0.5) < 0.02, name
        assert np.mean(spam.combined(alone, texts, new_author=True) >= 0.9) < 0.005, name
