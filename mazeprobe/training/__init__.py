"""Training a maze network of our own: the config, data collection (in process or in collector
processes), the DAgger imitation trainer, evaluation on training-distribution and test mazes, and the
model card.

It sits beside `mazeprobe.experiments` above the agents: it uses the rollout engine (`mazeprobe.sim`) to
play mazes and the IMPALA network (`mazeprobe.agents.impala`) it trains; nothing below imports it.

    config = load_config("analysis/train-r5.yaml")
    result = train(config, "models/mine.pth")
    write_card("models/mine.pth", evaluate("models/mine.pth", n=500))
"""

from mazeprobe.training.card import write_card
from mazeprobe.training.config import TrainConfig, card_path, load_config, state_path, training_record_path
from mazeprobe.training.evaluate import EVAL_SEED, evaluate, play_episodes, suites
from mazeprobe.training.trainer import TrainResult, train

__all__ = [
    "EVAL_SEED",
    "TrainConfig",
    "TrainResult",
    "card_path",
    "evaluate",
    "load_config",
    "play_episodes",
    "state_path",
    "suites",
    "train",
    "training_record_path",
    "write_card",
]
