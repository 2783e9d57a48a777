"""Uneven splits that never fail by chance: Dirichlet draws again until every learner has enough data,
pathological splits give each learner a fixed number of labels, and the label mix is drawn as a heatmap."""
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from torch.utils.data import TensorDataset

from colearn_nb import (
    dataset_tensors,
    label_mix,
    learner_loaders,
    load_mnist,
    partition_labels,
    split_dataset,
)
from colearn_nb.viz.partitions import mix_table, plot_label_mix, plot_label_mixes


@pytest.fixture(scope="module")
def shipped_labels():
    """Labels of the shipped digits' train (4,000) and test (1,000) sets."""
    return [dataset_tensors(data)[1].numpy() for data in load_mnist()]


@pytest.mark.parametrize("n_learners", [10, 20])
def test_dirichlet_alpha_0_1_never_fails_for_seeds_0_to_199(shipped_labels, n_learners):
    for seed in range(200):
        train_parts, held_out_parts = partition_labels(shipped_labels, n_learners, alpha=0.1, seed=seed)
        assert min(len(part) for part in train_parts) >= 10, seed
        assert min(len(part) for part in held_out_parts) >= 10, seed
        for labels, parts in zip(shipped_labels, (train_parts, held_out_parts), strict=True):
            assert sorted(i for part in parts for i in part) == list(range(len(labels)))


def test_the_old_single_draw_left_learners_without_held_out_digits(shipped_labels):
    """Why the redraw is needed: one draw per seed (max_tries=1) fails for some seeds at 20 learners."""
    failures = 0
    for seed in range(20):
        try:
            partition_labels(shipped_labels, 20, alpha=0.1, seed=seed, max_tries=1)
        except ValueError as error:
            assert "min_size: no dirichlet split of 20 parts" in str(error)
            failures += 1
    assert failures > 10


def test_learner_loaders_at_alpha_0_1_gives_every_learner_vote_and_test_digits():
    train_data, test_data = load_mnist()
    parts = learner_loaders(train_data, test_data, 20, seed=7, method="dirichlet", alpha=0.1)
    assert min(len(p.vote.labels) for p in parts) >= 5 and min(len(p.test.labels) for p in parts) >= 5
    mix = label_mix(parts)
    assert (mix > 0).sum(axis=1).min() < 10, "alpha 0.1 leaves learners without some labels"
    held_out = label_mix(parts, part="vote") + label_mix(parts, part="test")
    for train_row, held_row in zip(mix, held_out, strict=True):  # one draw: the same label mix
        assert np.abs(train_row / train_row.sum() - held_row / held_row.sum()).max() < 0.25


def test_one_draw_of_shares_for_train_and_held_out(shipped_labels):
    train_parts, held_out_parts = partition_labels(shipped_labels, 5, alpha=0.3, seed=3)
    for train_part, held_out_part in zip(train_parts, held_out_parts, strict=True):
        train_mix = np.bincount(shipped_labels[0][train_part], minlength=10) / len(train_part)
        held_mix = np.bincount(shipped_labels[1][held_out_part], minlength=10) / len(held_out_part)
        assert np.abs(train_mix - held_mix).max() < 0.1  # an independent draw differs by far more


def test_impossible_minimum_raises_after_bounded_tries():
    labels = np.arange(100) % 10
    with pytest.raises(ValueError, match="min_size: got 30 for 4 parts of 100 samples; expected at most 25"):
        partition_labels([labels], 4, min_size=30)
    with pytest.raises(ValueError, match="in 5 draws; expected a smaller min_size"):
        partition_labels([labels], 4, alpha=0.01, min_size=24, max_tries=5)


@pytest.mark.parametrize("n_learners, k", [(10, 2), (5, 2), (4, 3), (20, 1)])
def test_pathological_gives_each_learner_k_labels_and_every_sample_a_learner(shipped_labels, n_learners, k):
    labels = shipped_labels[0]
    parts = partition_labels([labels], n_learners, "pathological", n_classes_per_learner=k, seed=1)[0]
    assert sorted(i for part in parts for i in part) == list(range(len(labels)))
    assert [len(set(labels[part].tolist())) for part in parts] == [k] * n_learners


def test_pathological_refuses_too_few_labels_for_the_learners():
    with pytest.raises(ValueError, match="n_classes_per_learner: got 1 for 5 learners; expected at least 2"):
        partition_labels([np.arange(100) % 10], 5, "pathological", n_classes_per_learner=1)


def test_split_dataset_and_learner_loaders_take_the_pathological_split():
    data = TensorDataset(torch.zeros(2000, 1), torch.arange(2000) % 10)
    parts = split_dataset(data, 5, method="pathological", n_classes_per_learner=2)
    assert [len(set(data.tensors[1][p.indices].tolist())) for p in parts] == [2] * 5
    loaders = learner_loaders(data, data, 5, method="pathological", n_classes_per_learner=3)
    assert ((label_mix(loaders) > 0).sum(axis=1) == 3).all()
    assert ((label_mix(loaders, part="vote") > 0) <= (label_mix(loaders) > 0)).all()


def test_mix_table_percent_rows_sum_to_100_and_empty_rows_stay_zero():
    table = mix_table(np.array([[2, 6, 0], [0, 0, 0]]))
    assert table[0].tolist() == [25.0, 75.0, 0.0] and table[1].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="show: got 'share'"):
        mix_table(np.eye(2), "share")
    with pytest.raises(ValueError, match=r"counts: got an array of shape \(3,\)"):
        mix_table(np.ones(3))


@pytest.mark.parametrize("n_learners", [10, 20])
def test_heatmap_labels_every_learner_and_numbers_the_non_empty_cells(n_learners):
    counts = label_mix(learner_loaders(*load_mnist(), n_learners, method="dirichlet", alpha=0.1))
    figure = plot_label_mix(counts, show="counts")
    ax = figure.axes[0]
    assert list(ax.get_yticks()) == list(range(n_learners)) and list(ax.get_xticks()) == list(range(10))
    assert sorted(float(t.get_text()) for t in ax.texts) == sorted(counts[counts > 0].astype(float).tolist())
    width, height = figure.get_size_inches()
    row_points = 72 * (height - 1.6) / n_learners  # a learner's row, title and labels aside
    assert row_points >= 2 * max(t.get_fontsize() for t in ax.texts), "rows fit their numbers"
    assert height <= 5.5, "the heatmap fits a laptop's notebook area (1366 x 768)"


def relative_luminance(colour) -> float:
    channels = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast(first, second) -> float:
    """The WCAG contrast ratio of two colours: 1 (none) to 21 (black on white)."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 100.0])
def test_cell_numbers_stand_out_from_their_cell(alpha):
    """Pale cells get dark numbers, dark cells light ones, whatever the largest (alpha=100: all about 10)."""
    counts = label_mix(learner_loaders(*load_mnist(), 10, method="dirichlet", alpha=alpha))
    figure = plot_label_mixes({"a": counts, "b": counts, "c": counts})
    for ax in (ax for ax in figure.axes if ax.get_label() != "<colorbar>"):
        image = ax.images[0]
        for text in ax.texts:
            column, row = text.get_position()
            cell = image.cmap(image.norm(image.get_array()[int(row), int(column)]))
            assert contrast(text.get_color(), cell) >= 4.5, (text.get_text(), text.get_color(), cell)
    assert figure.get_size_inches()[0] <= 9.5, "three panels fit a laptop's notebook area"


def test_several_alphas_side_by_side_share_the_percent_scale():
    loaders = {f"alpha {a}": learner_loaders(*load_mnist(), 10, method="dirichlet", alpha=a)
               for a in (0.1, 1.0)}
    figure = plot_label_mixes({name: label_mix(parts) for name, parts in loaders.items()})
    heatmaps = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in heatmaps] == ["alpha 0.1", "alpha 1.0"]
    assert all(ax.images[0].get_clim() == (0, 100) for ax in heatmaps)
    with pytest.raises(ValueError, match="mixes: got none"):
        plot_label_mixes({})
