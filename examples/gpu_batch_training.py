"""Train a timm classifier with the paper's recipe: stylise 33% of every batch on the GPU.

The task: which of the five bundled histology images (sources) does a crop come from? Training
crops and held-out crops are cut from different halves of each image. ``BatchStylize`` runs after
collation, on the device that trains, on a third of each batch; the styles are other samples of
the same batch (rolled, as in the paper), and ``domains=labels`` makes sure a crop is never
styled by a crop of its own source. ``StylizedLoader`` moves batches to the device and applies it.

Run:  python examples/gpu_batch_training.py --checkpoint tiny-camelyon17wilds
(the classifier needs timm: pip install ".[train]" or pip install timm; the library itself does not).
Without --checkpoint it uses the bundled default. Its defaults run on a CPU too (--device cpu is
the default without CUDA); on a GPU raise --epochs and --size. --quick: 8 crops per source, one
epoch, 32 px (a smoke run, on whichever device).
"""

from __future__ import annotations

import argparse
import time

import timm
import torch
import torch.nn.functional as F
from _common import (
    SOURCES,
    add_common_arguments,
    histology_image,
    setup_logging,
)

import stylizing_vit_aug as sva
from stylizing_vit_aug import BatchStylize
from stylizing_vit_aug.images import Normalization
from stylizing_vit_aug.transforms import StylizedLoader


def split_crops(size: int, per_source: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random uint8 crops of each source: train from the left half, test from the right half."""
    train, test, train_labels, test_labels = [], [], [], []
    for label, name in enumerate(SOURCES):
        image = histology_image(name)
        half = image.shape[2] // 2
        halves = ((image[:, :, :half], train, train_labels), (image[:, :, half:], test, test_labels))
        for part, images, labels in halves:
            _, height, width = part.shape
            side = min(size, height, width)
            tops = torch.randint(0, height - side + 1, (per_source,), generator=generator)
            lefts = torch.randint(0, width - side + 1, (per_source,), generator=generator)
            corners = zip(tops.tolist(), lefts.tolist())
            crops = torch.stack([part[:, top : top + side, left : left + side] for top, left in corners])
            resized = F.interpolate(crops.float(), size=(size, size), mode="bilinear", antialias=True)
            images.append(resized.round().byte())
            labels += [label] * per_source
    return torch.cat(train), torch.tensor(train_labels), torch.cat(test), torch.tensor(test_labels)


IMAGENET = Normalization.checked((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> the classifier's input (ImageNet statistics, as timm models expect)."""
    return IMAGENET.redo(images.float() / 255, torch.float32, "classifier input")


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    model.eval()
    batches = (images[i : i + 64].to(device) for i in range(0, len(images), 64))
    predictions = torch.cat([model(normalise(batch)).argmax(1).cpu() for batch in batches])
    model.train()
    return float((predictions == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--model", default="resnet18", help="timm classifier (random init; default resnet18)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=64, help="crop size in pixels (default 64)")
    parser.add_argument("--p", type=float, default=0.33, help="fraction stylised per batch (paper: 0.33)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    setup_logging()
    device = torch.device(args.device)
    torch.manual_seed(0)

    stylizer = sva.load_stylizer(args.checkpoint, device=device)
    augment = BatchStylize(stylizer, p=args.p, generator=torch.Generator().manual_seed(0))
    if args.quick:
        args.epochs, args.size = 1, 32
    per_source = 8 if args.quick else 40
    train_x, train_y, test_x, test_y = split_crops(args.size, per_source, torch.Generator().manual_seed(0))
    dataset = torch.utils.data.TensorDataset(train_x, train_y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True)
    # images -> device -> BatchStylize(images, domains=labels); labels stay as they are
    batches = StylizedLoader(loader, augment, device=device, image_key=0, domain_key=1)

    model = timm.create_model(args.model, pretrained=False, num_classes=len(SOURCES)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(batches))
    print(f"{args.model} on {len(train_x)} training crops ({len(SOURCES)} sources), {args.p:.0%} stylised per batch")
    start = time.perf_counter()
    for epoch in range(args.epochs):
        total, count = 0.0, 0
        for images, labels in batches:
            loss = F.cross_entropy(model(normalise(images)), labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {total / count:.3f}, "
            f"held-out accuracy {accuracy(model, test_x, test_y, device):.2%} ({time.perf_counter() - start:.1f} s)"
        )
    show = BatchStylize(stylizer, p=0.5, generator=torch.Generator().manual_seed(1))
    index = torch.arange(0, len(train_x), len(train_x) // 8)[:8]  # crops of several sources
    _, info = show(train_x[index].to(device), domains=train_y[index], return_info=True)
    changed = info.applied.nonzero().flatten().tolist()
    print(
        f"a batch of 8 (sources {train_y[index].tolist()}) at p=0.5: stylised rows {changed}, styled by "
        f"rows {info.style_index[info.applied].tolist()} (never of the same source)"
    )


if __name__ == "__main__":
    main()
