"""From 1000 classes to a few: "dog vs food" and any other class groups.

Two ways to turn the pretrained 1000-class ImageNet classifier into an N-class
one (N = number of groups, usually 2):

1. Zero-shot remap (no training). Softmax the 1000 logits, add up the
   probabilities of each group's ImageNet classes (dogs 151-268, food
   924-969), renormalise the group sums so they add to one, predict the
   largest. Written out step by step in `softmax` and `remap_to_groups`.
2. Fine-tuned head. Replace the final 1000-way Linear layer with a new N-way
   one and train only that on an image folder (ImageFolder layout), with the
   backbone frozen. The backbone's features are computed once and cached, so
   training takes seconds on the CPU. Optionally the last block is unfrozen
   too (its input feature maps are cached instead).

Both are evaluated on a test folder whose sub-folders name the groups
(`dog`/`food`, `test-dog`/`test-food`, any case): per-group and overall
accuracy, confusion matrix, and every test image with its group scores so the
GUI can sort them by dog score and mark the mistakes.

Jobs (`zero_shot_job`, `finetune_job`) are generators of small events, like
the trainer's; the CLI and tests drain them with `engine.events.run_to_end`.

The package, one module per seam: groups (class groups and their files), remap (the
zero-shot remap, on a folder or one photo), evaluation (accuracy, confusion, the report),
features (a folder's features, cached), finetune (a new head), demo (offline demo folders).
"""

from __future__ import annotations

from .groups import (
    ClassGroup,
    ClassGroups,
    DEFAULT_GROUPS_FILE,
    GROUPS_DIR,
    MAX_CLASS_GROUPS,
    NUM_IMAGENET_CLASSES,
    ROOT,
    compact_ranges,
    group_files,
    load_groups,
)
from .remap import (
    GroupWinner,
    SingleImageRemap,
    bundled_photo_job,
    remap_single_image,
    remap_to_groups,
    single_image_job,
    softmax,
    zero_shot_job,
)
from .evaluation import DogFoodReport, Evaluation, evaluate_predictions, mark_tiles
from .features import (
    FolderFeatures,
    LastBlockTail,
    THUMBNAIL_SIZE,
    _FeatureCache,
    extract_folder_features,
    feature_cache,
    find_last_block,
    make_thumbnail,
)
from .finetune import FineTuneResult, TrainedHead, TransferBatchEnd, TransferEpochEnd, finetune_job, train_head
from .demo import cat_vs_vehicle_photos, make_demo_folder, photo_variants

__all__ = [
    "ClassGroup",
    "ClassGroups",
    "DEFAULT_GROUPS_FILE",
    "DogFoodReport",
    "Evaluation",
    "FineTuneResult",
    "FolderFeatures",
    "GROUPS_DIR",
    "GroupWinner",
    "LastBlockTail",
    "MAX_CLASS_GROUPS",
    "NUM_IMAGENET_CLASSES",
    "ROOT",
    "SingleImageRemap",
    "THUMBNAIL_SIZE",
    "TrainedHead",
    "TransferBatchEnd",
    "TransferEpochEnd",
    "_FeatureCache",
    "bundled_photo_job",
    "cat_vs_vehicle_photos",
    "compact_ranges",
    "evaluate_predictions",
    "extract_folder_features",
    "feature_cache",
    "find_last_block",
    "finetune_job",
    "group_files",
    "load_groups",
    "make_demo_folder",
    "make_thumbnail",
    "mark_tiles",
    "photo_variants",
    "remap_single_image",
    "remap_to_groups",
    "single_image_job",
    "softmax",
    "train_head",
    "zero_shot_job",
]
