"""DistributedDataParallel over fastconv ops: 2 CPU processes (gloo) train SmallCNN and end with the
parameters of single-process training on the same global batch."""

import importlib.util
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "torch_ddp_worker.py")


def _worker_module():
    spec = importlib.util.spec_from_file_location("torch_ddp_worker", WORKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
def test_ddp_two_processes_match_single_process(tmp_path):
    worker = _worker_module()
    world = 2
    # The store listens on a port the OS picks (0) and the workers connect to it: no port guessing.
    store = dist.TCPStore("127.0.0.1", 0, world + 1, is_master=True, wait_for_workers=False)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    if os.path.exists("/sys/class/net/lo"):  # gloo on loopback: no dependence on the hostname resolving
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    outs = [tmp_path / f"rank{r}.pt" for r in range(world)]
    procs = [subprocess.Popen([sys.executable, WORKER, str(r), str(world), str(store.port), str(outs[r])], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(world)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=120)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for r, p in enumerate(procs):
        assert p.returncode == 0, f"rank {r} failed:\n{logs[r]}"

    single = worker.train(worker.make_model())
    want = single.state_dict()
    for r in range(world):
        got = torch.load(outs[r])
        assert list(got) == list(want)
        for k in want:
            torch.testing.assert_close(got[k], want[k], rtol=1e-10, atol=1e-12, msg=lambda m: f"rank {r} {k}: {m}")
    # Training moved the weights: the comparison is not between two untouched initialisations.
    assert not torch.equal(want["conv1.weight"], worker.make_model().state_dict()["conv1.weight"])
