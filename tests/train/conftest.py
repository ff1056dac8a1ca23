from __future__ import annotations

import torch

# The test machines are shared; one thread keeps runs predictable and CPU results bitwise stable.
torch.set_num_threads(1)
