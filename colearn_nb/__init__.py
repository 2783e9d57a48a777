"""colearn_nb: collective learning, small enough to read, fast enough to teach with.

Everything a notebook needs is importable from here. Names load on first use, so
``import colearn_nb.protocol`` stays free of torch and matplotlib. The package's layers, each
importing only the ones before it:

- ``protocol``: the learner interface, the round, the loop, results, argument checks (standard library only);
- ``pytorch``: ``PytorchLearner``, loaders and splitting, metrics, privacy, attacks, checkpoints, seeding;
- ``tutorial``: the MNIST digits, the tutorial's Net and learners, the baseline, the fair comparison, the
  per-learner gains;
- ``viz``: static and live plots, the dashboard, where figures are shown;
- ``flower`` (beside them, optional): the same round on Flower; ``compat``: colearn's own signatures.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_MODULES: dict[str, list[str]] = {
    "protocol.interface": ["MachineLearningInterface", "Weights", "ProposedWeights"],
    "protocol.round": ["run_one_round", "is_accepted", "LearnerError"],
    "protocol.loop": ["set_equal_weights", "initial_result", "collective_learning_round",
                      "individual_training_round", "run_rounds", "start_results", "RunInterrupted",
                      "interrupted_results"],
    "protocol.results": ["Result", "Results"],
    "protocol.report": ["print_results", "format_budget"],
    "protocol.checks": ["check_int", "check_number"],
    "pytorch.learner": ["PytorchLearner"],
    "pytorch.batches": ["split_batch", "read_logits"],
    "pytorch.loaders": ["TensorLoader", "dataset_tensors"],
    "pytorch.splitting": ["prepare_data_split_list", "split_dataset", "learner_loaders", "LearnerLoaders",
                          "split_sizes", "format_split_table", "label_counts", "label_mix"],
    "pytorch.partitions": ["partition_labels"],
    "pytorch.metrics": ["categorical_accuracy", "binary_accuracy_from_logits", "auc_from_logits"],
    "pytorch.privacy": ["DiffPrivConfig", "opacus_available", "noise_for_budget"],
    "pytorch.attacks": ["RandomWeightsProposer", "SignFlipProposer", "LabelFlipLearner", "AlwaysNoVoter",
                        "AlwaysYesVoter", "with_bad_actors", "BackdoorProposer", "Colluder", "add_trigger",
                        "attack_success_rate"],
    "pytorch.membership": ["loss_threshold_attack", "MembershipAttack", "sample_losses", "membership_auc",
                           "membership_advantage", "chance_advantage"],
    "pytorch.checkpoint": ["save_checkpoint", "load_checkpoint"],
    "pytorch.seeding": ["seed_everything"],
    "tutorial.mnist": ["load_mnist", "MNIST"],
    "tutorial.net": ["TutorialNet"],
    "tutorial.factory": ["make_mnist_learners", "adam"],
    "tutorial.baseline": ["train_epoch", "evaluate_accuracy"],
    "tutorial.comparison": ["compare_fairly", "Comparison", "APPROACHES", "tutorial_learner"],
    "tutorial.robustness": ["robustness_lab", "RobustnessLab", "LabSettings", "small_net"],
    "tutorial.gains": ["compare_gains", "learner_gains", "LearnerGains"],
    "tutorial.exercises": ["check_exercise"],
    "viz.display": ["setup_notebook", "new_figure", "show", "available_cpus"],
    "viz.restart": ["check_imported_versions", "installed_versions", "RestartNeeded"],
    "viz.plots": ["plot_curves", "plot_label_histograms", "plot_comparison"],
    "viz.partitions": ["plot_label_mix", "plot_label_mixes"],
    "viz.membership": ["plot_privacy_curve"],
    "viz.robustness": ["plot_robustness"],
    "viz.gains": ["plot_learner_gains"],
    "viz.diagrams": ["draw_round"],
    "viz.live": ["LivePlot", "ProgressBar"],
    "viz.dashboard": ["Dashboard"],
    "viz.projector": ["Projector"],
    "compat": ["plot_results", "plot_votes", "ColearnPlot", "datasets"],
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'colearn_nb' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
