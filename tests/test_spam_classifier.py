"""The learned spam classifier: the packaged artifact, online learning, persistence, training.

No database or Redis: these tests use no conftest fixtures. The retraining test needs
../shared/data and skips without it; everything else needs only the packaged artifact
(and scikit-learn, a dev dependency, to check the fit and the online step against).
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
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression, SGDClassifier

from config import Settings
from training import spam as training
from training.spam_data import ENGLISH_NEWS_HAM, VIETNAMESE_HAM
from workers.spam import classifier as classifier_module
from workers.spam.classifier import (
    ARTIFACT_NAME,
    MODEL_DIR,
    PROVENANCE_NAME,
    SpamClassifier,
    feature_value,
    hashed_features,
    logit,
    normalize,
)
from workers.spam.signals import SpamConfig, combine, text_signals

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
BAND = Settings.from_env(environ={}).spam_band

ENGLISH_SPAM = (
    "Check out my channel http://bit.ly/xyz subscribe for free iPhone!!!",
    "WIN a FREE prize! Text CLAIM to 80082 now, call 09061234567",
    "Subscribe to my channel please, I make music videos www.youtube.com/user/xyz",
    "Hey guys, check out my new video and subscribe, it would mean a lot!",
)
ENGLISH_HAM = (
    "I disagree with the mayor, the bus lanes were a good idea.",
    "Great article, thanks for explaining the new tax rules so clearly.",
    "Does anyone know when the new bridge will open?",
    "Interesting read, but the figures in the second paragraph look wrong.",
    "My thoughts are with the families of the victims.",
    "I think the referee made the wrong call in the second half.",
)
VIETNAMESE_SPAM = "Liên hệ zalo 0912345678 để nhận quà miễn phí"
VIETNAMESE_SPAM_VARIANT = "Nhận quà miễn phí, liên hệ zalo ngay nhé"


@pytest.fixture(scope="module")
def model() -> SpamClassifier:
    return SpamClassifier.load()


def combined(model: SpamClassifier, text: str, *, new_author: bool) -> float:
    """The service's spam probability for ``text`` (classifier and text signals)."""
    config = SpamConfig()
    signals = text_signals(text, config)
    return combine(model.probability(text), signals, {}, new_author=new_author, config=config)


def test_packaged_artifact_is_next_to_the_module_and_small() -> None:
    assert Path(classifier_module.__file__).resolve().parent / "model" == MODEL_DIR
    artifact = MODEL_DIR / ARTIFACT_NAME
    assert artifact.stat().st_size < 5_000_000  # the bound
    provenance = json.loads((MODEL_DIR / PROVENANCE_NAME).read_text(encoding="utf-8"))
    assert provenance["artifact_sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    for source in ("youtube-spam-collection", "sms-spam-collection"):
        assert provenance["sources"][source]["commit"]
        assert provenance["sources"][source]["license"]
    # The service's default band is the one the training run recommended.
    assert tuple(provenance["recommended_spam_band"]) == BAND


def test_runtime_packages_never_import_the_training_code() -> None:
    # training/ (and scikit-learn and scipy, dev dependencies) is not installed with the
    # service.
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
                if name.split(".")[0] in ("training", "sklearn", "scipy")
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
    assert elapsed < 0.5  # ~20 ms measured; generous for slow CI
    digest = hashlib.sha256(real_read_bytes(MODEL_DIR / ARTIFACT_NAME)).hexdigest()
    assert loaded.version == f"lr-hash-2.0+{digest[:12]}"
    assert re.fullmatch(r"lr-hash-2\.0\+[0-9a-f]{12}", model.version)


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
def test_obvious_english_spam_is_held_or_rejected(model: SpamClassifier, text: str) -> None:
    # As the service judges it: the classifier with the text signals, a known author.
    assert combined(model, text, new_author=False).probability >= BAND[0]


# Ordinary news comments that the packaged model holds anyway: kept in the list, marked,
# rather than swapped for easier ones (docs/spam-classifier.md shows their scores).
KNOWN_MISSES = {
    # "please", "follow" and "month" are YouTube ("follow me") and SMS ("per month") spam
    # vocabulary: held for review (about 0.8), far from auto-rejection.
    "Please follow up on this story next month.": "polite request in spam vocabulary",
}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(t, marks=pytest.mark.xfail(reason=KNOWN_MISSES[t], strict=True))
        if t in KNOWN_MISSES
        else t
        for t in ENGLISH_HAM + ENGLISH_NEWS_HAM
    ],
)
def test_ordinary_english_comments_are_not_held(model: SpamClassifier, text: str) -> None:
    assert model.probability(text) < 0.5
    assert combined(model, text, new_author=True).probability < BAND[0]


def test_known_misses_are_held_never_rejected(model: SpamClassifier) -> None:
    for text in KNOWN_MISSES:
        assert combined(model, text, new_author=True).probability < BAND[1]


@pytest.mark.parametrize("text", VIETNAMESE_HAM)
def test_ordinary_vietnamese_comments_are_not_held(model: SpamClassifier, text: str) -> None:
    assert model.probability(text) < 0.5
    assert combined(model, text, new_author=True).probability < BAND[0]


def test_no_known_features_scores_the_bias(model: SpamClassifier) -> None:
    prior = model.prior_probability
    assert prior == pytest.approx(1.0 / (1.0 + math.exp(-model.bias)))
    # The bias is pinned to the training texts' spam share (training/spam.py).
    provenance = json.loads((MODEL_DIR / PROVENANCE_NAME).read_text(encoding="utf-8"))
    examples = provenance["trained_examples"]
    assert prior == pytest.approx(examples["spam"] / (examples["spam"] + examples["ham"]))
    for text in ("", "  "):
        assert model.log_odds(text) == model.bias
        assert model.probability(text) == pytest.approx(prior, abs=1e-12)
    # A sentence in a script absent from the training data: its buckets have weights only
    # by hash collision (about the share of buckets that have one), and the rest add
    # nothing, so it stays near the bias.
    georgian = "გამარჯობა ყველას"
    buckets = model.features(georgian)
    known = model.weights[buckets] != 0
    occupancy = float(np.mean(model.weights != 0))
    assert known.sum() < (occupancy + 0.15) * len(buckets)
    expected = model.weights[buckets[known]].sum() * feature_value(len(buckets)) + model.bias
    assert model.log_odds(georgian) == pytest.approx(expected, abs=1e-12)
    assert abs(model.log_odds(georgian) - model.bias) < 1.0


def test_an_unseen_script_adds_no_evidence() -> None:
    # With few buckets occupied (a small model), an unseen script has no known bucket at
    # all and scores exactly the bias: unknown features weigh nothing either way.
    x, y = toy_matrix()
    fitted = training.Fitted(*training.fit_logistic(x, y, np.ones(len(y)), np.zeros(len(y))))
    toy = SpamClassifier(fitted.weights, fitted.bias, TOY_HP)
    assert toy.known_features("ყველას") == 0
    assert toy.log_odds("ყველას") == toy.bias


def test_logit() -> None:
    assert logit(0.5) == 0.0
    assert logit(0.9) == pytest.approx(math.log(9))
    assert logit(0.1) == pytest.approx(-math.log(9))
    # 0 and 1 are clipped: a classifier that is certain still combines with the signals
    assert logit(0.0) == pytest.approx(math.log(1e-6 / (1 - 1e-6)))
    assert logit(1.0) == pytest.approx(-logit(0.0))


def test_learn_moves_a_similar_text(model: SpamClassifier) -> None:
    learner = model.copy()
    before = learner.log_odds(VIETNAMESE_SPAM_VARIANT)
    unrelated_before = learner.probabilities(VIETNAMESE_HAM)
    learner.learn(VIETNAMESE_SPAM, is_spam=True)
    # One label: the labelled text itself is now more likely spam than not.
    assert learner.probability(VIETNAMESE_SPAM) > 0.5
    for _ in range(2):
        learner.learn(VIETNAMESE_SPAM, is_spam=True)
    # A reworded copy moves too, by about the step times their cosine similarity.
    assert learner.log_odds(VIETNAMESE_SPAM_VARIANT) - before > 2.0
    # Unrelated Vietnamese comments move much less and stay out of the band. They do move:
    # with only Vietnamese *spam* labelled, shared Vietnamese n-grams lean spam.
    unrelated_after = learner.probabilities(VIETNAMESE_HAM)
    assert all(p < 0.5 for p in unrelated_after)
    assert max(a - b for a, b in zip(unrelated_after, unrelated_before, strict=True)) < 0.1
    assert learner.version == f"{model.version}+3labels"


def test_three_labels_of_a_campaign_hold_its_next_message(model: SpamClassifier) -> None:
    campaign = [
        "Thanh lý kho giày thể thao giá chỉ 99k, đặt hàng ngay hôm nay kẻo hết",
        "Giày thể thao thanh lý kho chỉ 99k, đặt hàng hôm nay nhé",
        "Đặt hàng ngay: thanh lý kho giày thể thao 99k, số lượng có hạn",
    ]
    next_message = "Hôm nay thanh lý kho giày thể thao giá 99k, đặt hàng ngay"
    learner = model.copy()
    assert combined(learner, next_message, new_author=True).probability < BAND[0]
    for text in campaign:
        learner.learn(text, is_spam=True)
    assert combined(learner, next_message, new_author=True).probability >= BAND[0]


def test_learn_as_ham_lowers_a_similar_text(model: SpamClassifier) -> None:
    learner = model.copy()
    similar = "Please follow up on this story next week."
    before = learner.log_odds(similar)
    learner.learn("Please follow up on this story next month.", is_spam=False)
    assert learner.log_odds(similar) < before - 0.5


def test_learn_rejects_bad_weights(model: SpamClassifier) -> None:
    learner = model.copy()
    for weight in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            learner.learn("spam", is_spam=True, weight=weight)
    assert learner.version == model.version


@pytest.mark.parametrize(("is_spam", "weight"), [(True, 1.0), (False, 1.0), (True, 0.3)])
def test_learn_is_scikit_learns_sgd_step(
    model: SpamClassifier, is_spam: bool, weight: float
) -> None:
    # The same update as SGDClassifier.partial_fit from the same weights (log loss, no
    # penalty, constant step, intercept fixed), on the same feature vector.
    text = VIETNAMESE_SPAM if is_spam else ENGLISH_HAM[0]
    learner = model.copy()
    buckets = learner.features(text)
    x = sp.csr_matrix(
        (np.full(len(buckets), feature_value(len(buckets))), buckets, [0, len(buckets)]),
        shape=(1, len(learner.weights)),
    )
    sgd = SGDClassifier(
        loss="log_loss",
        penalty=None,
        learning_rate="constant",
        eta0=learner.hyperparameters["learning_rate"],
        fit_intercept=False,
    )
    sgd.partial_fit(sp.csr_matrix(x.shape), [0], classes=[0, 1])  # all-zero row: no change
    sgd.coef_ = learner.weights.reshape(1, -1).copy()
    sgd.intercept_ = np.array([learner.bias])
    sgd.partial_fit(x, [int(is_spam)], sample_weight=[weight])
    learner.learn(text, is_spam, weight)
    np.testing.assert_allclose(learner.weights, sgd.coef_[0], rtol=0, atol=1e-12)
    assert sgd.intercept_[0] == learner.bias
    assert not np.array_equal(learner.weights, model.weights)


def test_the_same_labels_in_the_same_order_give_the_same_model(model: SpamClassifier) -> None:
    # Every worker replays the labels in id order (workers/spam/learning.py).
    labels = [(VIETNAMESE_SPAM, True), (VIETNAMESE_HAM[0], False), (ENGLISH_SPAM[0], True)]
    a, b = model.copy(), model.copy()
    for learner in (a, b):
        for text, is_spam in labels:
            learner.learn(text, is_spam)
    assert np.array_equal(a.weights, b.weights)
    assert a.version == b.version == f"{model.version}+3labels"


def test_copy_is_independent(model: SpamClassifier) -> None:
    probe = [VIETNAMESE_SPAM_VARIANT, *ENGLISH_HAM]
    original_scores = model.probabilities(probe)
    original_version = model.version
    clone = model.copy()
    clone.learn(VIETNAMESE_SPAM, is_spam=True, weight=5.0)
    clone.hyperparameters["learning_rate"] = 123.0
    assert model.probabilities(probe) == original_scores
    assert model.version == original_version
    assert model.hyperparameters["learning_rate"] != 123.0
    assert clone.probabilities(probe) != original_scores


def test_save_load_round_trip(model: SpamClassifier, tmp_path: Path) -> None:
    probe = [VIETNAMESE_SPAM_VARIANT, *VIETNAMESE_HAM, *ENGLISH_SPAM, *ENGLISH_HAM, ""]
    artifact = model.save(tmp_path / "plain")
    assert artifact == tmp_path / "plain" / ARTIFACT_NAME
    reloaded = SpamClassifier.load(tmp_path / "plain")
    assert reloaded.probabilities(probe) == model.probabilities(probe)
    # Same weights, same bytes: the version of an unchanged model survives a save.
    assert reloaded.version == model.version
    assert artifact.read_bytes() == (MODEL_DIR / ARTIFACT_NAME).read_bytes()

    learner = model.copy()
    learner.learn(VIETNAMESE_SPAM, is_spam=True, weight=0.3)  # weights now need float64
    learner.learn(ENGLISH_HAM[0], is_spam=False)
    saved = learner.save(tmp_path / "learned")
    reloaded = SpamClassifier.load(saved)  # the .npz path works as well as the folder
    assert np.array_equal(reloaded.weights, learner.weights)
    assert reloaded.probabilities(probe) == learner.probabilities(probe)
    assert reloaded.version != model.version
    provenance = json.loads((tmp_path / "learned" / PROVENANCE_NAME).read_text("utf-8"))
    assert provenance["derived_from"] == f"{model.version}+2labels"
    assert provenance["version"] == reloaded.version


def test_hashing_is_identical_across_processes() -> None:
    text = "Liên hệ zalo 0912345678 http://bit.ly/abc để nhận quà! Check out my channel"
    code = (
        "from workers.spam.classifier import hashed_features;"
        f"print(hashed_features({text!r}, 20, [1, 5], [1, 2]).tolist())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    assert json.loads(out) == hashed_features(text, 20, [1, 5], [1, 2]).tolist()


def test_word_ngrams_see_phrases() -> None:
    def words(text: str) -> set[int]:
        return set(hashed_features(text, 20, [0, 0], [1, 2]).tolist())

    def unigrams(text: str) -> set[int]:
        return set(hashed_features(text, 20, [0, 0], [1, 1]).tolist())

    # Same words, other order: the same unigrams, different bigrams.
    assert unigrams("check out my channel") == unigrams("my channel out check")
    assert words("check out my channel") != words("my channel out check")
    assert len(words("check out my channel")) == 4 + 3
    # Word features are case-, link- and digit-normalised like the character ones.
    assert words("CHECK OUT http://a.com/x 123") == words("check out https://a.com/y 999")
    # Character and word features hash with different seeds: "out" as a character
    # trigram is not "out" the word.
    chars = set(hashed_features("out", 20, [3, 3], [0, 0]).tolist())
    assert not chars & unigrams("out")


def test_normalize() -> None:
    assert normalize("  Xin\u00a0CHÀO \u200b\n bạn  ") == "xin chào bạn"
    # NFD input (combining marks) normalises to the same text as NFC input.
    assert normalize("Vie\u0302\u0323t Nam") == normalize("Việt Nam")
    assert normalize("see http://www.Example.com/a/b?c=1 now") == "see \ue000 example.com now"
    assert normalize("go to bit.ly/xyz") == "go to \ue000 bit.ly"
    assert normalize("call 0912 345 678") == "call 0000 000 000"


# --- training: the fit, and the runtime against the training-time scores --------------

TOY = [
    ("buy cheap pills now, free offer", True),
    ("cheap pills, buy now at http://pills.example.com", True),
    ("free offer today only, click now", True),
    ("check out my channel and subscribe", True),
    ("hello friend, how are you today", False),
    ("see you at dinner, friend", False),
    ("the council meets on tuesday about the budget", False),
    ("thanks for the article, very clear", False),
]
TOY_HP = {"bits": 16, "char_ngrams": [1, 5], "word_ngrams": [1, 2], "learning_rate": 3.0}


def toy_matrix() -> tuple[sp.csr_matrix, np.ndarray]:
    return training.feature_matrix([t for t, _ in TOY], TOY_HP), np.array([y for _, y in TOY])


def test_fit_logistic_agrees_with_scikit_learn_without_an_offset() -> None:
    x, y = toy_matrix()
    weights = np.linspace(0.5, 2.0, len(y))
    beta, bias = training.fit_logistic(x, y, weights, np.zeros(len(y)), c=5.0, max_iter=2000)
    reference = LogisticRegression(C=5.0, tol=1e-10, max_iter=10000)
    # sklearn's C weighs the sum of weighted losses; fit_logistic scales weights to mean 1.
    reference.fit(x, y, sample_weight=weights / weights.mean())
    np.testing.assert_allclose(x @ beta + bias, reference.decision_function(x), atol=1e-3)


def test_fit_logistic_does_not_relearn_what_the_offset_says() -> None:
    x, y = toy_matrix()
    ones = np.ones(len(y))
    alone = training.fit_logistic(x, y, ones, np.zeros(len(y)), c=5.0)
    # An offset that already separates the classes: the features need to say less.
    offset = np.where(y, 3.0, -3.0)
    around = training.fit_logistic(x, y, ones, offset, c=5.0)
    assert np.linalg.norm(around[0]) < 0.5 * np.linalg.norm(alone[0])
    # The fit is of the combined log-odds: with the offset added back, it still separates.
    z = x @ around[0] + around[1] + offset
    assert (z[y] > 0).all() and (z[~y] < 0).all()


def test_runtime_scores_equal_the_training_time_scores() -> None:
    x, y = toy_matrix()
    fitted = training.Fitted(*training.fit_logistic(x, y, np.ones(len(y)), np.zeros(len(y))))
    probe = [t for t, _ in TOY] + ["pills for you, friend", "", "ყველას", *ENGLISH_HAM]
    at_training = fitted.log_odds(training.feature_matrix(probe, TOY_HP))
    # Full-precision weights: the same sums, up to summation order.
    exact = SpamClassifier(fitted.weights, fitted.bias, TOY_HP)
    np.testing.assert_allclose([exact.log_odds(t) for t in probe], at_training, atol=1e-9)
    # As packaged: float16 weights, within their rounding.
    packaged = training.to_classifier(fitted, TOY_HP)
    runtime = np.array([packaged.log_odds(t) for t in probe])
    np.testing.assert_allclose(runtime, at_training, atol=1e-2)
    assert packaged.probability(TOY[0][0]) > 0.5 > packaged.probability(TOY[-1][0])


@pytest.mark.slow
def test_retrain_from_shared_data_reproduces_the_artifact(model: SpamClassifier) -> None:
    for folder in (
        "youtube-spam-collection",
        "sms-spam-collection",
        "jigsaw-toxic-comment-sample",
        "jigsaw-toxic-comment-train",
        "davidson-hate-offensive",
        "civil-comments-toxic-spans-annotations",
    ):
        if not (DATA_DIR / folder).is_dir():
            pytest.skip(f"{DATA_DIR / folder} is absent")
    from training import spam_data

    corpus = spam_data.load_corpus(DATA_DIR)
    data = training.Data(corpus)
    # The held-out sets never reach training, not even the packaged model's.
    held_out = {text for texts in corpus.heldout.values() for text in texts}
    trained = training.sample_weights(data.pool, training.Config("packaged"), None) > 0
    assert not {t for t, keep in zip(data.pool.texts, trained, strict=True) if keep} & held_out
    # The committed artifact is what this code trains from this data.
    final = training.fit_config(data, training.Config("packaged"), None)
    retrained = training.to_classifier(final, dict(model.hyperparameters))
    assert retrained.bias == pytest.approx(model.bias, abs=1e-3)
    probe = [t for t, _ in corpus.sms[:300]] + corpus.heldout[spam_data.HELDOUT_CIVIL][:300]
    np.testing.assert_allclose(
        [retrained.log_odds(t) for t in probe], [model.log_odds(t) for t in probe], atol=1e-2
    )
    # The news posts: few held, almost none rejected (the report has the exact figures).
    civil = corpus.heldout[spam_data.HELDOUT_CIVIL]
    p = np.array([combined(model, t, new_author=True).probability for t in civil])
    assert np.mean(p >= BAND[0]) < 0.01
    assert np.mean(p >= BAND[1]) < 0.001
