"""The panels of the main window, in tab order: (group, module, class).

Panels with the same group share one top-level tab with sub-tabs.
"""
from __future__ import annotations

import importlib

PANELS: list[tuple[str, str, str]] = [
    ("Build", "gui.panels.builder", "BuilderPanel"),
    ("Data", "gui.panels.data", "DataPanel"),
    ("Train", "gui.panels.training", "TrainingPanel"),
    ("Inside", "gui.panels.filters", "FiltersPanel"),
    ("Inside", "gui.panels.activations", "ActivationsPanel"),
    ("Inside", "gui.panels.top_patches", "TopPatchesPanel"),
    ("Inside", "gui.panels.layer_stats", "LayerStatsPanel"),
    ("Inside", "gui.panels.init_lab", "InitLabPanel"),
    ("Inside", "gui.panels.mistakes", "MistakesPanel"),
    ("Feature space", "gui.panels.feature_space", "FeatureSpacePanel"),
    ("ImageNet", "gui.panels.imagenet_predict", "ImageNetPredictPanel"),
    ("ImageNet", "gui.panels.saliency", "SaliencyPanel"),
    ("ImageNet", "gui.panels.adversarial", "AdversarialPanel"),
    ("ImageNet", "gui.panels.class_viz", "ClassVizPanel"),
    ("Dog vs Food", "gui.panels.dogfood", "DogFoodPanel"),
]


def panel_classes():
    """Import and return [(group, PanelClass)] in tab order."""
    out = []
    for group, module_name, class_name in PANELS:
        module = importlib.import_module(module_name)
        out.append((group, getattr(module, class_name)))
    return out
