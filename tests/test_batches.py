"""Batches and outputs as users bring them: dicts, several inputs, tuples, ``.logits``; loaders checked first.

Learners here use plain DataLoaders over the user's own datasets and models that take keyword or several
inputs; ``tests/user_learners.py`` runs such configurations through every feature (the matrix).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from user_learners import DictInputs, Samples, TwoInputs, classification_data

from colearn_nb import (
    BackdoorProposer,
    DiffPrivConfig,
    LabelFlipLearner,
    PytorchLearner,
    TensorLoader,
    dataset_tensors,
    run_rounds,
)


def loaders(kind: str | None, seed: int = 0, shuffle: bool = True, generator=None, workers: int = 0):
    """Train, vote and test DataLoaders over ``kind`` samples (None: plain ``(x, y)``)."""
    data = classification_data(seed)
    parts = [torch.utils.data.Subset(data, range(a, b)) for a, b in ((0, 96), (96, 120), (120, 144))]
    parts = [Samples(part, kind) if kind else part for part in parts]
    return (DataLoader(parts[0], batch_size=8, shuffle=shuffle, generator=generator, num_workers=workers),
            DataLoader(parts[1], batch_size=8), DataLoader(parts[2], batch_size=8))


def learner(model: nn.Module, train, vote, test=None, **options) -> PytorchLearner:
    options = {"criterion": nn.CrossEntropyLoss(), "num_train_batches": 3, **options}
    return PytorchLearner(model, torch.optim.SGD(model.parameters(), lr=0.1), train, vote, test, **options)


def same_weights(learners) -> bool:
    first = learners[0].mli_get_current_weights().weights
    return all(all(torch.equal(first[key], each.mli_get_current_weights().weights[key]) for key in first)
               for each in learners[1:])


# -- a bad loader fails when the learner is built, naming the loader -------------------------------------
class Unlabelled(Samples):
    def __getitem__(self, index):
        sample = super().__getitem__(index)
        return {"features": sample["features"], "class": sample["label"]}


def test_a_dict_batch_without_a_label_key_fails_at_construction_naming_the_loader_and_the_keys():
    train, vote, test = loaders("dict")
    bad = DataLoader(Unlabelled(train.dataset.dataset, "dict"), batch_size=8)
    for name, given in (("train_loader", (bad, vote, test)), ("vote_loader", (train, bad, test)),
                        ("test_loader", (train, vote, bad))):
        with pytest.raises(ValueError, match=rf"{name}: splitting the first batch: the batch is a dict with "
                                             r"keys \['features', 'class'\]; none of label, labels, target, "
                                             r"targets, y names the targets: pass inputs_targets="):
            learner(DictInputs(), *given)
    named = learner(DictInputs(), bad, bad, bad, logits=lambda output: output["logits"],
                    inputs_targets=lambda batch: ({"features": batch["features"]}, batch["class"]))
    assert named.vote_score > 0 and named.mli_propose_weights().training_summary["n_train_batches"] == 3


def test_a_model_that_does_not_take_the_inputs_or_a_loss_that_does_not_fit_fails_naming_the_loader():
    train, vote, test = loaders("multi")
    with pytest.raises(ValueError, match=r"train_loader: the model failed on the first batch: TypeError: .*"
                                         r"the first batch's inputs are a tuple of 2 \(Tensor, Tensor\)"):
        learner(DictInputs(), train, vote, test)
    with pytest.raises(ValueError, match=r"train_loader: criterion\(logits, targets\) failed on the first "
                                         r"batch: .*logits of shape \(8, 3\), targets of shape \(8,\)"):
        learner(TwoInputs(), train, vote, test, criterion=nn.BCEWithLogitsLoss())
    with pytest.raises(ValueError, match=r"train_loader: reading the model's output on the first batch: the "
                                         r"model returned a str; expected a tensor"):
        learner(Says("no"), train, vote, test)
    with pytest.raises(ValueError, match=r"train_loader: reading the first batch: it is an iterator, which "
                                         r"can be read only once"):
        learner(TwoInputs(), iter(list(train)), vote, test)


class Says(TwoInputs):
    def __init__(self, word):
        super().__init__()
        self.word = word

    def forward(self, first, second):
        return self.word


# -- reading a loader's first batch changes nothing ---------------------------------------------------------
def trained_batches(learner_: PytorchLearner) -> list[torch.Tensor]:
    """The inputs the learner's first proposal trains on."""
    seen = []
    hook = learner_.model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone())
                                                    if module.training else None)
    learner_.mli_propose_weights()
    hook.remove()
    return seen


@pytest.mark.parametrize(("own_generator", "workers"), [(True, 0), (False, 0), (True, 2)],
                         ids=["own generator", "global generator", "two workers"])
def test_reading_the_first_batches_changes_neither_the_training_stream_nor_torchs_random_state(own_generator,
                                                                                                workers):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 3))
    generator = torch.Generator().manual_seed(5) if own_generator else None
    train, vote, test = loaders(None, generator=generator, workers=workers)
    vote, test = (TensorLoader(*dataset_tensors(loader.dataset), batch_size=8) for loader in (vote, test))
    state = torch.get_rng_state()  # a DataLoader draws a seed from it whenever read: only train is one
    built = learner(model, train, vote, test, seed=11)
    assert torch.equal(torch.get_rng_state(), state), "building the learner drew from torch's generator"
    if own_generator:
        assert torch.equal(generator.get_state(), torch.Generator().manual_seed(5).get_state())
    twin, _, _ = loaders(None, generator=torch.Generator().manual_seed(5) if own_generator else None)
    with torch.random.fork_rng():
        torch.manual_seed(built.stream.proposal_seed(0))  # what the proposal's shuffling draws from
        expected = [inputs for inputs, _ in list(twin)[:3]]
    batches = trained_batches(built)
    assert len(batches) == 3 and all(torch.equal(a, b) for a, b in zip(batches, expected, strict=True))


def test_learners_built_alike_with_dict_or_plain_batches_propose_the_same_weights():
    """A dict batch is read as the (x, y) batch it holds: same seed, same data, the same proposal."""
    proposals = []
    for kind, make in ((None, lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))),
                       ("dict", DictInputs)):
        torch.manual_seed(0)
        model = make()
        proposals.append(learner(model, *loaders(kind), seed=3).mli_propose_weights().weights)
    plain, as_dict = (list(weights.values()) for weights in proposals)
    assert all(torch.equal(a, b) for a, b in zip(plain, as_dict, strict=True))


# -- outputs: criteria get the logits -------------------------------------------------------------------
def test_the_vote_criterion_receives_the_logits_of_tuple_outputs():
    received = []

    def accuracy(outputs, labels):
        received.append((type(outputs), tuple(outputs.shape), tuple(labels.shape)))
        return (outputs.argmax(1) == labels).float().mean().item()

    torch.manual_seed(0)
    built = learner(TwoInputs(as_tuple=True), *loaders("nested"), vote_criterion=accuracy,
                    minimise_criterion=False)
    assert received == [(torch.Tensor, (24, 3), (24,))]
    assert 0 <= built.mli_test_weights(built.mli_propose_weights()).vote_score <= 1


# -- differential privacy with dict batches --------------------------------------------------------------
def test_dp_trains_on_dict_batches_in_pieces_within_its_budget():
    pytest.importorskip("opacus")
    torch.manual_seed(0)
    config = DiffPrivConfig(target_epsilon=8.0, target_delta=1e-3, planned_proposals=4,
                            max_physical_batch_size=3)
    learners = [learner(DictInputs(), *loaders("dict", seed), diff_priv_config=config) for seed in range(2)]
    results = run_rounds(learners, 2)
    budgets = [summary["dp_budget"] for result in results.data[1:] for summary in result.training_summaries]
    assert all(0 < budget["consumed_epsilon"] <= 8.0 for budget in budgets) and len(budgets) == 2
    assert same_weights(learners)


class WithText(Samples):
    def __getitem__(self, index):
        return {**super().__getitem__(index), "text": "a sentence"}


def test_dp_refuses_batches_with_fields_other_than_tensors_saying_why():
    pytest.importorskip("opacus")
    train, vote, test = loaders("dict")
    texts = DataLoader(WithText(train.dataset.dataset, "dict"), batch_size=8)
    config = DiffPrivConfig(target_epsilon=8.0, target_delta=1e-3, noise_multiplier=1.0)
    with pytest.raises(ValueError, match=r"train_loader: differential privacy resamples the samples' "
                                         r"tensors, one entry per sample, but got a str inside the batch"):
        learner(DictInputs(), texts, vote, test, diff_priv_config=config,
                inputs_targets=lambda batch: ({"features": batch["features"]}, batch["label"]))


# -- attacks read batches as their learner does ----------------------------------------------------------
def test_label_flipping_reads_dict_batches_and_every_learner_ends_equal():
    torch.manual_seed(0)
    learners = [learner(DictInputs(as_object=True), *loaders("dict", seed)) for seed in range(3)]
    flipper = LabelFlipLearner(learners[0], n_classes=3)
    in_order = loaders("dict", shuffle=False)[0]
    flipped, original = next(iter(flipper.poisoned(in_order))), next(iter(in_order))
    assert set(flipped.inputs) == {"features"}
    assert torch.equal(flipped.inputs["features"], original["features"])
    assert torch.equal(flipped.targets, 2 - original["label"])
    results = run_rounds([flipper, *learners[1:]], 3)
    assert results.data[1].training_summaries[0]["attack"] == "flipped labels" and same_weights(learners)


def images(kind: str):
    generator = torch.Generator().manual_seed(0)
    pictures, labels = torch.rand(32, 1, 8, 8, generator=generator), torch.arange(32) % 2
    if kind == "dict":
        return DataLoader(Samples(TensorDataset(pictures, labels), "dict"), batch_size=8)
    return DataLoader(TensorDataset(pictures, labels), batch_size=8)


def test_a_backdoor_stamps_images_read_by_inputs_targets_and_refuses_inputs_it_cannot_stamp():
    as_dict = learner(KeywordNet(nn.Sequential(nn.Flatten(), nn.Linear(64, 2))), images("dict"),
                      images("dict"))
    with pytest.raises(ValueError, match=r"BackdoorProposer: the learner's batches have inputs that are a "
                                         r"dict with keys \['features'\]; the trigger is stamped"):
        BackdoorProposer(as_dict, target_label=1)
    as_images = learner(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), images("dict"), images("dict"),
                        inputs_targets=lambda batch: (batch["features"], batch["label"]))
    seen = []
    as_images.model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone())
                                              if module.training else None)
    proposal = BackdoorProposer(as_images, target_label=1, fraction=0.5).mli_propose_weights()
    assert proposal.training_summary["attack"] == "backdoor"
    assert proposal.training_summary["n_train_batches"] == 3
    assert [len(batch) for batch in seen] == [12, 12, 12]  # 8 images and 4 copies with the trigger
    assert all(bool((batch[8:, 0, -5:-1, -5:-1] == 1).all()) for batch in seen)


class KeywordNet(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, features):
        return {"logits": self.net(features)}
