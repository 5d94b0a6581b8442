"""The panels of the main window, in tab order: (group, title, module, class).

Panels with the same group share one top-level tab with sub-tabs. Modules are
imported only when the panel is created, so the window can show before torch
and the other heavy libraries are imported.
"""
from __future__ import annotations

import importlib

PANELS: list[tuple[str, str, str, str]] = [
    ("Build", "Network", "gui.panels.builder", "BuilderPanel"),
    ("Data", "Data", "gui.panels.data", "DataPanel"),
    ("Train", "Training", "gui.panels.training", "TrainingPanel"),
    ("Train", "Experiment", "gui.panels.experiment", "ExperimentPanel"),
    ("Inside", "Filters", "gui.panels.filters", "FiltersPanel"),
    ("Inside", "Activations", "gui.panels.activations", "ActivationsPanel"),
    ("Inside", "Top patches", "gui.panels.top_patches", "TopPatchesPanel"),
    ("Inside", "Layer statistics", "gui.panels.layer_stats", "LayerStatsPanel"),
    ("Inside", "Initialization lab", "gui.panels.init_lab", "InitLabPanel"),
    ("Inside", "Mistakes", "gui.panels.mistakes", "MistakesPanel"),
    ("Inside", "Diagram", "gui.panels.diagram", "DiagramPanel"),
    ("Feature space", "Feature space", "gui.panels.feature_space", "FeatureSpacePanel"),
    ("ImageNet", "Predict", "gui.panels.imagenet_predict", "ImageNetPredictPanel"),
    ("ImageNet", "Saliency", "gui.panels.saliency", "SaliencyPanel"),
    ("ImageNet", "Adversarial", "gui.panels.adversarial", "AdversarialPanel"),
    ("ImageNet", "Class visualization", "gui.panels.class_viz", "ClassVizPanel"),
    ("Dog vs Food", "Dog vs Food", "gui.panels.dogfood", "DogFoodPanel"),
]


def panel_class(module_name: str, class_name: str):
    return getattr(importlib.import_module(module_name), class_name)


def panel_classes():
    """Import and return [(group, PanelClass)] in tab order."""
    return [(group, panel_class(module, cls)) for group, _title, module, cls in PANELS]
