"""vireid-repro: faithful, tested reproductions of visible-infrared person re-identification papers."""

from reid.compat import import_torchvision

# Importing torchvision here, through the shim, means `import reid` leaves a working
# torchvision behind for every later `import torchvision` in the same process.
import_torchvision()

__version__ = "0.1.0"
