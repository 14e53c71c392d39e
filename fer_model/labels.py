"""The label set of FER-2013, in the dataset's own order (the `emotion` column's 0..6)."""

FER2013_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Kaggle CSV `Usage` values and the image-folder split names that map onto them.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
FOLDER_SPLITS: dict[str, str] = {
    "train": "Training",
    "training": "Training",
    "val": "PublicTest",
    "validation": "PublicTest",
    "publictest": "PublicTest",
    "test": "PrivateTest",
    "privatetest": "PrivateTest",
}
