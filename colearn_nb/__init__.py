"""colearn_nb: collective learning, small enough to read, fast enough to teach with."""
from .checkpoint import load_checkpoint, save_checkpoint
from .dashboard import Dashboard
from .data import LearnerLoaders, TensorLoader, learner_loaders, prepare_data_split_list, split_dataset
from .live import LivePlot, run_rounds
from .metrics import auc_from_logits, binary_accuracy_from_logits, categorical_accuracy
from .ml_interface import MachineLearningInterface, ProposedWeights, Weights
from .plot import ColearnPlot, plot_results, plot_votes
from .privacy import DiffPrivConfig
from .pytorch_learner import PytorchLearner
from .results import Result, Results, print_results
from .seeding import seed_everything
from .standalone_driver import LearnerError, run_one_round
from .training import collective_learning_round, individual_training_round, initial_result, set_equal_weights

__version__ = "0.1.0"

__all__ = [
    "MachineLearningInterface", "Weights", "ProposedWeights", "PytorchLearner",
    "run_one_round", "LearnerError", "set_equal_weights", "initial_result",
    "collective_learning_round", "individual_training_round",
    "Result", "Results", "print_results",
    "categorical_accuracy", "binary_accuracy_from_logits", "auc_from_logits",
    "prepare_data_split_list", "split_dataset", "learner_loaders", "LearnerLoaders", "TensorLoader",
    "plot_results", "plot_votes", "ColearnPlot", "seed_everything", "save_checkpoint", "load_checkpoint",
    "LivePlot", "run_rounds", "Dashboard", "DiffPrivConfig",
]
