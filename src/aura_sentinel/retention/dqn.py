"""Double DQN for the retention policy, in the spirit of CleanRL's single-file DQN.

Read top to bottom: the Q-network, then `train_dqn` (its hyper-parameters are `DQNConfig`), one
loop that steps a batch of simulated customers, stores their transitions in a replay buffer, and
takes TD steps against a target network. The oracle never teaches: it only examines the result
(`evaluation.py`).

Rewards are divided by the customer's monthly charge before learning: the simulator is linear in
the charge, so the best action does not depend on it, and one scale suits every customer. The
network's Q-values are therefore in months of charge; multiply by the charge for money.

Training runs on one thread whatever the command's --threads: the network is small, so extra
threads buy little (and cost a lot on a busy machine), and with one thread every sum is taken in
the same order, so the same data and seed give the same weights to the bit on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from aura_sentinel.retention.config import DQNConfig
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.retention.state import MONTHLY_CHARGES, STATE_COLUMNS, StateMatrix
from aura_sentinel.threads import torch_threads

Progress = Callable[[float, str], None]


class QNetwork(nn.Module):
    """State (N x features, raw units: the nine, then any learned effects) -> Q-values (N x
    actions) in months of monthly charge.

    Inputs are normalised inside the module with statistics stored as buffers, so scoring needs
    no extra step. The head is duelling: a state value plus centred action advantages.
    """

    state_mean: torch.Tensor
    state_scale: torch.Tensor
    value_scale: torch.Tensor

    def __init__(self, actions: int, hidden: int, features: int = len(STATE_COLUMNS)) -> None:
        super().__init__()
        self.register_buffer("state_mean", torch.zeros(features))
        self.register_buffer("state_scale", torch.ones(features))
        self.register_buffer("value_scale", torch.ones(()))
        self.body = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.value = nn.Linear(hidden, 1)
        self.advantage = nn.Linear(hidden, actions)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        hidden: torch.Tensor = self.body((state - self.state_mean) / self.state_scale)
        value: torch.Tensor = self.value(hidden)
        advantage: torch.Tensor = self.advantage(hidden)
        q = value + advantage - advantage.mean(dim=1, keepdim=True)
        return q * self.value_scale


# Forward passes run over blocks of this many customers (the last one padded): the hidden
# activations of a block stay in cache (5x faster than one pass over a million rows), and every
# call has the same shape, so the matrix kernels, and with them each customer's Q-values to the
# last bit, do not depend on how many customers are scored together.
_ROW_BLOCK = 4096


def q_values(network: QNetwork, state: StateMatrix) -> npt.NDArray[np.float32]:
    """Q-values of every customer (N x actions), block by block of _ROW_BLOCK customers."""
    rows = state.shape[0]
    padded = np.zeros((rows + (-rows) % _ROW_BLOCK, state.shape[1]), dtype=np.float32)
    padded[:rows] = state
    with torch.inference_mode():
        q = torch.cat(
            [
                network(torch.from_numpy(padded[start : start + _ROW_BLOCK]))
                for start in range(0, padded.shape[0], _ROW_BLOCK)
            ]
        )
    values: npt.NDArray[np.float32] = q.numpy()[:rows]
    return values


def greedy_actions(
    network: QNetwork, state: StateMatrix, allowed: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """The network's best allowed action for every customer (see `q_values`)."""
    masked = np.where(allowed[None, :], q_values(network, state), -np.inf)
    best: npt.NDArray[np.int64] = masked.argmax(axis=1).astype(np.int64)
    return best


def train_dqn(
    simulator: Simulator,
    customers: StateMatrix,
    config: DQNConfig | None = None,
    progress: Progress | None = None,
) -> QNetwork:
    """Learn Q-values by double-DQN TD learning on transitions sampled from the simulator,
    on one thread (see the module's docstring)."""
    with torch_threads(1):
        return _train(simulator, customers, config or DQNConfig(), progress)


def _train(
    simulator: Simulator, customers: StateMatrix, config: DQNConfig, progress: Progress | None
) -> QNetwork:
    report = progress or (lambda fraction, message: None)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    actions = simulator.catalog.size
    allowed = np.flatnonzero(simulator.allowed)
    blocked = torch.from_numpy(~simulator.allowed)
    gamma = simulator.settings.discount
    features = customers.shape[1]

    network = QNetwork(actions, config.hidden, features)
    _fit_normalisation(network, simulator, customers, gamma)
    target = QNetwork(actions, config.hidden, features)
    target.load_state_dict(network.state_dict())
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.LinearLR(
        optimizer,
        start_factor=1.0,
        end_factor=config.final_learning_rate_share,
        total_iters=max(1, config.iterations - config.learning_starts),
    )
    buffer = _ReplayBuffer(config.buffer_size, features)

    state = _fresh_customers(simulator, customers, config.parallel_customers, rng)
    for iteration in range(config.iterations):
        epsilon = _epsilon(config, iteration)
        explore = rng.random(state.shape[0]) < epsilon
        with torch.no_grad():  # the few stepped customers in one pass (no block padding)
            q = network(torch.from_numpy(state)).masked_fill(blocked, -torch.inf)
            greedy = q.argmax(dim=1).numpy()
        chosen = np.where(explore, allowed[rng.integers(0, allowed.size, state.shape[0])], greedy)
        survival, expected_reward = simulator.current(state)
        next_state, _, churned = simulator.step(state, chosen, rng)
        charge = np.maximum(state[:, MONTHLY_CHARGES].astype(np.float64), 1e-6)
        rows = np.arange(state.shape[0])
        # Shaped reward (potential = lifetime value without action, constant per customer):
        # r + gamma * s * LTV - LTV. Potential-based shaping leaves the best actions unchanged.
        lifetime = simulator.lifetime_value(state)
        survived = survival[rows, chosen]
        shaped = expected_reward[rows, chosen] / charge - lifetime * (1.0 - gamma * survived)
        buffer.add(state, chosen, shaped, next_state, survived)

        restart = churned | (rng.random(state.shape[0]) < config.restart_probability)
        state = next_state
        if restart.any():
            state[restart] = _fresh_customers(simulator, customers, int(restart.sum()), rng)

        if iteration >= config.learning_starts:
            loss = _td_step(
                network, target, optimizer, buffer, config.batch_size, gamma, blocked, rng
            )
            schedule.step()
            if iteration % config.target_update_interval == 0:
                target.load_state_dict(network.state_dict())
            if iteration % 100 == 0:
                report(
                    iteration / config.iterations,
                    f"policy: iteration {iteration:,} of {config.iterations:,}, "
                    f"TD loss {loss:.2e}, epsilon {epsilon:.2f}",
                )
    report(1.0, "policy trained, examining it on held-out customers")
    return network


def _td_step(
    network: QNetwork,
    target: QNetwork,
    optimizer: torch.optim.Optimizer,
    buffer: _ReplayBuffer,
    batch_size: int,
    gamma: float,
    blocked: torch.Tensor,
    rng: np.random.Generator,
) -> float:
    state, action, reward, next_state, survival = buffer.sample(batch_size, rng)
    with torch.no_grad():
        # Double DQN: the online network picks the next (allowed) action, the target values it.
        next_q = network(next_state).masked_fill(blocked, -torch.inf)
        next_action = next_q.argmax(dim=1, keepdim=True)
        next_value = target(next_state).gather(1, next_action).squeeze(1)
        td_target = reward + gamma * survival * next_value
    predicted = network(state).gather(1, action.unsqueeze(1)).squeeze(1)
    scale = network.value_scale
    loss = nn.functional.smooth_l1_loss(predicted / scale, td_target / scale)
    optimizer.zero_grad()
    torch.autograd.backward(loss)  # the typed spelling of loss.backward()
    optimizer.step()
    return float(loss.detach())


def _fit_normalisation(
    network: QNetwork, simulator: Simulator, customers: StateMatrix, gamma: float
) -> None:
    """Input statistics over every reachable controllable state; output scale from the horizon."""
    grid = simulator.grid_size
    reachable = simulator.with_grid_state(
        np.repeat(customers, grid, axis=0), np.tile(np.arange(grid), customers.shape[0])
    ).astype(np.float64)
    mean = reachable.mean(axis=0)
    scale = reachable.std(axis=0)
    scale[scale < 1e-6] = 1.0
    network.state_mean.copy_(torch.from_numpy(mean).float())
    network.state_scale.copy_(torch.from_numpy(scale).float())
    network.value_scale.fill_(simulator.settings.margin)


def _fresh_customers(
    simulator: Simulator, customers: StateMatrix, count: int, rng: np.random.Generator
) -> StateMatrix:
    """Random training customers, each in a random controllable state."""
    picked = customers[rng.integers(0, customers.shape[0], count)]
    return simulator.with_grid_state(picked, rng.integers(0, simulator.grid_size, count))


def _epsilon(config: DQNConfig, iteration: int) -> float:
    decay = max(1, math.ceil(config.epsilon_decay_fraction * config.iterations))
    share = min(1.0, iteration / decay)
    return config.epsilon_start + share * (config.epsilon_end - config.epsilon_start)


class _ReplayBuffer:
    """A ring buffer of transitions packed in one tensor, so that a sample is a single gather.

    Each row holds the state, the next state, the action, the reward and the survival probability.
    """

    def __init__(self, capacity: int, features: int) -> None:
        self.capacity = capacity
        self.features = features
        self.rows = torch.zeros((capacity, 2 * features + 3))
        self.size = 0
        self.position = 0

    def add(
        self,
        state: StateMatrix,
        action: npt.NDArray[np.int64],
        reward: npt.NDArray[np.float64],
        next_state: StateMatrix,
        survival: npt.NDArray[np.float64],
    ) -> None:
        packed = np.column_stack([state, next_state, action, reward, survival]).astype(np.float32)
        rows = (self.position + np.arange(packed.shape[0])) % self.capacity
        self.rows[torch.from_numpy(rows)] = torch.from_numpy(packed)
        self.position = int((self.position + packed.shape[0]) % self.capacity)
        self.size = min(self.capacity, self.size + packed.shape[0])

    def sample(
        self, batch_size: int, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(state, action, reward, next state, survival) of `batch_size` random transitions."""
        batch = self.rows[torch.from_numpy(rng.integers(0, self.size, batch_size))]
        features = self.features
        return (
            batch[:, :features],
            batch[:, 2 * features].long(),
            batch[:, 2 * features + 1],
            batch[:, features : 2 * features],
            batch[:, 2 * features + 2],
        )
