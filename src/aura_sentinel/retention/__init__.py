"""The action side: action catalog, customer state, retention simulator, exact optimum, DQN."""
