"""Every bad input gets an error naming the parameter and value, and leaves no learner half-updated."""
import pytest
import torch
from conftest import make_learner, synthetic_data

from colearn_nb import LearnerError, TensorLoader, Weights, collective_learning_round, set_equal_weights


def state(learner):
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name, value", [("num_train_batches", 0), ("num_test_batches", 0),
                                         ("num_test_batches", -3), ("num_train_batches", 1.5)])
def test_batch_counts_below_one_are_refused(name, value):
    with pytest.raises(ValueError, match=f"{name}: got {value}; expected an integer >= 1"):
        make_learner(**{name: value})


@pytest.mark.parametrize("loader_name", ["train_loader", "vote_loader", "test_loader"])
def test_empty_loaders_are_named(loader_name):
    empty = TensorLoader(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match=f"{loader_name}: the loader is empty"):
        make_learner(**{loader_name: empty})


def test_an_empty_iterable_without_len_is_named_when_used():
    with pytest.raises(ValueError, match="vote_loader: yielded no batches"):
        make_learner(vote_loader=iter([]))


def test_missing_criterion_is_refused():
    with pytest.raises(ValueError, match="criterion: got None"):
        make_learner(criterion=None)


def wider_model():
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


@pytest.mark.parametrize("method", ["mli_test_weights", "mli_accept_weights"])
def test_mismatched_weights_name_key_and_shapes_and_change_nothing(method):
    torch.manual_seed(0)
    learner, other = make_learner(), make_learner(model=wider_model())
    before, score = state(learner), learner.vote_score
    with pytest.raises(ValueError,
                       match=r"key '0.weight' has shape \(16, 4\) in the weights but \(8, 4\) in the model"):
        getattr(learner, method)(other.mli_get_current_weights())
    assert same(state(learner), before) and learner.vote_score == score


def test_missing_keys_are_named():
    learner = make_learner()
    weights = learner.mli_get_current_weights().weights
    del weights["2.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\]"):
        learner.mli_accept_weights(Weights(weights=weights))


def test_a_round_with_a_mismatched_learner_names_it_and_nobody_changes():
    torch.manual_seed(0)
    learners = [make_learner(), make_learner(seed=1), make_learner(seed=2, model=wider_model())]
    before = [state(learner) for learner in learners]
    with pytest.raises(LearnerError,
                       match="learner 2 failed in round 0 while testing the proposal: .*key '0.weight'"):
        collective_learning_round(learners, 0.5, 0)
    assert all(same(state(learner), b) for learner, b in zip(learners, before, strict=True))


def test_set_equal_weights_refuses_different_architectures_before_any_change():
    torch.manual_seed(0)
    learners = [make_learner(), make_learner(seed=1), make_learner(seed=2, model=wider_model())]
    before = [state(learner) for learner in learners]
    with pytest.raises(ValueError, match="learner 2 has a different model from learner 0"):
        set_equal_weights(learners)
    assert all(same(state(learner), b) for learner, b in zip(learners, before, strict=True))


def test_tensor_loader_refuses_mismatched_lengths_and_bad_batch_size():
    inputs, labels = synthetic_data()
    with pytest.raises(ValueError, match="got 96 inputs but 95 labels"):
        TensorLoader(inputs, labels[:-1])
    with pytest.raises(ValueError, match="batch_size: got 0"):
        TensorLoader(inputs, labels, batch_size=0)


def users_learners(vote_criterion=None, minimise_criterion=False, nan_learner=None):
    """Three learners the user's way (plain DataLoaders, an MLP, Adam); ``nan_learner`` scores all NaN."""
    from torch.utils.data import DataLoader, random_split
    from user_learners import MLP, accuracy, classification_data

    from colearn_nb import PytorchLearner

    torch.manual_seed(0)
    learners = []
    for i, part in enumerate(random_split(classification_data(), [1 / 3] * 3)):
        train, vote = random_split(part, [0.5, 0.5])
        model = MLP()
        criterion = vote_criterion or accuracy
        learners.append(PytorchLearner(
            model=model, optimizer=torch.optim.Adam(model.parameters(), lr=0.02),
            train_loader=DataLoader(train, batch_size=8, shuffle=True),
            vote_loader=DataLoader(vote, batch_size=8),
            num_train_batches=2, criterion=torch.nn.CrossEntropyLoss(),
            vote_criterion=(lambda o, y: float("nan")) if i == nan_learner else criterion,
            minimise_criterion=minimise_criterion))
    return learners


def test_a_learner_whose_vote_scores_are_nan_is_named_in_every_round_and_warned_once():
    import warnings

    from colearn_nb import run_rounds

    learners = users_learners(nan_learner=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's and Jupyter's own filter
        results = run_rounds(learners, 6, vote_threshold=0.5)
    warning = "learner 2 scores proposals as nan on its vote data"
    about_2 = [str(w.message) for w in caught if warning in str(w.message)]
    assert len(about_2) == 1, f"warned once: {about_2}"
    for round_index, result in enumerate(results.data[1:]):
        named = [error for error in result.errors if error.startswith("learner 2 scored the proposal nan")]
        assert (len(named) == 1) == (result.block_proposer != 2), (round_index, result.errors)
        assert result.votes[2] in (False, None)


def test_a_vote_criterion_that_returns_no_number_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"vote_criterion: returned None; expected a number"):
        users_learners(vote_criterion=lambda outputs, labels: None)
    with pytest.raises(ValueError, match=r"vote_criterion: returned 'high'; expected a number"):
        users_learners(vote_criterion=lambda outputs, labels: "high")
    learners = users_learners(vote_criterion=lambda out, labels: (out.argmax(1) == labels).float().mean())
    assert 0 <= learners[0].vote_score <= 1, "a one-element tensor is a number"


def test_a_higher_is_better_criterion_with_minimise_criterion_is_refused_or_warned():
    from colearn_nb import categorical_accuracy

    with pytest.raises(ValueError, match="minimise_criterion: got True, but vote_criterion "
                                         "categorical_accuracy is higher-is-better"):
        users_learners(vote_criterion=categorical_accuracy, minimise_criterion=True)

    def macro_f1(outputs, labels):
        from sklearn.metrics import f1_score

        return f1_score(labels.numpy(), outputs.argmax(1).numpy(), average="macro")

    with pytest.warns(UserWarning, match="vote_criterion macro_f1 sounds higher-is-better"):
        users_learners(vote_criterion=macro_f1, minimise_criterion=True)
    macro_f1.higher_is_better = True
    with pytest.raises(ValueError, match="vote_criterion macro_f1 is higher-is-better"):
        users_learners(vote_criterion=macro_f1, minimise_criterion=True)
