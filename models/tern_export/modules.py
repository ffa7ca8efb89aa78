"""nn.Module wrappers around the tern ops, for use inside model definitions."""
import torch
from torch import nn

from .lmu_math import lmu_matrices
from .ops import lif, lmu


class LIF(nn.Module):
    """Multi-step leaky integrate-and-fire neuron (spikingjelly ``MultiStepLIFNode``).

    Defaults are spikingjelly's: tau=2, decay_input=True, v_threshold=1, hard reset to
    v_reset=0. ``time_axis`` names the axis of x that is time (spikingjelly puts time
    first; the tern op takes any axis, so callers need no transposes).
    """

    def __init__(self, tau=2.0, v_threshold=1.0, v_reset=0.0, soft_reset=False, time_axis=1):
        super().__init__()
        self.tau = float(tau)
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.soft_reset = bool(soft_reset)
        self.time_axis = int(time_axis)

    def forward(self, x, v0=None, return_state=False):
        return lif(x, v0, self.tau, self.v_threshold, self.v_reset, int(self.soft_reset),
                   self.time_axis, return_state)

    def extra_repr(self):
        return (f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                f"soft_reset={self.soft_reset}, time_axis={self.time_axis}")


class LMUMemory(nn.Module):
    """The LMU's linear time-invariant memory with the Legendre (A, B) of ``lmu_matrices``.

    u [b, L, c] -> m [b, L, c, order]; A and B are buffers (not trained).
    """

    def __init__(self, order, theta, dt=1.0):
        super().__init__()
        A, B = lmu_matrices(order, theta, dt)
        self.order = int(order)
        self.theta = float(theta)
        self.register_buffer("A", torch.from_numpy(A))
        self.register_buffer("B", torch.from_numpy(B))

    def forward(self, u, m0=None, return_state=False):
        return lmu(u, self.A, self.B, m0, return_state)

    def extra_repr(self):
        return f"order={self.order}, theta={self.theta}"
