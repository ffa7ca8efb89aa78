"""Fashion-MNIST from the Debian package `dataset-fashion-mnist` and the models' input layout.

Every model in this folder takes `image` [batch, 1, 28, 28] float32, pixels scaled to [0, 1]
then normalised with the training-set mean and std below (the recurrent models read the 28
rows of that same tensor as a 28-step sequence of 28-dim vectors).

    /usr/bin/python3 models/fmnist/data.py            # writes calib.npy (512 training images)
    /usr/bin/python3 models/fmnist/data.py --test     # + test_images.npy / test_labels.npy (10,000)
"""
import argparse
import gzip
import os
import sys

import numpy as np

DATA_DIR = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")
HERE = os.path.dirname(os.path.abspath(__file__))
MEAN = 0.2860   # training-set pixel mean of x / 255
STD = 0.3530    # training-set pixel std of x / 255
CALIB_SEED = 20261130
CALIB_COUNT = 512
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


def _read_idx(path):
    """IDX format (big-endian): magic 0x0000 08 NDIM, NDIM uint32 dims, uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} bytes for dims {dims.tolist()}")
    return data.reshape(dims)


def load_split(split):
    """('train' | 'test') -> (uint8 images [N, 28, 28], int64 labels [N])."""
    prefix = "train" if split == "train" else "t10k"
    images = os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz")
    labels = os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz")
    if not os.path.exists(images):
        sys.exit(f"{images} missing: apt-get install dataset-fashion-mnist (or set FMNIST_DIR)")
    return _read_idx(images), _read_idx(labels).astype(np.int64)


def normalize(images_u8):
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28], the models' input."""
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x[:, None, :, :], dtype=np.float32)


def calib_indices(n_train=60000):
    """The calibration subset: 512 training-image indices, a seeded uniform draw without replacement."""
    return np.sort(np.random.default_rng(CALIB_SEED).choice(n_train, CALIB_COUNT, replace=False))


def write_calib(out_dir=HERE):
    images, labels = load_split("train")
    idx = calib_indices(len(images))
    np.save(os.path.join(out_dir, "calib.npy"), normalize(images[idx]))
    np.save(os.path.join(out_dir, "calib_labels.npy"), labels[idx])
    return idx


def write_test(out_dir=HERE):
    images, labels = load_split("test")
    np.save(os.path.join(out_dir, "test_images.npy"), normalize(images))
    np.save(os.path.join(out_dir, "test_labels.npy"), labels)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--test", action="store_true", help="also write the full test set")
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    write_calib(args.out)
    print(f"wrote {args.out}/calib.npy [{CALIB_COUNT}, 1, 28, 28] and calib_labels.npy")
    if args.test:
        write_test(args.out)
        print(f"wrote {args.out}/test_images.npy [10000, 1, 28, 28] and test_labels.npy")


if __name__ == "__main__":
    main()
