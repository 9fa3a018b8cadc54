"""torchvision where an environment has it (torch-current): its compiled ops run with this torch.

torchvision's release for torch 2.15 is not out; torch-current pairs torch 2.15.0 with torchvision 0.29.2,
the release for torch 2.14 (requirements/torch-current.in). A torchvision whose C++ ops were built for
another torch fails at the first compiled op ("operator torchvision::nms does not exist" or an undefined
symbol), not at import, so this runs one (nms) and a small conv net, on the best device and on the CPU.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not in this environment")
torchvision = pytest.importorskip("torchvision", reason="torchvision is not in this environment")

from checks.device import best_device  # noqa: E402


@pytest.mark.parametrize("where", ["best", "cpu"])
def test_compiled_ops_and_a_conv_net_run_with_this_torch(where):
    device = best_device() if where == "best" else torch.device("cpu")
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32, device=device
    )
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    kept = torchvision.ops.nms(boxes, scores, 0.5)
    assert kept.device.type == device.type and kept.tolist() == [0, 2]  # the second box overlaps the first

    net = torchvision.models.resnet18(num_classes=3).to(device).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 64, device=device))
    assert out.shape == (2, 3) and out.device.type == device.type and torch.isfinite(out).all()


def test_the_pair_is_the_locked_one():
    """The versions the .in explains: a torchvision release no older than its torch's minor - 1."""
    torch_minor = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    vision_minor = int(torchvision.__version__.split(".")[1])
    # torchvision 0.N pairs with torch 2.(N - 15): 0.29 <-> 2.14.
    assert torch_minor[1] - (vision_minor - 15) in (0, 1), (torch.__version__, torchvision.__version__)
