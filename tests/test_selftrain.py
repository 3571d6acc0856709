"""Self-training: pseudo-label selection, the teacher shared by students, export of the
student, and the self-A arms."""

import numpy as np
import pytest

from tl_text.classifiers import NBLogisticRegression, load_classifier
from tl_text.classifiers.arms import ArmOptions, Sources, build, split_spec
from tl_text.classifiers.selftrain import SelfTraining, Teacher, select
from tl_text.errors import ConfigError
from tl_text.export.savedmodel import load_exported


def test_select_keeps_confident_rows_in_the_labelled_class_shares():
    probabilities = np.array([[0.99, 0.01], [0.95, 0.05], [0.6, 0.4], [0.2, 0.8],
                              [0.03, 0.97], [0.08, 0.92]])
    assert select(probabilities, 0.9, np.array([50, 50])).tolist() == [0, 1, 4, 5]
    # two positives to one negative in the labelled set: a negative row is dropped (the
    # less confident one) so that the pseudo-labels keep that share
    assert select(probabilities, 0.9, np.array([10, 20])).tolist() == [0, 4, 5]
    assert select(probabilities, 0.5, np.array([1, 1])).tolist() == [0, 1, 2, 3, 4, 5]
    assert select(probabilities, 0.999, np.array([1, 1])).tolist() == []


class CountingNBLR(NBLogisticRegression):
    fits = 0

    def _fit(self, train, valid):
        CountingNBLR.fits += 1
        return super()._fit(train, valid)


def test_students_learn_from_pseudo_labels_and_ship_as_the_last_student(imdb_small, imdb,
                                                                        tmp_path):
    train, test = imdb_small["train"], imdb_small["test"]
    unlabelled = imdb["train"].fraction(0.1, seed=1).texts  # 2,500 reviews, labels unused
    teacher = Teacher(CountingNBLR(), cache_dir=tmp_path / "teachers")
    one = SelfTraining(teacher, [NBLogisticRegression()], [*unlabelled, *train.texts],
                       threshold=0.8).fit(train)
    two = SelfTraining(teacher, [NBLogisticRegression(), NBLogisticRegression()], unlabelled,
                       threshold=0.8).fit(train)
    assert CountingNBLR.fits == 1  # one teacher fit shared by both
    labels = teacher.label(train, unlabelled)  # saved to the cache
    again = Teacher(CountingNBLR(), cache_dir=tmp_path / "teachers")  # a later run
    np.testing.assert_array_equal(again.label(train, unlabelled), labels)
    assert CountingNBLR.fits == 1  # its labels come from the cache, without a fit
    info = one.fit_info_
    assert info["unlabelled"] == len(set(unlabelled) - set(train.texts))  # train texts dropped
    assert 0 < info["pseudo_labelled"][0] < info["unlabelled"]
    assert len(two.fit_info_["pseudo_labelled"]) == 2
    student_accuracy = (one.predict_proba(test.texts).argmax(1) == test.labels).mean()
    teacher_accuracy = (teacher.classifier.predict_proba(test.texts).argmax(1)
                        == test.labels).mean()
    assert student_accuracy > teacher_accuracy - 0.02  # 400 test reviews: a loose check
    folder = one.save(tmp_path / "student")
    exported = load_exported(folder)
    assert exported.metadata["classifier"]["kind"] == "self-training"
    assert exported.metadata["fit_info"]["pseudo_labelled"] == info["pseudo_labelled"]
    np.testing.assert_allclose(exported.predict_columns(test.texts[:50])["probabilities"],
                               one.predict_proba(test.texts[:50]), atol=1e-5)
    reloaded = load_classifier(folder)
    assert isinstance(reloaded, NBLogisticRegression)  # the shipped model is the student
    np.testing.assert_allclose(reloaded.predict_proba(test.texts[:50]),
                               one.predict_proba(test.texts[:50]), atol=1e-5)


def test_self_arms_build_share_a_teacher_and_need_unlabelled_texts(tmp_path):
    options = ArmOptions(models_dir=str(tmp_path), teacher="nb-lr", rounds=2, threshold=0.7)
    sources = Sources(options, unlabelled=["a good film", "a bad film"])
    assert split_spec("self-nb-lr+nb-lr") == ["self-nb-lr", "nb-lr"]
    clf = build("self-nb-lr", options, 0, sources)
    assert isinstance(clf, SelfTraining) and len(clf.students) == 2 and clf.threshold == 0.7
    assert build("self-tfidf-lr", options, 0, sources).teacher is clf.teacher
    assert build("self-nb-lr", options, 1, sources).teacher is not clf.teacher
    with pytest.raises(ConfigError, match="unknown or repeated arm"):
        split_spec("self-gpt")
    with pytest.raises(ConfigError, match="need unlabelled texts"):
        build("self-nb-lr", options, 0, Sources(options))
    with pytest.raises(ConfigError, match="cannot itself be self-trained"):
        bad = ArmOptions(teacher="self-nb-lr")
        build("self-nb-lr", bad, 0, Sources(bad, unlabelled=["a film"]))
    with pytest.raises(ConfigError, match="threshold must be in"):
        SelfTraining(NBLogisticRegression(), [NBLogisticRegression()], ["x"], threshold=1.0)
