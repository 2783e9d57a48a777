# The PyTorch MNIST collective-learning tutorial as code written for the original colearn:
# the import lines below are colearn's. tests/test_seed_tutorial.py changes only those lines
# and runs the rest unchanged on colearn_nb.
import os

import torch.nn as nn
import torch.nn.functional as nn_func
import torch.utils.data
from torchsummary import summary
from torchvision import transforms, datasets

from colearn.training import initial_result, collective_learning_round, set_equal_weights
from colearn.utils.plot import plot_results, plot_votes
from colearn.utils.results import Results, print_results
from colearn_pytorch.utils import categorical_accuracy
from colearn_pytorch.pytorch_learner import PytorchLearner

# Constants of the experiment
n_learners = 5
batch_size = 64
n_rounds = int(os.environ.get("TUTORIAL_N_ROUNDS", 20))
vote_threshold = 0.5
learning_rate = 0.001
width = height = 28
n_classes = 10
vote_batches = 2
score_name = "categorical accuracy"
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# Step 1: load the data and give each learner its own part
DATA_DIR = os.environ.get("PYTORCH_DATA_DIR", os.path.expanduser(os.path.join("~", "pytorch_datasets")))
data = datasets.MNIST(DATA_DIR, transform=transforms.ToTensor(), download=True)
n_train = int(0.8 * len(data))
n_vote = int(0.1 * len(data))
train_data, vote_data, test_data = torch.utils.data.random_split(data, [n_train, n_vote, len(data) - n_train - n_vote])


def learner_dataloaders(dataset, shuffle):
    data_split = [len(dataset) // n_learners] * n_learners
    data_split[-1] += len(dataset) - sum(data_split)
    learner_data = torch.utils.data.random_split(dataset, data_split)
    return [torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle) for ds in learner_data]


learner_train_dataloaders = learner_dataloaders(train_data, shuffle=True)
learner_vote_dataloaders = learner_dataloaders(vote_data, shuffle=False)
learner_test_dataloaders = learner_dataloaders(test_data, shuffle=False)


# Step 2: the model, the same as in a standard PyTorch script
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, n_classes)

    def forward(self, x):
        x = nn_func.relu(self.conv1(x.view(-1, 1, height, width)))
        x = nn_func.max_pool2d(x, 2, 2)
        x = nn_func.relu(self.conv2(x))
        x = nn_func.max_pool2d(x, 2, 2)
        x = nn_func.relu(self.fc1(x.view(-1, 4 * 4 * 50)))
        return nn_func.log_softmax(self.fc2(x), dim=1)


# Step 3: one PytorchLearner per learner, all starting from the same weights
all_learner_models = []
for i in range(n_learners):
    model = Net().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    learner = PytorchLearner(
        model=model,
        train_loader=learner_train_dataloaders[i],
        vote_loader=learner_vote_dataloaders[i],
        test_loader=learner_test_dataloaders[i],
        device=device,
        optimizer=opt,
        criterion=torch.nn.NLLLoss(),
        num_test_batches=vote_batches,
        vote_criterion=categorical_accuracy,
        minimise_criterion=False,
    )
    all_learner_models.append(learner)

set_equal_weights(all_learner_models)
summary(all_learner_models[0].model, input_size=(width, height), device=str(device))

# Step 4: train with collective learning
results = Results()
results.data.append(initial_result(all_learner_models))

for round in range(n_rounds):
    results.data.append(
        collective_learning_round(all_learner_models, vote_threshold, round)
    )
    print_results(results)
    plot_results(results, n_learners, score_name=score_name)
    plot_votes(results)

plot_results(results, n_learners, score_name=score_name)
plot_votes(results, block=True)

print("final mean test accuracy:", sum(results.data[-1].test_scores) / n_learners)
