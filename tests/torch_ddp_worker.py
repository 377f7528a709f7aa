"""One rank of the DistributedDataParallel test: ``python torch_ddp_worker.py RANK WORLD PORT OUT``.

Trains SmallCNN (fastconv modules) on its share of a fixed global batch with the gloo backend, the
store served by the test process on PORT, and saves the final parameters to OUT.
"""

import sys

import torch

STEPS = 3
GLOBAL_BATCH = 8


def make_model():
    import fastconv.torch as fct
    from fastconv.testing.torch_models import SmallCNN

    torch.manual_seed(0)
    return SmallCNN(fct.Conv2d, fct.MaxPool2d, fct.AvgPool2d).double()


def batches():
    g = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        yield (torch.randn(GLOBAL_BATCH, 3, 8, 8, generator=g, dtype=torch.float64),
               torch.randint(0, 4, (GLOBAL_BATCH,), generator=g))


def train(model, rank=0, world=1):
    """SGD on the mean loss over each rank's slice of the global batch (DDP averages the gradients)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    share = GLOBAL_BATCH // world
    for x, target in batches():
        sl = slice(rank * share, (rank + 1) * share)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[sl]), target[sl]).backward()
        opt.step()
    return model


def main(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import fastconv as fc

    torch.set_num_threads(1)
    fc.set_num_threads(1)
    store = dist.TCPStore("127.0.0.1", port, world, is_master=False, timeout=__import__("datetime").timedelta(seconds=60))
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world)
    try:
        model = DistributedDataParallel(make_model())
        train(model, rank, world)
        torch.save({k: v.detach() for k, v in model.module.state_dict().items()}, out)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
