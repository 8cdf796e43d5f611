"""Every piece of text the lab page shows, in one place (so it can be translated as a whole)."""

from __future__ import annotations

from ..config import LIMITS

TITLE = "dropviz: a live dropout lab"
SUBTITLE = ("Two copies of the same network learn the same noisy points, side by side: "
            "one **without dropout (p = 0)** and one **with dropout**. Every chart comes from the "
            "real PyTorch training that is running right now.")

# Widget labels; tests and people find the controls by these exact words.
LABELS = {
    "preset": "Preset",
    "p": "Drop probability p",
    "width": "Hidden width",
    "epochs": "Epochs",
    "depth": "Depth (hidden layers)",
    "lr": "Learning rate",
    "optimizer": "Optimizer",
    "weight_decay": "Weight decay (L2)",
    "n_points": "Training points",
    "noise": "Noise",
    "dataset": "Dataset",
    "seed": "Seed",
    "variant": "Dropout variant",
    "device": "Device",
    "snapshot_every": "Speed (iterations per frame)",
    "mc_samples": "MC-dropout samples",
}

# One-line help per control: the config's own meaning, with p's made impossible to misread.
HELP = {name: limit.help[0].upper() + limit.help[1:] + "." for name, limit in LIMITS.items()}
HELP["p"] = ("p is the probability of DROPPING each hidden unit in a training step "
             "(not the probability of keeping it). p = 0 means no dropout.")
HELP["epochs"] = "Training iterations. Each one is a full-batch step on all training points."
HELP["snapshot_every"] = "How many training iterations pass between two frames of the charts (5 frames per second)."
HELP["mc_samples"] = ("Draw this many dropout masks at test time and show the spread of the predictions "
                      "(Monte Carlo dropout); 0 hides the band.")

PRESETS = {"Source demo": "source", "Classroom": "classroom", "Custom": None}
PRESET_HELP = ("Source demo: the original demo's exact settings (10 points, noise 0.5). "
               "Classroom: twice the noise, where dropout clearly wins on fresh test points.")

BUTTONS = {"train": "Train", "pause": "Pause", "step": "Step", "reset": "Reset"}
BUTTON_HELP = {
    "train": "Start or continue training.",
    "pause": "Stop here. Your view leaves the shared run; nobody else is affected.",
    "step": "Run exactly one training iteration, then pause.",
    "reset": "Back to iteration 0 with fresh weights; press Train to start.",
}

EXPLAIN_TITLE = "How dropout works"
EXPLAIN_BODY = r"""
In every training step each hidden unit is **dropped** (set to 0) with probability $p$ and kept
with probability $1-p$. The kept ones are scaled up so the expected value stays the same
(*inverted dropout*, as in PyTorch):
$$
m \sim \mathrm{Bernoulli}(1-p), \qquad y = \frac{m \odot x}{1-p}.
$$
Each step trains a different random **sub-network**, so no unit can rely on particular others.
At test time (`model.eval()`) dropout is switched **off** and the whole network is used: the
scaling during training already made its outputs match the average sub-network.
The masks chart shows the $m$ that were just drawn, one column per training point.
"""
